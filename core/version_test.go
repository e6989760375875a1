package core

import (
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionsFrom(t *testing.T) {
	stamped := &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "3f2a9c1e"}, {Key: "vcs.modified", Value: "false"}}}
	dirty := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "3f2a9c1e"}, {Key: "vcs.modified", Value: "true"}}}
	workspace := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
	for _, tc := range []struct {
		name            string
		bi              *debug.BuildInfo
		linkV, linkC    string
		version, commit string
		printed         string
	}{
		{"release build", stamped, "", "", "v0.4.0", "3f2a9c1e", "v0.4.0, commit 3f2a9c1e (go linux/amd64)"},
		{"modified work tree", dirty, "", "", "(devel)", "3f2a9c1e-dirty", "(devel), commit 3f2a9c1e-dirty (go linux/amd64)"},
		{"workspace build", workspace, "", "", "(devel)", "", "(devel) (go linux/amd64)"},
		{"no build info", nil, "", "", "(devel)", "", "(devel) (go linux/amd64)"},
		{"link-time commit", workspace, "", "abc123", "(devel)", "abc123", "(devel), commit abc123 (go linux/amd64)"},
		{"link-time version and commit win", stamped, "v0.5.0-rc1", "abc123", "v0.5.0-rc1", "abc123", "v0.5.0-rc1, commit abc123 (go linux/amd64)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := versionsFrom(tc.bi, tc.linkV, tc.linkC)
			if v.Chaos != tc.version || v.Commit != tc.commit {
				t.Fatalf("version %q commit %q, want %q %q", v.Chaos, v.Commit, tc.version, tc.commit)
			}
			v.Go, v.OS = "go", "linux/amd64"
			if got := v.String(); got != tc.printed {
				t.Errorf("String() = %q, want %q", got, tc.printed)
			}
		})
	}
}

func TestBuildVersionsNamesTheToolchain(t *testing.T) {
	v := BuildVersions()
	if v.Chaos == "" || !strings.HasPrefix(v.Go, "go") || !strings.Contains(v.OS, "/") {
		t.Fatalf("BuildVersions() = %+v", v)
	}
}

// TestLinkTimeVersion builds a program with the -ldflags line of the README
// and checks that the version and commit it names are the ones printed.
func TestLinkTimeVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "version")
	ldflags := "-X github.com/chaostest/chaos/core.linkVersion=v9.9.9 -X github.com/chaostest/chaos/core.linkCommit=0123abcd"
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, "./testdata/version").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); !strings.HasPrefix(got, "v9.9.9, commit 0123abcd (go") {
		t.Fatalf("printed %q", got)
	}
}
