package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/reports"
)

// storedRun writes a small judged run directory.
func storedRun(t *testing.T, store string) string {
	t.Helper()
	start := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	dir, err := core.NewRunDir(store, "snowflake", start)
	if err != nil {
		t.Fatal(err)
	}
	w, err := history.Create(core.HistoryPath(dir), history.Header{Target: "snowflake", Workload: "ids", Nodes: []string{"n1"}, Seed: 7, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	var ops []history.Op
	for i, op := range []history.Op{
		{Process: 0, Type: history.Invoke, F: "generate", Time: 1e6, Node: "n1"},
		{Process: 0, Type: history.OK, F: "generate", Value: history.Int(5), Time: 2e6, Node: "n1"},
		{Process: 1, Type: history.Invoke, F: "generate", Time: 3e6, Node: "n1"},
		{Process: 1, Type: history.OK, F: "generate", Value: history.Int(5), Time: 4e6, Node: "n1"},
	} {
		rec, err := w.Append(op)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			ops = append(ops, rec)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	res := checkers.Result{Valid: checkers.Invalid, Summary: "1 duplicate ID"}
	res.AddAnomaly(checkers.Anomaly{Kind: "duplicate-id", Message: "processes 0 and 1 both received ID 5", Ops: ops})
	if err := core.WriteResults(dir, checkers.Results{Valid: checkers.Invalid, Checkers: map[string]checkers.Result{"ids": res}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReportCommand(t *testing.T) {
	dir := storedRun(t, t.TempDir())
	var out, errOut bytes.Buffer
	if code := execute(context.Background(), []string{"report", dir}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, f := range []string{reports.HTMLFile, reports.JUnitFile} {
		if !strings.Contains(out.String(), filepath.Join(dir, f)) {
			t.Errorf("stdout does not name %s: %q", f, out.String())
		}
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestReportCommandBadInput(t *testing.T) {
	for name, args := range map[string][]string{
		"missing dir": {"report", filepath.Join(t.TempDir(), "nope")},
		"no history":  {"report", t.TempDir()},
		"no args":     {"report"},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := execute(context.Background(), args, &out, &errOut)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if lines := strings.Count(strings.TrimSpace(errOut.String()), "\n"); lines != 0 || errOut.Len() == 0 {
				t.Errorf("want one line of error, got %q", errOut.String())
			}
		})
	}
}

func TestRunRejectsUnknownOutput(t *testing.T) {
	var out, errOut bytes.Buffer
	code := execute(context.Background(), []string{"run", "snowflake", "--output", "yaml", "--store", t.TempDir()}, &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), `--output "yaml": must be text or json`) {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestOutputModes(t *testing.T) {
	dir := storedRun(t, t.TempDir())
	rs := checkers.Results{Valid: checkers.Invalid, Checkers: map[string]checkers.Result{
		"ids": {Valid: checkers.Invalid, Summary: "1 duplicate ID", AnomalyCounts: map[string]int64{"duplicate-id": 1}}}}
	out := &core.Outcome{Dir: dir, Results: rs, Stats: core.Stats{Invoked: 2, OK: 2}, Elapsed: 1500 * time.Millisecond}
	p := &core.Prepared{TargetInfo: core.TargetInfo{Name: "snowflake"}, Config: core.Config{Workload: "ids"}}
	rp := reports.Paths{HTML: filepath.Join(dir, reports.HTMLFile), JUnit: filepath.Join(dir, reports.JUnitFile)}

	var b bytes.Buffer
	env := &cliEnv{stdout: &b, stderr: io.Discard, out: outputOptions{format: "json"}}
	printOutcome(env, p, out, 7, rp)
	var j map[string]any
	if err := json.Unmarshal(b.Bytes(), &j); err != nil {
		t.Fatalf("--output json is not JSON: %v: %q", err, b.String())
	}
	if j["valid"] != false || j["report"] != rp.HTML || j["seed"] != float64(7) {
		t.Errorf("json summary = %v", j)
	}
	if env.out.progress(os.Stderr) != nil {
		t.Error("json mode must not write progress lines")
	}

	b.Reset()
	env.out = outputOptions{quiet: true, format: "text"}
	printOutcome(env, p, out, 7, rp)
	if b.String() != "INVALID "+rp.HTML+"\n" {
		t.Errorf("--quiet printed %q", b.String())
	}

	b.Reset()
	env.out = outputOptions{format: "text"}
	printOutcome(env, p, out, 7, rp)
	if !strings.Contains(b.String(), "report   "+rp.HTML) || !strings.Contains(b.String(), "verdict  INVALID") {
		t.Errorf("text summary lacks the verdict or the report path:\n%s", b.String())
	}
}

// syncBuffer is a buffer that the server goroutine writes while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServeCommand(t *testing.T) {
	store := t.TempDir()
	dir := storedRun(t, store)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, []string{"serve", "--store", store, "--addr", "127.0.0.1:0"}, &out, &errOut)
	}()
	re := regexp.MustCompile(`http://[0-9.:]+/`)
	deadline := time.Now().Add(time.Minute)
	var url string
	for url == "" && time.Now().Before(deadline) {
		url = re.FindString(out.String())
		time.Sleep(20 * time.Millisecond)
	}
	if url == "" {
		t.Fatalf("serve never said where it listens: %q %q", out.String(), errOut.String())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "runs/snowflake/"+filepath.Base(dir)+"/report.html") || !strings.Contains(string(body), "verdict invalid") {
		t.Errorf("index does not list the run: %s", body)
	}
	if strings.Contains(errOut.String(), "warning") {
		t.Errorf("loopback serving warned: %q", errOut.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d after Ctrl-C: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop when its context ended")
	}
}

func TestRunWritesReportInEveryOutputMode(t *testing.T) {
	store := t.TempDir()
	code, stdout, stderr := chaos(t, "run", "snowflake", "--snowflake-mode", "naive", "--nemesis", "clock", "--time-limit", "2s",
		"--nemesis-interval", "500ms", "--rate", "300", "--seed", "7", "--store", store, "--output", "json")
	if code != exitInvalid {
		t.Fatalf("naive run exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, "ops (") {
		t.Errorf("--output json printed progress lines: %q", stderr)
	}
	var j struct {
		Valid  any    `json:"valid"`
		Report string `json:"report"`
		JUnit  string `json:"junit"`
		Seed   int64  `json:"seed"`
	}
	if err := json.Unmarshal([]byte(stdout), &j); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
	}
	if j.Valid != false || j.Seed != 7 {
		t.Errorf("json = %+v", j)
	}
	page, err := os.ReadFile(j.Report)
	if err != nil || !strings.Contains(string(page), "Invalid: anomalies were found") {
		t.Errorf("report %s: %v", j.Report, err)
	}
	if _, err := os.Stat(j.JUnit); err != nil {
		t.Error(err)
	}

	code, stdout, stderr = chaos(t, "run", "snowflake", "--snowflake-mode", "monotonic", "--nemesis", "clock", "--time-limit", "2s",
		"--nemesis-interval", "300ms", "--seed", "7", "--store", store, "-q")
	if code != exitValid || !strings.HasPrefix(stdout, "VALID "+store) || !strings.HasSuffix(stdout, "report.html\n") || stderr != "" {
		t.Errorf("--quiet: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
