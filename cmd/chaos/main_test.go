package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/chaostest/chaos/catalog"
	"github.com/chaostest/chaos/cli"
)

// cliEnvVar makes the test binary act as the chaos command, so tests can
// signal a real harness process.
const cliEnvVar = "CHAOS_TEST_CLI"

func TestMain(m *testing.M) {
	catalog.RunNodeIfRequested()
	if os.Getenv(cliEnvVar) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// chaos runs the binary's command line in-process.
func chaos(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Run(context.Background(), catalog.New(), cli.WithArgs(args), cli.WithOutput(&out, &errb))
	return code, out.String(), errb.String()
}

// syncBuffer is a buffer that a child's output goroutine writes while the
// test reads.
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

// The binary lists every part of the catalog: the nested modules' targets,
// scenarios and runtimes beside builtin's.
func TestListShowsTheWholeCatalog(t *testing.T) {
	code, out, _ := chaos(t, "list")
	for _, want := range []string{"snowflake", "etcd", "redis", "postgres", "local", "docker", "redlock-clock-jump", "etcd-lock-pause"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q", want)
		}
	}
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
}
