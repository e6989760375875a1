package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/txn"
)

// FailoverName is the failover nemesis's registered name.
const FailoverName = "postgres-failover"

// failoverStep is one step of the failover: what, on which node, and how
// long after the previous step.
type failoverStep struct {
	f     string
	after time.Duration
}

// The failover, as the notes describe the asynchronous-replication hazard:
// the primary goes on acknowledging commits its standby no longer receives
// (the replication link is cut), then dies, and the standby is promoted
// without them.
var failoverSteps = []failoverStep{
	{"cut-replication", time.Second},
	{"kill-primary", 1500 * time.Millisecond},
	{"promote", 0},
}

// Failover is the postgres-failover nemesis. Its plan is fixed: the steps
// above, the primary being the first node and the promoted standby the
// second. Apply waits out the gap to the next step, and the last step holds
// the nemesis until the phase ends.
type Failover struct {
	next int
	cut  bool
	// name is the registered name (FailoverName when empty). standbyOnly
	// cuts only the link between the primary and the first standby, so
	// the other nodes (ID servers leasing from the primary) keep reaching
	// the primary while its standby falls behind.
	name        string
	standbyOnly bool
	// noWait leaves the first step's gap out of Next: a triggered plan
	// (aimedFailover) is timed by its events and must not block.
	noWait bool
}

var _ core.Nemesis = (*Failover)(nil)

// Name is "postgres-failover".
func (f *Failover) Name() string {
	if f.name != "" {
		return f.name
	}
	return FailoverName
}

// Next plans the next step.
func (f *Failover) Next(_ *rand.Rand, nodes []string) history.Op {
	if f.next >= len(failoverSteps) || len(nodes) < 2 {
		return history.Op{F: "failover-over"}
	}
	st := failoverSteps[f.next]
	if f.next == 0 && !f.noWait {
		time.Sleep(st.after)
	}
	f.next++
	op := history.Op{F: st.f, Value: history.JSON(map[string]any{"step": f.next - 1})}
	switch st.f {
	case "cut-replication":
		f.cut = true
		op.Node = nodes[0]
		others := nodes[1:]
		if f.standbyOnly {
			others = nodes[1:2]
		}
		op.Value = history.JSON(map[string]any{"step": f.next - 1, "cut": cutBetween(nodes[0], others)})
	case "kill-primary":
		op.Node = nodes[0]
	case "promote":
		f.cut = false
		op.Node = nodes[1]
	}
	return op
}

func cutBetween(a string, others []string) []core.Link {
	var out []core.Link
	for _, o := range others {
		out = append(out, core.Link{From: a, To: o}, core.Link{From: o, To: a})
	}
	return out
}

// Apply performs a step, then waits for the next one's turn.
func (f *Failover) Apply(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	var v struct {
		Step int         `json:"step"`
		Cut  []core.Link `json:"cut"`
	}
	if op.F == "heal" {
		if err := rt.Heal(ctx); err != nil {
			op.Type, op.Error = history.Fail, err.Error()
			return op
		}
		op.Type = history.OK
		return op
	}
	if op.F == "failover-over" {
		<-ctx.Done()
		op.Type, op.Error = history.Fail, "the failover is over"
		return op
	}
	if err := op.DecodeValue(&v); err != nil {
		op.Type, op.Error = history.Fail, "bad step: "+err.Error()
		return op
	}
	var err error
	switch op.F {
	case "cut-replication":
		err = rt.Partition(ctx, v.Cut)
	case "kill-primary":
		err = rt.Kill(ctx, op.Node)
	case "promote":
		// Finish the promotion even when the phase ends meanwhile, so the
		// final reads find a primary.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
		if err = rt.Heal(pctx); err == nil {
			err = promote(pctx, rt, op.Node)
		}
		cancel()
	default:
		err = fmt.Errorf("unknown step %q", op.F)
	}
	if err != nil {
		op.Type, op.Error = history.Fail, err.Error()
	} else {
		op.Type = history.OK
	}
	if v.Step+1 < len(failoverSteps) {
		select {
		case <-ctx.Done():
		case <-time.After(failoverSteps[v.Step+1].after):
		}
	} else {
		<-ctx.Done()
	}
	return op
}

