package docker_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/catalog"
	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/docker"
)

// dockerScenarios are short runs, one or more per target, with the verdict
// the same run reaches on the local runtime. A target that this build does
// not register is not run.
var dockerScenarios = []struct {
	name string
	cfg  core.Config
	want checkers.Validity
}{
	{"snowflake-naive-clock", core.Config{Target: "snowflake", Nodes: 3, Concurrency: 4, TimeLimit: 6 * time.Second,
		Rate: 100, Seed: 7, Nemeses: []string{"clock"}, NemesisInterval: time.Second,
		Params: core.Params{"mode": "naive"}}, checkers.Invalid},
	{"snowflake-monotonic-kill-pause-clock", core.Config{Target: "snowflake", Nodes: 3, Concurrency: 4, TimeLimit: 6 * time.Second,
		Rate: 100, Seed: 7, Nemeses: []string{"clock", "kill", "pause"}, NemesisInterval: time.Second,
		Params: core.Params{"mode": "monotonic"}}, checkers.Valid},
	// Member-to-member partitions: in containers every link is cut by
	// nftables in the receiving member's namespace.
	{"etcd-register-partition", core.Config{Target: "etcd", Workload: "register", Nodes: 3, Concurrency: 6,
		TimeLimit: 10 * time.Second, Rate: 60, Seed: 3, Nemeses: []string{"partition"}, NemesisInterval: time.Second,
		Params: core.Params{"partition-topologies": "halves,isolate,majorities-ring,bridge,one-way"}}, checkers.Valid},
	{"gossip-kv-partition", core.Config{Target: "gossip", Nodes: 3, Concurrency: 4, TimeLimit: 8 * time.Second,
		Rate: 50, Seed: 3, Nemeses: []string{"partition"}, NemesisInterval: 2 * time.Second}, checkers.Unknown},
	{"redis-lock-kill", core.Config{Target: "redis", Nodes: 1, Concurrency: 3, TimeLimit: 6 * time.Second,
		Rate: 50, Seed: 3, Nemeses: []string{"kill"}, NemesisInterval: 2 * time.Second}, checkers.Unknown},
}

// needDocker skips when no Docker engine answers, except in CI.
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
	t.Skipf("SKIPPING DOCKER SCENARIOS: no usable Docker engine or not root (%v); CI never skips them", err)
}

// TestScenariosOnDocker runs each target's short scenarios in containers and
// expects the verdict of the local runtime; Unknown in the table means "what
// the local runtime says", found by running it there too.
func TestScenariosOnDocker(t *testing.T) {
	needDocker(t)
	reg := catalog.New()
	timings := &docker.Timings{}
	for _, sc := range dockerScenarios {
		t.Run(sc.name, func(t *testing.T) {
			if _, err := reg.Target(sc.cfg.Target); err != nil {
				t.Skipf("target %s is not in this build", sc.cfg.Target)
			}
			want := sc.want
			if want == checkers.Unknown {
				want = runOn(t, reg, sc.cfg, "local", nil).Results.Valid
			}
			out := runOn(t, reg, sc.cfg, "docker", timings)
			if got := out.Results.Valid; got != want {
				t.Errorf("docker verdict %s, local verdict %s:\n%s", got, want, describe(out))
			}
			if out.Stats.Faults == 0 && len(sc.cfg.Nemeses) > 0 {
				t.Errorf("no fault was injected")
			}
			if out.Stats.OK == 0 {
				t.Errorf("no operation succeeded: %+v", out.Stats)
			}
			t.Logf("%s: %s, stats %+v", sc.name, out.Results.Valid, out.Stats)
		})
	}
	for _, b := range timings.Builds {
		t.Logf("image %s: built=%v in %s", b.Tag, b.Built, b.Took)
	}
	for _, d := range timings.Starts {
		t.Logf("container start to ready: %s", d)
	}
	if out, err := exec.Command("docker", "ps", "-a", "--filter", "label="+docker.LabelManaged, "-q").Output(); err == nil && len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("containers left after the scenarios: %s", out)
	}
}

func runOn(t *testing.T, reg *core.Registry, cfg core.Config, runtime string, timings *docker.Timings) *core.Outcome {
	t.Helper()
	cfg.Store = t.TempDir()
	cfg.CheckTimeout = time.Minute
	switch runtime {
	case "docker":
		cfg.NewRuntime = func() (core.Runtime, error) {
			return docker.New(context.Background(), docker.WithTimings(timings))
		}
	default:
		cfg.NewRuntime = localRuntime
	}
	p, err := core.Prepare(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := core.Execute(context.Background(), p)
	if err != nil {
		t.Fatalf("%s run: %v", runtime, err)
	}
	return out
}

func describe(out *core.Outcome) string {
	var b strings.Builder
	for _, n := range out.Results.Names() {
		r := out.Results.Checkers[n]
		b.WriteString("  " + n + ": " + r.Valid.String() + ": " + r.Summary + "\n")
		if r.Error != "" {
			b.WriteString("    error: " + r.Error + "\n")
		}
	}
	return b.String() + "  run directory: " + out.Dir
}
