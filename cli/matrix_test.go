package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMatrixCommand(t *testing.T) {
	store := t.TempDir()
	page := filepath.Join(store, "out", "ids.html")
	code, stdout, stderr := chaos(t, "matrix", "ids", "--rows", "snowflake-naive", "--faults", "none,partition",
		"--cell-time", "1s", "--store", store, "-o", page)
	if code != exitValid {
		t.Fatalf("exit %d, want 0\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "| snowflake-naive | valid | n/a |") {
		t.Errorf("stdout lacks the table row:\n%s", stdout)
	}
	for _, f := range []string{page, filepath.Join(store, "out", "ids.md"), filepath.Join(store, "out", "ids.json")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%v", err)
		}
	}
	if !strings.Contains(stderr, "snowflake-naive × none on local: VALID") {
		t.Errorf("stderr lacks the cell's line:\n%s", stderr)
	}
}

func TestMatrixBadInputExitsTwo(t *testing.T) {
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"no matrix":      {"matrix"},
		"unknown matrix": {"matrix", "queues"},
		"unknown row":    {"matrix", "ids", "--rows", "nope", "--store", dir},
		"unknown fault":  {"matrix", "ids", "--faults", "flood", "--store", dir},
		"bad runtime":    {"matrix", "ids", "--runtime", "cloud", "--store", dir},
		"no docker":      {"matrix", "ids", "--runtime", "both", "--store", dir},
		"bad cell time":  {"matrix", "ids", "--cell-time", "0s", "--store", dir},
		"bad parallel":   {"matrix", "ids", "--parallel", "0", "--store", dir},
	} {
		code, _, stderr := chaos(t, args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != exitOther || len(lines) != 1 || !strings.HasPrefix(lines[0], "chaos: ") {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and one line", name, code, stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("bad input left %d entries in the store", len(entries))
	}
}
