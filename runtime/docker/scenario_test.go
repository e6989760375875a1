package docker_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/docker"
	"github.com/chaostest/chaos/targets/etcd"
	"github.com/chaostest/chaos/targets/redis"
)

// dockerScenarios are short runs, one or more per target, with the verdict
// the same run reaches on the local runtime. A target that this build does
// not register is not run.
var dockerScenarios = []struct {
	name string
	cfg  core.Config
	want checkers.Validity
	// repro names a registered scenario to run instead of cfg: its anomaly
	// must be invalid and, with control, its control valid.
	repro   string
	control bool
}{
	{name: "snowflake-naive-clock", cfg: core.Config{Target: "snowflake", Nodes: 3, Concurrency: 4, TimeLimit: 6 * time.Second,
		Rate: 100, Seed: 7, Nemeses: []string{"clock"}, NemesisInterval: time.Second,
		Params: core.Params{"mode": "naive"}}, want: checkers.Invalid},
	// Valid only counts when every kind was applied: seed 8 plans a clock
	// strobe at 0.4 s, a kill at 1.1 s and a pause at 2.7 s, so each kind
	// comes up even when starting and stopping containers on a loaded
	// engine holds the schedule back by seconds (seed 7's first pause came
	// at 5.5 s of 6 and was sometimes never applied: unknown).
	{name: "snowflake-monotonic-kill-pause-clock", cfg: core.Config{Target: "snowflake", Nodes: 3, Concurrency: 4, TimeLimit: 10 * time.Second,
		Rate: 100, Seed: 8, Nemeses: []string{"clock", "kill", "pause"}, NemesisInterval: 700 * time.Millisecond,
		Params: core.Params{"mode": "monotonic"}}, want: checkers.Valid},
	// Member-to-member partitions: in containers every link is cut by
	// nftables in the receiving member's namespace.
	{name: "etcd-register-partition", cfg: core.Config{Target: "etcd", Workload: "register", Nodes: 3, Concurrency: 6,
		TimeLimit: 10 * time.Second, Rate: 60, Seed: 3, Nemeses: []string{"partition"}, NemesisInterval: time.Second,
		Params: core.Params{"partition-topologies": "halves,isolate,majorities-ring,bridge,one-way"}}, want: checkers.Valid},
	{name: "gossip-kv-partition", cfg: core.Config{Target: "gossip", Nodes: 3, Concurrency: 4, TimeLimit: 8 * time.Second,
		Rate: 50, Seed: 3, Nemeses: []string{"partition"}, NemesisInterval: 2 * time.Second}, want: checkers.Unknown},
	// Slow and lossy links and the packet nemesis: delay through NFQUEUE,
	// loss by nftables, on node and client links.
	{name: "gossip-kv-slow-lossy-packet", cfg: core.Config{Target: "gossip", Nodes: 3, Concurrency: 4, TimeLimit: 8 * time.Second,
		Rate: 50, Seed: 5, Nemeses: []string{"partition", "packet"}, NemesisInterval: 2 * time.Second,
		Params: core.Params{"partition-topologies": "slow,lossy", "packet-delay": "50ms", "packet-jitter": "10ms", "packet-loss": "0.05"}}, want: checkers.Unknown},
	{name: "refkv-kill-pause", cfg: core.Config{Target: "refkv", Nodes: 3, Concurrency: 4, TimeLimit: 6 * time.Second,
		Rate: 80, Seed: 3, Nemeses: []string{"kill", "pause"}, NemesisInterval: time.Second}, want: checkers.Valid},
	{name: "refkv-lost-write", repro: "refkv-lost-write", want: checkers.Invalid},
	// Redis in a FROM scratch image with its libraries and libfaketime;
	// clients cut off and paused one by one.
	{name: "redis-lock-pause", repro: "lock-pause", want: checkers.Invalid},
	{name: "redis-lock-pause-control", repro: "lock-pause", control: true, want: checkers.Valid},
	{name: "redis-redlock-clock-jump", repro: "redlock-clock-jump", want: checkers.Invalid},
	{name: "redis-failover", repro: "redis-failover", want: checkers.Invalid},
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
	reg := builtin.New(docker.Register, etcd.Register, redis.Register)
	timings := &docker.Timings{}
	var runs []string
	for _, sc := range dockerScenarios {
		t.Run(sc.name, func(t *testing.T) {
			cfg := sc.cfg
			if sc.repro != "" {
				s, err := reg.Scenario(sc.repro)
				if err != nil {
					t.Skipf("scenario %s is not in this build", sc.repro)
				}
				cfg = s.Config(sc.control)
			}
			if _, err := reg.Target(cfg.Target); err != nil {
				t.Skipf("target %s is not in this build", cfg.Target)
			}
			want := sc.want
			if want == checkers.Unknown {
				want = runOn(t, reg, cfg, "local", nil).Results.Valid
			}
			out := runOn(t, reg, cfg, "docker", timings)
			runs = append(runs, runOf(out.Dir))
			if got := out.Results.Valid; got != want {
				t.Errorf("docker verdict %s, local verdict %s:\n%s", got, want, describe(out))
			}
			if out.Stats.Faults == 0 && len(cfg.Nemeses) > 0 {
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
	// Only this test's own runs count: other docker runs may be going on
	// the same engine.
	for _, run := range runs {
		if left := leftoversOf(t, run); len(left) > 0 {
			t.Errorf("run %s left %v", run, left)
		}
	}
}

// leftoversOf lists the containers and networks labelled with run.
func leftoversOf(t *testing.T, run string) []string {
	t.Helper()
	ctx := context.Background()
	cli, err := docker.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	f := make(client.Filters).Add("label", docker.LabelRun+"="+run)
	var out []string
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs.Items {
		out = append(out, "container "+strings.Join(c.Names, ","))
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns.Items {
		out = append(out, "network "+n.Name)
	}
	return out
}

// runOf is the run id the runtime labels a run directory's things with.
func runOf(dir string) string {
	return filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir)
}

func runOn(t *testing.T, reg *core.Registry, cfg core.Config, runtime string, timings *docker.Timings) *core.Outcome {
	t.Helper()
	cfg.Store = t.TempDir()
	if cfg.CheckTimeout == 0 {
		cfg.CheckTimeout = time.Minute
	}
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
