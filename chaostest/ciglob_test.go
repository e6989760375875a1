package chaostest_test

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/core"
)

// actionsGlob lists the files under root that pattern matches the way
// GitHub Actions' glob does (@actions/glob, which the JUnit report actions
// use): "**" matches any number of directories, other segments match as in
// path.Match, and symbolic links to directories are followed.
func actionsGlob(t *testing.T, root, pattern string) []string {
	t.Helper()
	segs := strings.Split(pattern, "/")
	var out []string
	var walk func(dir string, rel []string, seen map[string]bool)
	walk = func(dir string, rel []string, seen map[string]bool) {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil || seen[real] {
			return
		}
		seen = copySet(seen)
		seen[real] = true
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			r := append(append([]string(nil), rel...), e.Name())
			st, err := os.Stat(p) // follows links
			if err != nil {
				continue
			}
			if st.IsDir() {
				walk(p, r, seen)
			} else if match(segs, r) {
				out = append(out, strings.Join(r, "/"))
			}
		}
	}
	walk(root, nil, map[string]bool{})
	return out
}

func copySet(m map[string]bool) map[string]bool {
	c := make(map[string]bool, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func match(pat, name []string) bool {
	if len(pat) == 0 {
		return len(name) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(name); i++ {
			if match(pat[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	ok, err := path.Match(pat[0], name[0])
	return err == nil && ok && match(pat[1:], name[1:])
}

// TestCIExampleCountsEachRunOnce: the GitHub Actions example's report glob
// finds each run's junit.xml once, not again through the target's latest
// link.
func TestCIExampleCountsEachRunOnce(t *testing.T) {
	root := t.TempDir()
	store := filepath.Join(root, "chaos-runs")
	now := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	runs := 0
	for _, target := range []string{"snowflake", "my-ids"} {
		for i := 0; i < 2; i++ {
			dir, err := core.NewRunDir(store, target, now) // the second gets a -1 suffix
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "junit.xml"), []byte("<testsuites/>"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := core.LinkLatest(store, target, dir); err != nil {
				t.Fatal(err)
			}
			runs++
		}
	}
	if n := len(actionsGlob(t, root, "chaos-runs/**/junit.xml")); n != runs+2 {
		t.Fatalf("the walker does not follow latest like Actions does: %d files for %d runs", n, runs)
	}
	for _, doc := range []string{"../docs/examples/chaos-tests.yml", "../docs/reports.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`report_paths:\s*(\S+)`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s has no report_paths", doc)
		}
		got := actionsGlob(t, root, string(m[1]))
		if len(got) != runs {
			t.Errorf("%s: report_paths %s matches %d files for %d runs: %v", doc, m[1], len(got), runs, got)
		}
		for _, g := range got {
			if strings.Contains(g, core.LatestLink) {
				t.Errorf("%s: matched through the latest link: %s", doc, g)
			}
		}
	}
}
