package chaostest_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaostest/chaos/chaostest"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// sleepersLeft counts live processes running `sleep mark`.
func sleepersLeft(t *testing.T, mark string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"); len(args) == 2 &&
			filepath.Base(args[0]) == "sleep" && args[1] == mark {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !bytes.Contains(st, []byte(") Z ")) {
				n++
			}
		}
	}
	return n
}

// historyNamed reads the history of the run directory a message names.
func historyNamed(t *testing.T, msg string) *history.File {
	t.Helper()
	const at = "its history is in "
	i := strings.Index(msg, at)
	if i < 0 {
		t.Fatalf("the message names no run directory:\n%s", msg)
	}
	dir := strings.Fields(msg[i+len(at):])[0]
	hf, err := history.ReadFile(core.HistoryPath(dir))
	if err != nil {
		t.Fatalf("the interrupted run's history: %v", err)
	}
	return hf
}

// deadlined is a test whose binary's deadline (go test -timeout) is near.
type deadlined struct {
	*recorder
	at time.Time
}

func (d deadlined) Deadline() (time.Time, bool) { return d.at, true }

// TestRunStopsBeforeTheTestDeadline: a run that would outlast go test's
// -timeout is stopped ahead of it and torn down, with its processes gone
// and its history whole, and the test fails saying so, instead of the
// binary panicking mid-fault.
func TestRunStopsBeforeTheTestDeadline(t *testing.T) {
	t.Setenv(chaostest.StoreEnv, t.TempDir())
	const mark = "611"
	rec := &recorder{TB: t}
	start := time.Now()
	chaostest.Run(deadlined{rec, start.Add(12 * time.Second)}, chaostest.Scenario{Workload: "ids", Client: cluster(true),
		Nodes: sleepers(core.ClockNone, mark), Nemeses: []string{"pause"}, AllowUnappliedFaults: true,
		TimeLimit: 2 * time.Minute, NemesisInterval: 300 * time.Millisecond})
	took := time.Since(start)
	if !rec.failed || !strings.Contains(rec.msg, "before the test binary's deadline") || !strings.Contains(rec.msg, "-timeout") {
		t.Fatalf("failed %v, message %q", rec.failed, rec.msg)
	}
	if took > 30*time.Second {
		t.Errorf("Run returned %s after its start; the deadline was 12 s away", took.Round(time.Second))
	}
	if hf := historyNamed(t, rec.msg); len(hf.Ops) == 0 {
		t.Error("the stopped run recorded nothing")
	}
	if n := sleepersLeft(t, mark); n > 0 {
		t.Errorf("%d node processes outlived the stopped run", n)
	}
}

// interruptHelperEnv makes TestInterruptHelper run its long scenario.
const interruptHelperEnv = "CHAOSTEST_INTERRUPT_HELPER"

// TestInterruptHelper is the test binary TestInterruptTearsDown interrupts.
func TestInterruptHelper(t *testing.T) {
	mark := os.Getenv(interruptHelperEnv)
	if mark == "" {
		return // run by TestInterruptTearsDown
	}
	chaostest.Run(t, chaostest.Scenario{Workload: "ids", Client: cluster(true), Nodes: sleepers(core.ClockNone, mark),
		Nemeses: []string{"pause"}, TimeLimit: 2 * time.Minute, NemesisInterval: 300 * time.Millisecond})
}

// TestInterruptTearsDown: Ctrl-C (SIGINT) during a run tears it down and
// keeps its history before the test binary ends, as the signal asked, and
// says where the history is.
func TestInterruptTearsDown(t *testing.T) {
	const mark = "612"
	cmd := exec.Command(os.Args[0], "-test.run=^TestInterruptHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), interruptHelperEnv+"="+mark, chaostest.StoreEnv+"="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Interrupt once the nodes run: the run is then mid-way.
	for deadline := time.Now().Add(2 * time.Minute); sleepersLeft(t, mark) < 3; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the nodes never started\n%s", stderr.String())
		}
	}
	time.Sleep(time.Second)
	sent := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("the interrupted binary exited with %v\n%s", err, stderr.String())
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Errorf("the binary did not end by the signal: %v\n%s", err, stderr.String())
	}
	if d := time.Since(sent); d > time.Minute {
		t.Errorf("the binary took %s to end after the interrupt", d.Round(time.Second))
	}
	msg := stderr.String()
	if !strings.Contains(msg, "TestInterruptHelper: interrupted by interrupt: the run was torn down") {
		t.Fatalf("the interrupt was not reported:\n%s", msg)
	}
	historyNamed(t, msg)
	if n := sleepersLeft(t, mark); n > 0 {
		t.Errorf("%d node processes outlived the interrupted run", n)
	}
}
