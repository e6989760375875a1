package local

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chaostest/chaos/core"
)

const libfaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

func needFaketime(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(libfaketime); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("libfaketime is missing in CI (.ci/setup.d/redis.sh installs it): %v", err)
		}
		t.Skipf("SKIPPING: no libfaketime (%v); CI never skips this", err)
	}
}

func shmFiles(pid int) []string {
	var out []string
	for _, f := range []string{faketimeShm, faketimeSem} {
		p := filepath.Join(shmDir, fmt.Sprintf(f, pid))
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// A faketime node killed with SIGKILL cannot remove libfaketime's
// shared-memory files; the runtime removes them once it has reaped the
// node, and a teardown leaves none either.
func TestFaketimeFilesRemovedAfterKill(t *testing.T) {
	needFaketime(t)
	r, err := New(WithLinkLayer(nil))
	if err != nil {
		t.Fatal(err)
	}
	spec := core.NodeSpec{Name: "n1", Program: "sleep", Clock: core.ClockFaketime,
		Args: func(core.NodeEnv) []string { return []string{"600"} },
		Env:  []string{"LD_PRELOAD=" + libfaketime}}
	ctx := context.Background()
	if err := r.Setup(ctx, t.TempDir(), []core.NodeSpec{spec}); err != nil {
		t.Fatal(err)
	}
	defer r.Teardown(ctx)
	for round := 0; round < 2; round++ {
		if err := r.Start(ctx, "n1"); err != nil {
			t.Fatal(err)
		}
		r.mu.Lock()
		pid := r.nodes["n1"].cmd.Process.Pid
		r.mu.Unlock()
		// libfaketime makes its files as the program starts.
		deadline := time.Now().Add(time.Minute)
		for len(shmFiles(pid)) < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("libfaketime made no shared-memory files for pid %d", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if round == 0 {
			if err := r.Kill(ctx, "n1"); err != nil {
				t.Fatal(err)
			}
		} else if err := r.Teardown(ctx); err != nil {
			t.Fatal(err)
		}
		if left := shmFiles(pid); len(left) > 0 {
			t.Fatalf("round %d: files left after the node was reaped: %v", round, left)
		}
		if _, err := os.Stat(filepath.Join(markerDir(), fmt.Sprint(pid))); err == nil {
			t.Fatalf("round %d: marker of pid %d left", round, pid)
		}
	}
}

// `chaos clean` removes the files of recorded pids that are gone, and
// nothing of a pid that is alive or was never ours.
func TestCleanHostFilesOnlyOurs(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	gone := dead.Process.Pid
	// A live process of ours, and a dead pid never recorded.
	live := exec.Command("sleep", "600")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { live.Process.Kill(); live.Wait() }()
	stranger := exec.Command("true")
	if err := stranger.Run(); err != nil {
		t.Fatal(err)
	}
	var made []string
	for _, pid := range []int{gone, live.Process.Pid, stranger.Process.Pid} {
		for _, f := range []string{faketimeShm, faketimeSem} {
			p := filepath.Join(shmDir, fmt.Sprintf(f, pid))
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			made = append(made, p)
		}
	}
	defer func() {
		for _, p := range made {
			os.Remove(p)
		}
		os.Remove(filepath.Join(markerDir(), fmt.Sprint(live.Process.Pid)))
	}()
	markFaketime(gone)
	markFaketime(live.Process.Pid)
	would, err := CleanHostFiles(true)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(would, made[0]) || len(shmFiles(gone)) != 2 {
		t.Fatalf("dry run: %v, files of %d: %v", would, gone, shmFiles(gone))
	}
	if _, err := CleanHostFiles(false); err != nil {
		t.Fatal(err)
	}
	if left := shmFiles(gone); len(left) > 0 {
		t.Errorf("files of a dead node left: %v", left)
	}
	if len(shmFiles(live.Process.Pid)) != 2 {
		t.Errorf("files of a live node removed")
	}
	if len(shmFiles(stranger.Process.Pid)) != 2 {
		t.Errorf("files of a pid that was never ours removed")
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
