package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ZooKeeper's servers are JVMs from the host's packages, which no image
// built FROM scratch holds: every way of running it on docker is refused
// before anything starts (no run directory, no container), exit 2, saying
// what, why and what to do, and `chaos list` says where it runs.
func TestZooKeeperIsRefusedOnDocker(t *testing.T) {
	for _, args := range [][]string{
		{"run", "zookeeper", "--runtime", "docker", "--time-limit", "1s"},
		{"run", "zookeeper", "--workload", "ids", "--nemesis", "kill", "--runtime", "docker"},
		{"repro", "zk-lock-pause", "--runtime", "docker"},
		{"repro", "zk-lock-pause", "--control", "--runtime", "docker", "--runs", "2"},
		{"matrix", "locks", "--rows", "zk-recipe", "--runtime", "docker"},
		{"matrix", "ids", "--rows", "zk-sequential", "--runtime", "docker", "--faults", "none"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			store := filepath.Join(t.TempDir(), "store")
			code, stdout, stderr := chaos(t, append(args, "--store", store)...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stdout %q, stderr %q", code, stdout, stderr)
			}
			for _, want := range []string{"docker", "zookeeper", "host-software", "JVM", "--runtime local"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q lacks %q", stderr, want)
				}
			}
			if strings.Contains(stderr, "panic") {
				t.Errorf("stderr %q", stderr)
			}
			if _, err := os.Stat(store); !os.IsNotExist(err) {
				t.Errorf("the refused run left %s behind (%v)", store, err)
			}
		})
	}
}

func TestListSaysWhereZooKeeperRuns(t *testing.T) {
	code, out, _ := chaos(t, "list")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var row string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "zookeeper ") {
			row = l
		}
	}
	if !strings.Contains(row, "(local only)") {
		t.Errorf("list's zookeeper row %q does not say it runs on local only", row)
	}
	code, out, _ = chaos(t, "list", "zookeeper")
	if code != 0 || !strings.Contains(out, "on docker: cannot run: its nodes need host-software") ||
		!strings.Contains(out, "nemeses on local:") || strings.Contains(out, "nemeses on docker") {
		t.Errorf("list zookeeper: exit %d\n%s", code, out)
	}
}