// promote makes node's standby a primary and waits until it is one.
func promote(ctx context.Context, rt core.Runtime, node string) error {
	a, err := rt.Addr("", node, Port)
	if err != nil {
		return err
	}
	c, err := connect(ctx, a)
	if err != nil {
		return fmt.Errorf("promote %s: %w", node, err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	var ok bool
	if err := c.QueryRow(ctx, "SELECT pg_promote(true, 30)").Scan(&ok); err != nil {
		return fmt.Errorf("promote %s: %w", node, err)
	}
	if !ok {
		return fmt.Errorf("promote %s: not promoted within 30s", node)
	}
	return nil
}

// HealOps heals a cut the failover left. The old primary stays down: started
// again it would be a second primary holding the commits the standby lost.
func (f *Failover) HealOps([]string) []history.Op {
	if !f.cut {
		return nil
	}
	f.cut = false
	return []history.Op{{F: "heal"}}
}

// scenarios are the target's named reproductions.
func scenarios() []core.ScenarioInfo {
	return []core.ScenarioInfo{{
		Name:          "postgres-async-failover",
		Summary:       "a PostgreSQL primary with an asynchronous standby: replication cut, the primary acknowledges commits, dies, the standby is promoted",
		Expect:        "acknowledged appends the primary served are missing after the promotion: reads before and after disagree (incompatible-order), or reads that began after an acknowledged append lack it (a -realtime cycle)",
		ControlExpect: "synchronous replication (--postgres-sync on): commits wait for the standby, end as info while it is cut off, and nothing acknowledged is lost",
		Config: func(control bool) core.Config {
			sync := "off"
			if control {
				sync = "on"
			}
			return core.Config{Target: Name, Workload: txn.ListAppend, Nodes: 2, Concurrency: 5,
				TimeLimit: 10 * time.Second, Nemeses: []string{FailoverName}, NemesisInterval: time.Millisecond,
				Seed: 1, Rate: 200,
				// Strict serializability: an acknowledged append that no
				// read showed is still caught, by the reads that began after
				// it completed and lack it.
				Params: core.Params{"postgres-sync": sync, "postgres-isolation": "serializable", "txn-keys": "3", "txn-model": "strict-serializable"},
				// Longer than the cut lasts (the kill comes once every
				// client waits, or 6 s after the cut): a client that gave up
				// on a COMMIT waiting for the standby would cancel the wait,
				// and PostgreSQL would then show the commit to others
				// before the standby has it.
				OpTimeout: 15 * time.Second, FinalTimeout: 20 * time.Second, CheckTimeout: time.Minute}
		},
	}, {
		Name:          "postgres-sync-cancel",
		Summary:       "a PostgreSQL primary with a synchronous standby: replication cut, a client cancels a COMMIT waiting for the standby, others read the commit, the primary dies, the standby is promoted",
		Expect:        "the cancelled commit (info: \"canceling wait for synchronous replication\") was read on the primary and is missing after the promotion: reads before and after disagree (incompatible-order)",
		ControlExpect: "the same clients never cancel a COMMIT: commits wait for the standby, end as info only by the failover, and nothing anyone read is lost",
		Config: func(control bool) core.Config {
			cancel := "1s"
			if control {
				cancel = "0s"
			}
			return core.Config{Target: Name, Workload: txn.ListAppend, Nodes: 2, Concurrency: 5,
				TimeLimit: 10 * time.Second, Nemeses: []string{FailoverName}, NemesisInterval: time.Millisecond,
				Seed: 1, Rate: 200,
				// A COMMIT waiting 1 s for the cut-off standby is
				// cancelled by the client (a CancelRequest, as pgx sends
				// when a context ends), well before the operation
				// times out; the failover is aimed at an ok read of that
				// commit's value.
				Params: core.Params{"postgres-sync": "on", "postgres-commit-cancel": cancel, "postgres-isolation": "serializable",
					"txn-keys": "3", "txn-model": "strict-serializable"},
				OpTimeout: 15 * time.Second, FinalTimeout: 20 * time.Second, CheckTimeout: time.Minute}
		},
	}}
}
