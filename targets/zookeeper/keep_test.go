package zookeeper_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// keepEnv, when set, keeps the run directories of passing tests too.
const keepEnv = "CHAOS_TEST_KEEP"

// logTail is how many lines of each server's log a failed test prints.
const logTail = 40

// keptDir is a run directory for the test that outlives a failure: a passing
// test removes it, a failing one keeps it, says where, and prints the tail of
// every node's log in it (a server that never joined its ensemble is
// diagnosed from its own log and its peers').
func keptDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "chaos-zookeeper-test-")
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs after every teardown the test adds.
	t.Cleanup(func() {
		if !t.Failed() {
			if os.Getenv(keepEnv) != "" {
				t.Logf("run directory kept in %s (%s is set)", dir, keepEnv)
				return
			}
			_ = os.RemoveAll(dir)
			return
		}
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".log") || filepath.Base(filepath.Dir(p)) != "nodes" {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			if len(lines) > logTail {
				lines = lines[len(lines)-logTail:]
			}
			t.Logf("last %d lines of %s:\n  %s", len(lines), p, strings.Join(lines, "\n  "))
			return nil
		})
		t.Logf("run directory kept in %s", dir)
	})
	return dir
}
