package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/core"
)

// cliEnvVar makes the test binary act as the chaos command, so tests can
// signal a real harness process.
const cliEnvVar = "CHAOS_TEST_CLI"

func TestMain(m *testing.M) {
	builtin.RunNodeIfRequested()
	if os.Getenv(cliEnvVar) == "1" {
		os.Exit(realMain())
	}
	os.Exit(m.Run())
}

func chaos(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = execute(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadInputExitsTwoWithOneLine(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt")
	os.MkdirAll(corrupt, 0o755)
	os.WriteFile(filepath.Join(corrupt, "history.jsonl"), []byte("{\"header\":{\"format\":\"chaos-history/1\"}}\nnot json\n{}\n"), 0o644)
	for name, args := range map[string][]string{
		"unknown target":   {"run", "nope"},
		"no target":        {"run"},
		"bad flag":         {"run", "snowflake", "--bogus"},
		"bad duration":     {"run", "snowflake", "--time-limit", "soon"},
		"bad mode":         {"run", "snowflake", "--mode", "sloppy", "--store", dir},
		"bad choice":       {"run", "snowflake", "--snowflake-mode", "sloppy", "--store", dir},
		"bad typed param":  {"run", "snowflake", "--kill-restart-delay", "soon", "--store", dir},
		"foreign param":    {"run", "snowflake", "--redis-fencing", "--store", dir},
		"old and new name": {"run", "snowflake", "--mode", "naive", "--snowflake-mode", "naive", "--store", dir},
		"unknown nemesis":  {"run", "snowflake", "--nemesis", "meteor", "--store", dir},
		"negative nodes":   {"run", "snowflake", "--nodes", "-1"},
		"bad runtime":      {"run", "snowflake", "--runtime", "cloud"},
		"missing history":  {"check", filepath.Join(dir, "nothing")},
		"corrupt history":  {"check", corrupt},
		"unknown scenario": {"repro", "nope"},
		"unknown command":  {"frobnicate"},
	} {
		code, _, stderr := chaos(t, args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != exitOther || len(lines) != 1 || !strings.HasPrefix(lines[0], "chaos: ") {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and one line", name, code, stderr)
		}
	}
	b, _ := os.ReadFile(filepath.Join(corrupt, "history.jsonl"))
	if !strings.Contains(string(b), "not json") {
		t.Fatal("check changed the corrupt history")
	}
}

func TestRunThenCheckGiveTheSameVerdict(t *testing.T) {
	store := t.TempDir()
	// The rollback is aimed at a node that has just answered, so the naive
	// mode reissues IDs on every run, however the machine is loaded.
	code, stdout, stderr := chaos(t, "run", "snowflake", "--snowflake-mode", "naive", "--nemesis", "aimed-rollback",
		"--aimed-rollback-after", "500ms", "--aimed-rollback-by", "1s", "--aimed-rollback-count", "1",
		"--time-limit", "3s", "--rate", "400", "--seed", "7", "--store", store)
	if code != exitInvalid {
		t.Fatalf("naive run exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "seed 7") || !strings.Contains(stdout, "verdict  INVALID") {
		t.Fatalf("seed or verdict not printed:\n%s\n%s", stdout, stderr)
	}
	latest := filepath.Join(store, "snowflake", "latest")
	before, err := os.ReadFile(filepath.Join(latest, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Valid    any `json:"valid"`
		Checkers map[string]struct {
			Valid     any               `json:"valid"`
			Counts    map[string]int64  `json:"counts"`
			Anomalies []json.RawMessage `json:"anomalies"`
		} `json:"checkers"`
	}
	if err := json.Unmarshal(before, &res); err != nil {
		t.Fatal(err)
	}
	if res.Valid != false || res.Checkers["ids"].Counts["duplicated-ids"] == 0 || len(res.Checkers["ids"].Anomalies) == 0 {
		t.Fatalf("results.json: %s", before)
	}
	sc, err := core.ReadConfig(latest)
	if err != nil || sc.Seed != 7 || sc.Params["snowflake-mode"] != "naive" {
		t.Fatalf("config.json: %+v %v", sc, err)
	}
	code, out, _ := chaos(t, "check", latest)
	if code != exitInvalid || !strings.Contains(out, "verdict  INVALID") {
		t.Fatalf("check exit %d:\n%s", code, out)
	}
	after, _ := os.ReadFile(filepath.Join(latest, "results.json"))
	if !bytes.Equal(before, after) {
		t.Fatal("check rewrote results.json")
	}
}

// The registry of these tests is builtin's; cmd/chaos's test lists the
// whole catalog.
func TestListShowsEverything(t *testing.T) {
	code, out, _ := chaos(t, "list")
	for _, want := range []string{"snowflake", "ids", "clock", "kill", "pause", "local", "gossip-divergence"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q", want)
		}
	}
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// startHarness starts the test binary as `chaos run` in its own process.
func startHarness(t *testing.T, store string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "run", "snowflake", "--snowflake-mode", "monotonic", "--nemesis", "clock,kill",
		"--nemesis-interval", "300ms", "--time-limit", "60s", "--rate", "500", "--seed", "3", "--store", store)
	cmd.Env = append(os.Environ(), cliEnvVar+"=1")
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	// Wait until the run is under way: its history has grown past the
	// header.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m, _ := filepath.Glob(filepath.Join(store, "snowflake", "*", "history.jsonl")); len(m) == 1 {
			if st, err := os.Stat(m[0]); err == nil && st.Size() > 20000 {
				return cmd
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the run never got going:\n%s", errb.String())
	return nil
}

// nodesOf lists live processes whose command line mentions dir.
func nodesOf(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(dir)) {
			out = append(out, p+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

func waitNoNodes(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if len(nodesOf(dir)) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("node processes left behind: %v", nodesOf(dir))
}

func TestSIGKILLLeavesACheckableHistoryAndNoNodes(t *testing.T) {
	store := t.TempDir()
	cmd := startHarness(t, store)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitNoNodes(t, store)
	runs, _ := filepath.Glob(filepath.Join(store, "snowflake", "2*"))
	if len(runs) != 1 {
		t.Fatalf("runs: %v", runs)
	}
	code, out, errs := chaos(t, "check", runs[0])
	if code == exitOther && strings.Contains(errs, "read history") {
		t.Fatalf("history of a killed harness is unreadable: %s", errs)
	}
	if !strings.Contains(out, "checker") {
		t.Fatalf("check printed no verdict (exit %d):\n%s\n%s", code, out, errs)
	}
}

func TestSIGINTStopsCleanly(t *testing.T) {
	store := t.TempDir()
	cmd := startHarness(t, store)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("harness did not stop after SIGINT")
	}
	waitNoNodes(t, store)
	runs, _ := filepath.Glob(filepath.Join(store, "snowflake", "2*", "results.json"))
	if len(runs) != 1 {
		t.Fatalf("an interrupted run should still be judged; results: %v", runs)
	}
}
