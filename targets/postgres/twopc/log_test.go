package twopc

import (
	"os"
	"path/filepath"
	"testing"
)

// A decision whose line was torn by a crash was never acted on: it is not
// read back, and the next decision starts a line of its own.
func TestDecisionLogTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decisions.log")
	if err := os.WriteFile(path, []byte("commit chaos-7\ncommit chaos-1"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := openDecisionLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if !l.committed("chaos-7") || l.committed("chaos-1") {
		t.Fatalf("read back %v", l.done)
	}
	if err := l.commit("chaos-12"); err != nil {
		t.Fatal(err)
	}
	l.close()
	l, err = openDecisionLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	if !l.committed("chaos-7") || !l.committed("chaos-12") || l.committed("chaos-1") || l.committed("chaos-1commit chaos-12") {
		t.Fatalf("after a restart %v", l.done)
	}
}

func TestCoordFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--log", "sometimes", "--participants", "n2=127.0.0.1:1"},
		{"--participants", "n2"},
		{"--participants", "n2=127.0.0.1:1", "--control", "10.0.0.1:5"},
		{"--participants", "n2=127.0.0.1:1", "--accounts", "0"},
	} {
		if _, err := parseCoordFlags(args); err == nil {
			t.Fatalf("%v accepted", args)
		}
	}
	f, err := parseCoordFlags([]string{"--participants", "n3=127.0.0.1:2,n2=127.0.0.1:1", "--log", "none"})
	if err != nil || len(f.participants) != 2 || f.logMode != LogNone {
		t.Fatalf("%+v %v", f, err)
	}
}
