package postgres

import (
	"bytes"
	"math/rand/v2"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// aimedFailover is postgres-failover aimed at the state the hazard needs:
// the primary is killed only once it has acknowledged appends that were
// invoked after the replication cut, so the standby certainly lacks them.
// A timer cannot promise that on a loaded machine: a client starved for the
// gap between cut and kill acknowledges nothing, and nothing is lost.
//
// The plan is a function of the recorded events only: the cut fires at the
// warmUp-th acknowledged transaction, the kill and the promotion at the
// acked-th acknowledged append invoked after the cut, or at the first event
// recorded giveUp after the cut (synchronous replication acknowledges
// nothing while the standby is cut off, and its failover must still happen).
type aimedFailover struct {
	Failover
	ok       int             // acknowledged transactions before the cut
	cutAt    int64           // the cut's event index; -1 before
	cutTime  int64           // its recorded time
	invoked  map[int64]int64 // process → index of its open invocation
	acked    int             // acknowledged appends invoked after the cut
	finished bool
}

const (
	aimedWarmUp = 20
	aimedAcked  = 5
	aimedGiveUp = 6 * time.Second
)

var (
	_ core.Nemesis   = (*aimedFailover)(nil)
	_ core.Triggered = (*aimedFailover)(nil)
)

func newAimedFailover() *aimedFailover {
	return &aimedFailover{Failover: Failover{noWait: true}, cutAt: -1, invoked: map[int64]int64{}}
}

// Trigger plans the cut, then the kill and the promotion.
func (a *aimedFailover) Trigger(rng *rand.Rand, ev history.Op, nodes []string) []history.Op {
	if a.finished || ev.IsNemesis() || len(nodes) < 2 {
		return nil
	}
	p := int64(ev.Process)
	if ev.Type == history.Invoke {
		a.invoked[p] = ev.Index
		return nil
	}
	inv, open := a.invoked[p]
	delete(a.invoked, p)
	if a.cutAt < 0 {
		if ev.Type == history.OK {
			a.ok++
		}
		if a.ok < aimedWarmUp {
			return nil
		}
		a.cutAt, a.cutTime = ev.Index, ev.Time
		return []history.Op{a.plan(rng, nodes)}
	}
	if ev.Type == history.OK && open && inv > a.cutAt && bytes.Contains(ev.Value, []byte(`"append"`)) {
		a.acked++
	}
	if a.acked < aimedAcked && time.Duration(ev.Time-a.cutTime) < aimedGiveUp {
		return nil
	}
	a.finished = true
	return []history.Op{a.plan(rng, nodes), a.plan(rng, nodes)}
}

// plan is the failover's next step, with the step's gap left to Apply.
func (a *aimedFailover) plan(rng *rand.Rand, nodes []string) history.Op {
	return a.Failover.Next(rng, nodes)
}
