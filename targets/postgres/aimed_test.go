package postgres

import (
	"math/rand/v2"
	"testing"

	"github.com/chaostest/chaos/history"
)

// feed plays events through the aimed failover and returns the index of the
// event that planned the kill (-1 if none did).
func feed(a *aimedFailover, evs []history.Op) int {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range evs {
		evs[i].Index = int64(i)
		evs[i].Time = int64(i) // 1 ns apart: the 6 s give-up never comes
		if ops := a.Trigger(rng, evs[i], []string{"n1", "n2"}); len(ops) == 2 {
			return i
		}
	}
	return -1
}

// warmUpAndCut is 20 acknowledged reads of two clients; the last one plans
// the cut.
func warmUpAndCut() []history.Op {
	var evs []history.Op
	for i := 0; i < aimedWarmUp; i++ {
		p := i % 2
		evs = append(evs,
			history.Op{Process: p, Type: history.Invoke, F: "txn", Value: []byte(`[["r",1,null]]`)},
			history.Op{Process: p, Type: history.OK, F: "txn", Value: []byte(`[["r",1,[]]]`)})
	}
	return evs
}

func appendOp(p int, t history.Type) history.Op {
	return history.Op{Process: p, Type: t, F: "txn", Value: []byte(`[["append",1,7]]`)}
}

// With synchronous standbys the kill comes once every live client waits on
// an append invoked after the cut, before any of them can time out and
// cancel its COMMIT's wait.
func TestSyncFailoverKillsOnceEveryClientWaits(t *testing.T) {
	evs := append(warmUpAndCut(), appendOp(0, history.Invoke), appendOp(1, history.Invoke))
	if got, want := feed(newAimedFailover(true), evs), len(evs)-1; got != want {
		t.Fatalf("kill planned at event %d, want %d (the second client's append)", got, want)
	}
}

// A client that is free (between a completion and its next invocation)
// keeps the kill back, and one that ended in info no longer counts.
func TestSyncFailoverWaitsForFreeClients(t *testing.T) {
	evs := append(warmUpAndCut(),
		appendOp(0, history.Invoke),
		history.Op{Process: 1, Type: history.Invoke, F: "txn", Value: []byte(`[["r",1,null]]`)},
		history.Op{Process: 1, Type: history.OK, F: "txn", Value: []byte(`[["r",1,[]]]`)})
	if got := feed(newAimedFailover(true), evs); got != -1 {
		t.Fatalf("kill planned at event %d while client 1 was free", got)
	}
	evs = append(warmUpAndCut(),
		appendOp(0, history.Invoke),
		history.Op{Process: 1, Type: history.Invoke, F: "txn", Value: []byte(`[["r",1,null]]`)},
		history.Op{Process: 1, Type: history.Info, F: "txn", Value: []byte(`[["r",1,null]]`)})
	if got, want := feed(newAimedFailover(true), evs), len(evs)-1; got != want {
		t.Fatalf("kill planned at event %d, want %d (client 1 gone, 0 waiting)", got, want)
	}
}

// An append invoked before the cut and still open waits as well.
func TestSyncFailoverCountsAppendsOpenAtTheCut(t *testing.T) {
	evs := append([]history.Op{appendOp(2, history.Invoke)}, warmUpAndCut()...)
	evs = append(evs, appendOp(0, history.Invoke), appendOp(1, history.Invoke))
	if got, want := feed(newAimedFailover(true), evs), len(evs)-1; got != want {
		t.Fatalf("kill planned at event %d, want %d (client 2 waiting since before the cut)", got, want)
	}
}

// Aimed at a cancelled commit, the kill waits neither for every client to
// block nor for a read of another value: only an ok read that shows the
// value of an append invoked after the cut whose wait was cancelled fires it.
func TestCancelAimedKillsAtAReadOfTheCancelledCommit(t *testing.T) {
	a := newAimedFailover(true)
	a.cancelAimed = true
	cancelled := appendOp(0, history.Info)
	cancelled.Error = "commit: canceling wait for synchronous replication due to user request"
	evs := append(warmUpAndCut(),
		appendOp(0, history.Invoke), appendOp(1, history.Invoke), // every client waits: no kill
		cancelled,
		history.Op{Process: 2, Type: history.Invoke, F: "txn", Value: []byte(`[["r",1,null]]`)},
		history.Op{Process: 2, Type: history.OK, F: "txn", Value: []byte(`[["r",1,[3]]]`)}, // not the value
		history.Op{Process: 2, Type: history.Invoke, F: "txn", Value: []byte(`[["r",1,null]]`)},
		history.Op{Process: 2, Type: history.OK, F: "txn", Value: []byte(`[["r",1,[3,7]]]`)})
	if got, want := feed(a, evs), len(evs)-1; got != want {
		t.Fatalf("kill planned at event %d, want %d (the read of 7)", got, want)
	}
}

// A commit that ended in info for another reason (the connection broke) is
// no cancelled wait: a read of its value fires nothing.
func TestCancelAimedIgnoresOtherInfo(t *testing.T) {
	a := newAimedFailover(true)
	a.cancelAimed = true
	broken := appendOp(0, history.Info)
	broken.Error = "commit: unexpected EOF"
	evs := append(warmUpAndCut(), appendOp(0, history.Invoke), broken,
		history.Op{Process: 2, Type: history.Invoke, F: "txn", Value: []byte(`[["r",1,null]]`)},
		history.Op{Process: 2, Type: history.OK, F: "txn", Value: []byte(`[["r",1,[7]]]`)})
	if got := feed(a, evs); got != -1 {
		t.Fatalf("kill planned at event %d, want none", got)
	}
}
