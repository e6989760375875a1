package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
)

// TestFaultsReachChildrenInTheirOwnSession: a node whose child moved into a
// session of its own (as PostgreSQL's backends do) has that child paused,
// resumed and killed with it.
func TestFaultsReachChildrenInTheirOwnSession(t *testing.T) {
	if _, err := os.Stat("/usr/bin/setsid"); err != nil {
		t.Fatalf("setsid (util-linux) is needed: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	ready := func(ctx context.Context, addr func(string) (string, error)) error {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			return nil
		}
		return context.DeadlineExceeded
	}
	specs := []core.NodeSpec{{Name: "n1", Program: "sh", Ready: ready,
		Args: func(core.NodeEnv) []string {
			return []string{"-c", "setsid sleep 600 & echo $! > " + pidFile + "; wait"}
		}}}
	rt, err := local.New(local.WithStartTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Teardown(context.Background())
	if err := rt.Setup(ctx, dir, specs); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(pidFile)
	child, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("child pid %q: %v", b, err)
	}
	// setsid forks when it is a group leader; wait until the child runs
	// in its own session.
	deadline := time.Now().Add(time.Minute)
	for {
		sid := session(child)
		if sid == child {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d never got its own session (sid %d)", child, sid)
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := rt.Pause(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if s := state(t, child); s != 'T' && s != 't' {
		t.Fatalf("child in its own session is in state %c after pause, want stopped", s)
	}
	if err := rt.Resume(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if s := state(t, child); s == 'T' || s == 't' {
		t.Fatalf("child still stopped after resume")
	}
	if err := rt.Kill(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if s := state(t, child); s != 0 && s != 'Z' && s != 'X' {
		t.Fatalf("child alive (state %c) after kill", s)
	}
}

// state is the process's state letter, 0 when it is gone.
func state(t *testing.T, pid int) byte {
	t.Helper()
	s, _, ok := local.ProcStat(pid)
	if !ok {
		return 0
	}
	return s
}

// session is the process's session id from /proc, -1 when it is gone.
func session(pid int) int {
	_, sid, ok := local.ProcStat(pid)
	if !ok {
		return -1
	}
	return sid
}
