package redis_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/internal/runtest"
	"github.com/chaostest/chaos/targets/redis"
)

// The INCR failover reproductions and their two controls, for real: the
// anomaly must be duplicates handed out by both primaries after the kill
// and the promotion; each control must be valid with IDs acknowledged both
// before the failover and after it (a control that issued nothing after
// the promotion would prove nothing).
func TestIDScenarios(t *testing.T) {
	need(t, "redis-server")
	reg := builtin.New(redis.Register)
	for _, name := range []string{"redis-incr-failover", "redis-incr-failover-skip"} {
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
					out := runtest.Local(t, reg, cfg)
					r := out.Results.Checkers["ids"]
					hf, err := history.ReadFile(core.HistoryPath(out.Dir))
					if err != nil {
						t.Fatal(err)
					}
					promoted, killed := promotionTime(hf.Ops)
					if promoted < 0 || !killed {
						t.Fatalf("the script never killed n1 and promoted n2; run in %s", out.Dir)
					}
					if control {
						if out.Results.Valid != checkers.Valid {
							t.Fatalf("control: %v (%s), want valid; run in %s", out.Results.Valid, r.Summary, out.Dir)
						}
						before, after := okAround(hf.Ops, promoted)
						if before == 0 || after == 0 {
							t.Fatalf("control acknowledged %d IDs before the promotion and %d after: it proves nothing; run in %s", before, after, out.Dir)
						}
						return
					}
					if out.Results.Valid != checkers.Invalid || r.AnomalyCounts["duplicate-id"] == 0 {
						t.Fatalf("%v %v (%s), want duplicate-id; run in %s", out.Results.Valid, r.AnomalyCounts, r.Summary, out.Dir)
					}
					a := r.Anomalies[0]
					if a.Kind != "duplicate-id" || a.Fault == nil || len(a.Ops) < 2 {
						t.Fatalf("first witness %+v: want a duplicate with its ops and the fault before", a)
					}
					for _, w := range []string{"node n1", "node n2", "issued 2 times"} {
						if !strings.Contains(a.Message, w) {
							t.Errorf("witness %q does not name %q", a.Message, w)
						}
					}
				})
			}
		}
	}
}

// promotionTime is when the promote step was invoked (-1: never), and
// whether n1 was killed with the replica behind.
func promotionTime(ops []history.Op) (int64, bool) {
	at, killed := int64(-1), false
	for _, op := range ops {
		if !op.IsNemesis() || op.Type != history.Invoke {
			continue
		}
		switch {
		case op.F == "kill" && op.Node == "n1":
			killed = true
		case op.F == "promote" && at < 0:
			at = op.Time
		}
	}
	return at, killed
}

// okAround counts the acknowledged IDs completed before and after t.
func okAround(ops []history.Op, t int64) (before, after int) {
	for _, op := range ops {
		if op.IsNemesis() || op.Type != history.OK {
			continue
		}
		if op.Time < t {
			before++
		} else {
			after++
		}
	}
	return
}
