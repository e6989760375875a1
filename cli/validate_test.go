package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestZeroAndNonsenseFlagsAreRefused: a flag given as zero (or negative,
// NaN, infinite, too small to fit the clock) is an error naming the flag,
// never silently the default, and nothing is started or written.
func TestZeroAndNonsenseFlagsAreRefused(t *testing.T) {
	for _, c := range []struct{ flag, value string }{
		{"--nodes", "0"}, {"--concurrency", "0"}, {"--time-limit", "0s"}, {"--nemesis-interval", "0s"},
		{"--op-timeout", "0s"}, {"--check-timeout", "0s"}, {"--store", ""}, {"--store", " "},
		{"--time-limit", "-1s"}, {"--op-timeout", "-1ms"}, {"--check-timeout", "-1s"}, {"--nemesis-interval", "-2s"},
		{"--nodes", "-3"}, {"--concurrency", "-1"},
		{"--rate", "1e-12"}, {"--rate", "NaN"}, {"--rate", "Inf"}, {"--rate", "-Inf"}, {"--rate", "-1"},
		{"--ids-time-tolerance", "-1s"},
	} {
		store := filepath.Join(t.TempDir(), "store")
		args := []string{"run", "snowflake", "--time-limit", "1s", "--store", store, c.flag, c.value}
		code, stdout, stderr := chaos(t, args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != exitOther || len(lines) != 1 || !strings.Contains(lines[0], c.flag+" ") {
			t.Errorf("%s %q: exit %d, stderr %q, stdout %q; want exit 2 and one line naming %s", c.flag, c.value, code, stderr, stdout, c.flag)
			continue
		}
		if _, err := os.Stat(store); err == nil {
			t.Errorf("%s %q: the store was created for a refused run", c.flag, c.value)
		}
	}
	for _, args := range [][]string{
		{"check", "--check-timeout", "0s", "nothing"},
		{"check", "--check-timeout", "-1s", "nothing"},
		{"repro", "snowflake-clock-rollback", "--store", ""},
		{"serve", "--store", ""},
	} {
		code, _, stderr := chaos(t, args...)
		if code != exitOther || !strings.Contains(stderr, args[len(args)-2]) && !strings.Contains(stderr, "--store") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming the flag", args, code, stderr)
		}
	}
}

// TestLatestDirectoryIsRefusedBeforeTheRun: a store whose latest is not the
// harness's link stops the run before it starts, in one line.
func TestLatestDirectoryIsRefusedBeforeTheRun(t *testing.T) {
	store := t.TempDir()
	if err := os.MkdirAll(filepath.Join(store, "snowflake", "latest"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := chaos(t, "run", "snowflake", "--time-limit", "1s", "--store", store)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != exitOther || len(lines) != 1 || !strings.Contains(stderr, "latest is a directory") {
		t.Fatalf("exit %d, stderr %q; want exit 2 and one line about latest", code, stderr)
	}
	entries, _ := os.ReadDir(filepath.Join(store, "snowflake"))
	if len(entries) != 1 {
		t.Errorf("the store holds %d entries; a refused run must create no run directory", len(entries))
	}
}
