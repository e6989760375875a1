package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaostest/chaos/internal/porcupinedata"
)

func runCLI(args ...string) (int, string) {
	var out bytes.Buffer
	code := execute(context.Background(), args, &out, &out)
	return code, out.String()
}

// Every Jepsen etcd history of porcupine's test data, through the command
// line: exit 0 where porcupine's tests expect linearizable, 1 where not.
func TestCheckJepsenLogs(t *testing.T) {
	logs, err := porcupinedata.EtcdLogs()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		code, out := runCLI("check", "--format", "jepsen-log", "--model", "cas-register", l.Path)
		want := 1
		if l.Linearizable {
			want = 0
		}
		if code != want {
			t.Errorf("etcd_%03d: exit %d, want %d\n%s", l.Num, code, want, out)
		}
		if want == 1 && !strings.Contains(out, "cannot take effect") {
			t.Errorf("etcd_%03d: no witness printed\n%s", l.Num, out)
		}
	}
}

func TestCheckJepsenEDN(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "history.edn")
	edn := `{:type :invoke, :f :write, :value 1, :process 0, :time 10}
{:type :ok, :f :write, :value 1, :process 0, :time 20}
{:type :invoke, :f :read, :value nil, :process 1, :time 30}
{:type :ok, :f :read, :value 2, :process 1, :time 40}
`
	if err := os.WriteFile(path, []byte(edn), 0o644); err != nil {
		t.Fatal(err)
	}
	viz := filepath.Join(dir, "viz")
	code, out := runCLI("check", "--format", "jepsen-edn", "--model", "register", "--viz-dir", viz, path)
	if code != 1 || !strings.Contains(out, "read() -> 2") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(viz, "linearizable.html")); err != nil {
		t.Fatalf("no visualization: %v", err)
	}
	// The input is never changed.
	if b, _ := os.ReadFile(path); string(b) != edn {
		t.Fatal("history.edn changed")
	}
}

func TestCheckImportBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.edn")
	os.WriteFile(bad, []byte("{:type :invoke"), 0o644)
	empty := filepath.Join(dir, "empty.log")
	os.WriteFile(empty, []byte("nothing here\n"), 0o644)
	for _, args := range [][]string{
		{"check", "--format", "jepsen-edn", bad},
		{"check", "--format", "jepsen-log", empty},
		{"check", "--format", "jepsen-log", filepath.Join(dir, "missing.log")},
		{"check", "--format", "jepsen-log", dir},
		{"check", "--format", "jepsen-log", "--model", "queue", empty},
		{"check", "--format", "xml", empty},
		{"check", "--model", "register", empty},
	} {
		code, out := runCLI(args...)
		if code != 2 || strings.Count(strings.TrimSpace(out), "\n") != 0 || strings.Contains(out, "panic") {
			t.Errorf("%v: exit %d, want 2 with a one-line error:\n%s", args, code, out)
		}
	}
}

// A check that runs out of time is unknown (exit 2), never valid.
func TestCheckJepsenTimeoutUnknown(t *testing.T) {
	logs, err := porcupinedata.EtcdLogs()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs[:3] {
		code, out := runCLI("check", "--format", "jepsen-log", "--check-timeout", "1ns", l.Path)
		if code != 2 || !strings.Contains(out, "unknown") || !strings.Contains(out, "timed out") {
			t.Fatalf("etcd_%03d: exit %d\n%s", l.Num, code, out)
		}
	}
}

// `chaos check /dev/zero` read until the kernel killed it: the reader's
// bound on one record now refuses it, naming the flag that raises it.
func TestCheckRefusesEndlessInput(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero on this system")
	}
	code, out := runCLI("check", "--max-record-size", "1048576", "/dev/zero")
	if code != 2 || !strings.Contains(out, "--max-record-size") || !strings.Contains(out, "1 MiB") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	if code, out := runCLI("check", "--max-history-size", "0", "/dev/zero"); code != 2 || !strings.Contains(out, "must be positive") {
		t.Fatalf("zero bound: exit %d, output:\n%s", code, out)
	}
}
