package postgres

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
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
// acked-th acknowledged append invoked after the cut, once every live client
// waits on an append invoked after the cut, or at the first event recorded
// giveUp after the cut. Synchronous replication acknowledges nothing while
// the standby is cut off, and its failover must still happen; it must also
// come before a client gives up on a waiting COMMIT: the client's cancel
// ends PostgreSQL's wait for the standby, the commit then becomes visible on
// the primary alone, others read it, and the failover loses what they read.
// That is a real hazard of synchronous replication, but not the one the
// control stands for, so the kill is aimed at the moment every client is
// blocked, long before an operation times out.
type aimedFailover struct {
	Failover
	ok      int             // acknowledged transactions before the cut
	cutAt   int64           // the cut's event index; -1 before
	cutTime int64           // its recorded time
	invoked map[int64]int64 // process → index of its open invocation
	appends map[int64]bool  // process → its open invocation appends
	live    map[int64]bool  // processes that invoked and did not end in info
	acked   int             // acknowledged appends invoked after the cut
	// blockable: commits wait for the standby (--postgres-sync on or
	// remote_apply), so the kill also comes once every client waits. With
	// asynchronous replication every client may well be appending at once
	// right after the cut, and the kill must wait for acknowledgements.
	blockable bool
	// cancelAimed: clients cancel a COMMIT that waits too long
	// (--postgres-commit-cancel), and the kill waits instead for the state
	// that cancel makes: an append whose wait for the standby was cancelled
	// (info) and an ok read that shows its value, so others have seen a
	// commit the standby lacks. canceled holds those appends' values by key.
	cancelAimed bool
	canceled    map[string]map[int64]bool
	finished    bool
}

const (
	aimedWarmUp = 20
	aimedAcked  = 5
	aimedGiveUp = 6 * time.Second
	// cancelGiveUp bounds the wait for a cancelled commit and a read of it.
	cancelGiveUp = 15 * time.Second
)

var (
	_ core.Nemesis   = (*aimedFailover)(nil)
	_ core.Triggered = (*aimedFailover)(nil)
)

func newAimedFailover(blockable bool) *aimedFailover {
	return &aimedFailover{Failover: Failover{noWait: true}, cutAt: -1, blockable: blockable,
		invoked: map[int64]int64{}, appends: map[int64]bool{}, live: map[int64]bool{}, canceled: map[string]map[int64]bool{}}
}

// Trigger plans the cut, then the kill and the promotion.
func (a *aimedFailover) Trigger(rng *rand.Rand, ev history.Op, nodes []string) []history.Op {
	if a.finished || ev.IsNemesis() || len(nodes) < 2 {
		return nil
	}
	p := int64(ev.Process)
	if ev.Type == history.Invoke {
		a.invoked[p] = ev.Index
		a.appends[p] = bytes.Contains(ev.Value, []byte(`"append"`))
		a.live[p] = true
		return a.killIfAllBlocked(rng, nodes)
	}
	inv, open := a.invoked[p]
	delete(a.invoked, p)
	delete(a.appends, p)
	if a.cancelAimed {
		return a.aimAtCancel(rng, ev, inv, open, nodes)
	}
	if ev.Type == history.Info {
		delete(a.live, p)
		if ops := a.killIfAllBlocked(rng, nodes); ops != nil {
			return ops
		}
	}
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

// aimAtCancel plans the cut after the warm-up, then the kill and the
// promotion once an ok read shows the value of an append invoked after the
// cut whose commit ended in info by the client's cancel (or cancelGiveUp
// after the cut, so the failover still happens).
func (a *aimedFailover) aimAtCancel(rng *rand.Rand, ev history.Op, inv int64, open bool, nodes []string) []history.Op {
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
	var mops [][3]json.RawMessage
	_ = json.Unmarshal(ev.Value, &mops) // a value that is no transaction aims nothing
	switch {
	case ev.Type == history.Info && open && inv > a.cutAt && strings.Contains(ev.Error, "synchronous replication"):
		for _, m := range mops {
			var f string
			var v int64
			if json.Unmarshal(m[0], &f) != nil || f != "append" || json.Unmarshal(m[2], &v) != nil {
				continue
			}
			k := string(m[1])
			if a.canceled[k] == nil {
				a.canceled[k] = map[int64]bool{}
			}
			a.canceled[k][v] = true
		}
	case ev.Type == history.OK:
		for _, m := range mops {
			var f string
			var l []int64
			if json.Unmarshal(m[0], &f) != nil || f != "r" || json.Unmarshal(m[2], &l) != nil {
				continue
			}
			for _, v := range l {
				if a.canceled[string(m[1])][v] {
					a.finished = true
					return []history.Op{a.plan(rng, nodes), a.plan(rng, nodes)}
				}
			}
		}
	}
	if time.Duration(ev.Time-a.cutTime) < cancelGiveUp {
		return nil
	}
	a.finished = true
	return []history.Op{a.plan(rng, nodes), a.plan(rng, nodes)}
}

// killIfAllBlocked plans the kill and the promotion once the cut is planned
// and every live client waits on an append: the state in which synchronous
// replication has stopped every writer, and after which no event comes
// until a client times out. An append invoked before the cut and still
// open waits too; one that could still commit before the cut takes effect
// is replicated, as the cut is not there yet. A process that ended in info
// is gone (its replacement invokes under a new number); a live one between
// a completion and its next invoke is free and keeps the state from being
// reached.
func (a *aimedFailover) killIfAllBlocked(rng *rand.Rand, nodes []string) []history.Op {
	if !a.blockable || a.cancelAimed || a.cutAt < 0 || a.finished || len(a.live) == 0 {
		return nil
	}
	for p := range a.live {
		if _, open := a.invoked[p]; !open || !a.appends[p] {
			return nil
		}
	}
	a.finished = true
	return []history.Op{a.plan(rng, nodes), a.plan(rng, nodes)}
}

// plan is the failover's next step, with the step's gap left to Apply.
func (a *aimedFailover) plan(rng *rand.Rand, nodes []string) history.Op {
	return a.Failover.Next(rng, nodes)
}
