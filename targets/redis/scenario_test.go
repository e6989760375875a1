package redis_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/internal/runtest"
	"github.com/chaostest/chaos/runtime/local"
	"github.com/chaostest/chaos/targets/redis"
)

func TestMain(m *testing.M) {
	builtin.RunNodeIfRequested(redis.Register)
	os.Exit(m.Run())
}

// need skips a test whose program is missing, loudly, and only outside CI:
// in CI a missing Redis is a broken set-up, not a reason to pass.
func need(t *testing.T, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err == nil {
			continue
		}
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found, and CI must not skip this test: run .ci/setup.d/redis.sh", p)
		}
		t.Skipf("SKIPPED: %s not found (install it with sudo .ci/setup.d/redis.sh); CI never skips this", p)
	}
}

// scenarioSeeds are the seeds every reproduction and control is run with:
// one, with no fallback; CHAOS_SCENARIO_SEEDS (comma-separated) tries
// others.
func scenarioSeeds(t *testing.T) []int64 {
	v := os.Getenv("CHAOS_SCENARIO_SEEDS")
	if v == "" {
		return []int64{1}
	}
	var out []int64
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SCENARIO_SEEDS=%q: %v", v, err)
		}
		out = append(out, n)
	}
	return out
}

func TestScenarios(t *testing.T) {
	need(t, "redis-server", "redis-server-libc")
	reg := builtin.New(redis.Register)
	want := map[string][]string{
		"redlock-clock-jump":    {"overlapping-holds", "c0", "c1", "n3", "clock-jump"},
		"redlock-crash-restart": {"overlapping-holds", "c0", "c1", "n3", "restart"},
		"lock-pause":            {"lost-update", "c0", "c1", "n1", "client-pause"},
		"redis-failover":        {"overlapping-holds", "c0", "c1", "n1", "n2", "promote"},
	}
	if len(reg.Scenarios()) < len(want) {
		t.Fatalf("registered scenarios %d, want at least %d", len(reg.Scenarios()), len(want))
	}
	for name, words := range want {
		s, err := reg.Scenario(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, seed := range scenarioSeeds(t) {
			for _, control := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/seed=%d/control=%t", name, seed, control), func(t *testing.T) {
					cfg := s.Config(control)
					cfg.Seed = seed
					cfg.Store = keepOnFailure(t)
					out := runtest.Local(t, builtin.New(redis.Register), cfg)
					r := out.Results.Checkers["lock-safety"]
					if control {
						if out.Results.Valid != checkers.Valid {
							t.Fatalf("control: got %v (%s), want valid; run in %s", out.Results.Valid, r.Summary, out.Dir)
						}
						return
					}
					if out.Results.Valid != checkers.Invalid {
						t.Fatalf("got %v (%s), want invalid; run in %s", out.Results.Valid, r.Summary, out.Dir)
					}
					if r.AnomalyCounts[words[0]] == 0 {
						t.Fatalf("anomalies %v, want %s", r.AnomalyCounts, words[0])
					}
					var msg string
					for _, a := range r.Anomalies {
						if a.Kind == words[0] {
							msg = a.Message
							if a.Fault == nil || len(a.Processes) < 2 || len(a.Nodes) == 0 {
								t.Errorf("witness lacks fault, processes or nodes: %+v", a)
							}
							break
						}
					}
					for _, w := range words[1:] {
						if !strings.Contains(msg, w) {
							t.Errorf("witness %q does not name %q", msg, w)
						}
					}
				})
			}
		}
	}
}

// keepOnFailure is a store directory that survives a failed test, so its
// history and node logs can be read.
func keepOnFailure(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "chaos-redis-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("run kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return dir
}

// TestRedsyncClockJump plays redlock-clock-jump against redsync's Redlock:
// the clock jump breaks it just as it breaks ours.
func TestRedsyncClockJump(t *testing.T) {
	need(t, "redis-server-libc")
	reg := builtin.New(redis.Register)
	s, err := reg.Scenario("redlock-clock-jump")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.Config(false)
	cfg.Params["redis-lock"] = "redsync"
	cfg.Store = t.TempDir()
	out := runtest.Local(t, reg, cfg)
	r := out.Results.Checkers["lock-safety"]
	if out.Results.Valid != checkers.Invalid || r.AnomalyCounts["overlapping-holds"] == 0 {
		t.Fatalf("got %v %v, want overlapping holds; run in %s", out.Results.Valid, r.AnomalyCounts, out.Dir)
	}
}

// TestCrashRestartWithFsyncAlways is the other control of
// redlock-crash-restart: the same kill and immediate restart, but every write
// reaches the disk before Redis answers, so the restarted node still has c0's
// lock and c1 gets no quorum.
func TestCrashRestartWithFsyncAlways(t *testing.T) {
	need(t, "redis-server")
	reg := builtin.New(redis.Register)
	s, err := reg.Scenario("redlock-crash-restart")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.Config(false)
	cfg.Params["redis-appendonly"] = "yes"
	cfg.Params["redis-appendfsync"] = "always"
	cfg.Store = t.TempDir()
	out := runtest.Local(t, reg, cfg)
	if out.Results.Valid != checkers.Valid {
		t.Fatalf("got %v (%s), want valid; run in %s", out.Results.Valid, out.Results.Checkers["lock-safety"].Summary, out.Dir)
	}
}

// TestFaketimeExpiry moves a Redis node's clock +120s through libfaketime's
// timestamp file and sees a key set with PX 60000 expire: the clock fault
// really reaches Redis.
func TestFaketimeExpiry(t *testing.T) {
	need(t, "redis-server-libc")
	cfg, err := redis.ParseConfig(core.Params{"redis-faketime": "yes"})
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run this test: %v", err)
		}
		t.Skipf("SKIPPED: %v", err)
	}
	tgt, err := redis.New(core.Params{"redis-faketime": "yes"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := tgt.Nodes([]string{"n1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if specs[0].Clock != core.ClockFaketime || !strings.Contains(strings.Join(specs[0].Env, " "), cfg.Faketime) {
		t.Fatalf("node spec %+v does not run under libfaketime", specs[0])
	}
	rt, err := local.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Cleanup(func() { _ = rt.Teardown(context.Background()) })
	if err := rt.Setup(ctx, t.TempDir(), specs); err != nil {
		t.Fatal(err)
	}
	// Start fails if the server hangs at start-up (the jemalloc deadlock).
	if err := rt.Start(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	addr, err := rt.Addr("", "n1", redis.Port)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 60*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	if ttl, err := c.PTTL(ctx, "k").Result(); err != nil || ttl < 50*time.Second {
		t.Fatalf("before the jump: PTTL %v %v, want about 60s", ttl, err)
	}
	if err := rt.SetClockOffset(ctx, "n1", 120*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, "k").Err(); err != goredis.Nil {
		t.Fatalf("after the +120s jump: GET k = %v, want the key expired", err)
	}
	secs, err := c.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if skew := time.Until(secs); skew < 110*time.Second {
		t.Fatalf("node's TIME is %s ahead, want about 120s", skew)
	}
	// Moving the clock back shows time is read from the file each call.
	if err := rt.SetClockOffset(ctx, "n1", 0); err != nil {
		t.Fatal(err)
	}
	if secs, _ := c.Time(ctx).Result(); time.Until(secs) > 5*time.Second {
		t.Fatalf("after reset the node is still %s ahead", time.Until(secs))
	}
}
