package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInputIsAClearErrorAndExit2 runs every command with bad flag values
// and paths: each exits 2 with a message that names the flag or path and
// says what to give instead, never panics, never starts a run, and leaves a
// stored run exactly as it was.
func TestBadInputIsAClearErrorAndExit2(t *testing.T) {
	store := filepath.Join(t.TempDir(), "store")
	code, stdout, stderr := chaos(t, "run", "snowflake", "--snowflake-mode", "monotonic", "--time-limit", "300ms", "--store", store, "-q")
	if code != 0 {
		t.Fatalf("the stored run: exit %d, %s %s", code, stdout, stderr)
	}
	run, err := filepath.EvalSymlinks(filepath.Join(store, "snowflake", "latest"))
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, store)
	empty := t.TempDir()
	file := filepath.Join(empty, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(empty, "missing")
	for _, tc := range []struct {
		args []string
		want []string // every one in stderr
	}{
		// clean
		{[]string{"clean", "--store", ""}, []string{"unknown flag: --store", "chaos clean --help"}},
		{[]string{"clean", "--run", ""}, []string{`--run ""`, "<target>/<timestamp>"}},
		{[]string{"clean", "--run", "snowflake"}, []string{`--run "snowflake"`, "not a run id"}},
		{[]string{"clean", "--run", "snowflake/a/b", "--dry-run"}, []string{"not a run id"}},
		{[]string{"clean", "--run", " snowflake/x"}, []string{"not a run id"}},
		{[]string{"clean", "extra"}, []string{"unknown command", "extra"}},
		// check
		{[]string{"check", ""}, []string{"path is empty", "store/<target>/latest"}},
		{[]string{"check", missing}, []string{missing, "does not exist", "store/<target>/latest"}},
		{[]string{"check", empty}, []string{empty, "holds no history.jsonl"}},
		{[]string{"check", run, "--check-timeout", "0"}, []string{"--check-timeout 0s", "must be positive"}},
		{[]string{"check", run, "--check-timeout", "-1s"}, []string{"--check-timeout -1s", "must be positive"}},
		{[]string{"check", run, "--max-record-size", "0"}, []string{"--max-record-size", "must be positive"}},
		{[]string{"check", run, "--check-memory", "0"}, []string{"--check-memory", "positive size"}},
		{[]string{"check", run, "--check-memory", "1e-9B"}, []string{"--check-memory", "positive size"}},
		{[]string{"check", run, "-o", "xml"}, []string{"xml"}},
		{[]string{"check"}, []string{"accepts 1 arg"}},
		{[]string{"check", "--format", "jepsen-edn", ""}, []string{"path is empty"}},
		{[]string{"check", "--format", "jepsen-edn", missing}, []string{missing, "does not exist"}},
		{[]string{"check", "--format", "jepsen-edn", run}, []string{"is a directory", "history file itself"}},
		{[]string{"check", "--format", "nope", run}, []string{`--format "nope"`}},
		// report
		{[]string{"report", ""}, []string{"empty", "store/<target>/latest"}},
		{[]string{"report", missing}, []string{missing, "does not exist"}},
		{[]string{"report", run, "--bogus"}, []string{"unknown flag: --bogus", "chaos report --help"}},
		// serve
		{[]string{"serve", "--store", ""}, []string{`--store ""`, "must name a directory"}},
		{[]string{"serve", "--store", missing, "--addr", "127.0.0.1:0"}, []string{missing, "chaos run --store"}},
		{[]string{"serve", "--store", store, "--addr", ""}, []string{`--addr ""`, "host:port"}},
		{[]string{"serve", "--store", store, "--addr", "nonsense"}, []string{`--addr "nonsense"`, "host:port"}},
		// run
		{[]string{"run"}, []string{"run wants one target", "snowflake"}},
		{[]string{"run", "nope"}, []string{`unknown target "nope"`, "chaos list"}},
		{[]string{"run", "snowflake", "--store", store, "--time-limit", "0"}, []string{"--time-limit 0s", "must be positive"}},
		{[]string{"run", "snowflake", "--store", store, "--time-limit", "-1s"}, []string{"--time-limit -1s", "must be positive"}},
		{[]string{"run", "snowflake", "--store", store, "--time-limit", "ten"}, []string{"--time-limit", "ten"}},
		{[]string{"run", "snowflake", "--store", store, "--concurrency", "0"}, []string{"--concurrency 0", "between 1 and"}},
		{[]string{"run", "snowflake", "--store", store, "--nodes", "0"}, []string{"--nodes 0", "between 1 and"}},
		{[]string{"run", "snowflake", "--store", store, "--rate", "-1"}, []string{"--rate -1"}},
		{[]string{"run", "snowflake", "--store", store, "--nemesis-interval", "0"}, []string{"--nemesis-interval 0s", "must be positive"}},
		{[]string{"run", "snowflake", "--store", store, "--op-timeout", "0"}, []string{"--op-timeout 0s", "must be positive"}},
		{[]string{"run", "snowflake", "--store", store, "--check-timeout", "0"}, []string{"--check-timeout 0s", "must be positive"}},
		{[]string{"run", "snowflake", "--store", store, "--check-memory", "0"}, []string{"--check-memory", "positive size"}},
		{[]string{"run", "snowflake", "--store", store, "--test-count", "0"}, []string{"--test-count 0", "at least 1"}},
		{[]string{"run", "snowflake", "--store", ""}, []string{`--store ""`, "must name a directory"}},
		{[]string{"run", "snowflake", "--store", file}, []string{file, "not a directory"}},
		{[]string{"run", "snowflake", "--store", store, "--system", ""}, []string{`--system ""`, "system file"}},
		{[]string{"run", "--store", store, "--system", missing}, []string{missing}},
		{[]string{"run", "snowflake", "--store", store, "--runtime", ""}, []string{`--runtime ""`, "unknown runtime", "local"}},
		{[]string{"run", "snowflake", "--store", store, "--workload", "nope"}, []string{"--workload nope", "ids"}},
		{[]string{"run", "snowflake", "--store", store, "--nemesis", "nope"}, []string{"nope"}},
		{[]string{"run", "snowflake", "--store", store, "-o", "xml"}, []string{"xml"}},
		// repro
		{[]string{"repro", "nope"}, []string{`unknown scenario "nope"`}},
		{[]string{"repro", "snowflake-clock-rollback", "--runs", "0", "--store", store}, []string{"--runs 0", "at least 1"}},
		{[]string{"repro", "snowflake-clock-rollback", "--store", ""}, []string{`--store ""`, "must name a directory"}},
		{[]string{"repro", "snowflake-clock-rollback", "--store", store, "--runtime", ""}, []string{`--runtime ""`, "unknown runtime"}},
		// matrix
		{[]string{"matrix", "nope"}, []string{"matrix wants one of locks, ids"}},
		{[]string{"matrix", "locks", "--store", ""}, []string{`--store ""`, "must name a directory"}},
		{[]string{"matrix", "locks", "--store", store, "--parallel", "0"}, []string{"--parallel 0"}},
		{[]string{"matrix", "locks", "--store", store, "--cell-time", "0"}, []string{"--cell-time 0s", "must be positive"}},
		{[]string{"matrix", "locks", "--store", store, "--rows", "nope"}, []string{"--rows", `no row "nope"`}},
		{[]string{"matrix", "locks", "--store", store, "--faults", "nope"}, []string{"--faults", `unknown fault "nope"`}},
		{[]string{"matrix", "locks", "--store", store, "--runtime", "nope"}, []string{"--runtime", "nope"}},
		// list, sim, node
		{[]string{"list", "nope"}, []string{`"nope" is no target`, "chaos list"}},
		{[]string{"sim", "nope"}, []string{"chaos sim gossip"}},
		{[]string{"sim", "gossip", "--nodes", "0"}, []string{"--nodes 0"}},
		{[]string{"sim", "gossip", "--trials", "0"}, []string{"--trials"}},
		{[]string{"nope"}, []string{`unknown command "nope"`}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := chaos(t, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stdout %q, stderr %q", code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
			if strings.Contains(stderr+stdout, "panic") || strings.Contains(stderr+stdout, "goroutine ") {
				t.Errorf("panicked: %s %s", stdout, stderr)
			}
			if !strings.HasPrefix(stderr, "chaos") || strings.Count(strings.TrimSpace(stderr), "\n") > 5 {
				t.Errorf("not a short error of chaos: %q", stderr)
			}
		})
	}
	if after := snapshot(t, store); !equalSnapshots(before, after) {
		t.Errorf("bad input changed the store:\nbefore %v\nafter  %v", before, after)
	}
}

// snapshot maps every file and link under dir to a hash of its content or
// target.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			out[rel] = "-> " + l
			return err
		case d.IsDir():
			out[rel] = "dir"
		default:
			b, err := os.ReadFile(p)
			sum := sha256.Sum256(b)
			out[rel] = hex.EncodeToString(sum[:8])
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equalSnapshots(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
