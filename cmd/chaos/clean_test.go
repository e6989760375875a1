package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/chaostest/chaos/runtime/docker"
)

func needDocker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := docker.Connect(ctx)
	if err == nil {
		cli.Close()
		if os.Geteuid() == 0 {
			return
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("the docker runtime needs a Docker engine and root in CI: %v (uid %d)", err, os.Geteuid())
	}
	t.Skipf("SKIPPING DOCKER CLI TEST: no usable Docker engine or not root (%v); CI never skips it", err)
}

// ownedBy counts the containers and networks of the harness process pid.
func ownedBy(t *testing.T, pid int) int {
	t.Helper()
	ctx := context.Background()
	cli, err := docker.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	host, _ := os.Hostname()
	f := make(client.Filters).Add("label", fmt.Sprintf("%s=%s/%d", docker.LabelOwner, host, pid))
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs.Items) + len(ns.Items)
}

// A docker run interrupted with SIGINT removes its containers and network
// itself; one killed with SIGKILL cannot, and `chaos clean` removes them.
func TestDockerRunsInterruptedKilledAndCleaned(t *testing.T) {
	needDocker(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "run", "snowflake", "--runtime", "docker", "--nemesis", "clock",
				"--time-limit", "60s", "--seed", "1", "--store", t.TempDir())
			cmd.Env = append(os.Environ(), cliEnvVar+"=1")
			var errb strings.Builder
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pid := cmd.Process.Pid
			defer func() {
				_ = cmd.Process.Kill()
				_, _ = docker.Clean(context.Background(), docker.CleanOptions{})
			}()
			// 3 containers and the network exist once the run is going.
			deadline := time.Now().Add(90 * time.Second)
			for ownedBy(t, pid) < 4 || !strings.Contains(errb.String(), "ops") {
				if time.Now().After(deadline) {
					t.Fatalf("the run did not get going:\n%s", errb.String())
				}
				time.Sleep(200 * time.Millisecond)
			}
			_ = cmd.Process.Signal(sig)
			_ = cmd.Wait()
			left := ownedBy(t, pid)
			if sig == syscall.SIGINT {
				if left != 0 {
					t.Fatalf("an interrupted run left %d containers and networks:\n%s", left, errb.String())
				}
				return
			}
			if left == 0 {
				t.Fatal("a killed run left nothing: the test did not kill it in time")
			}
			code, out, stderr := chaos(t, "clean")
			if code != 0 {
				t.Fatalf("chaos clean: exit %d\n%s%s", code, out, stderr)
			}
			if left := ownedBy(t, pid); left != 0 {
				t.Fatalf("chaos clean left %d containers and networks:\n%s", left, out)
			}
		})
	}
}
