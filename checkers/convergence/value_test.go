package convergence

import (
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// Class 3: the winner was picked by version alone, so every node holding
// the old value under the newest write's version was "converged". Fails
// before the value is compared.
func TestOldValueUnderNewestVersionIsALostWrite(t *testing.T) {
	b := newBuilder("n1", "n2")
	b.write(0, "k", "n1", 1, history.OK, 100, 10)
	b.write(1, "k", "n2", 2, history.OK, 200, 20)
	b.fault("heal", 40)
	b.dump(0, "n1", 100, held{"k", "1", 100, "n1", 11}, held{"k", "1", 200, "n2", 30})
	b.dump(1, "n2", 100, held{"k", "1", 200, "n2", 30})
	r := b.check(t)
	if r.Valid != checkers.Invalid || r.AnomalyCounts["lost-write"] != 1 {
		t.Fatalf("want one lost write: %+v", r)
	}
	if a := r.Anomalies[0]; a.Ops[0].Index != 3 || a.Processes[0] != 1 {
		t.Fatalf("witness does not name the lost write (record 3): %+v", a)
	}
}

// A write recorded as fail that a node took as current, even one later
// superseded, must be flagged. Fails before.
func TestFailedWriteInAVersionLogIsFlagged(t *testing.T) {
	b := newBuilder("n1", "n2")
	b.write(0, "k", "n1", 1, history.Fail, 0, 10)
	b.write(1, "k", "n2", 2, history.OK, 200, 20)
	b.fault("heal", 40)
	b.dump(0, "n1", 100, held{"k", "1", 100, "n1", 11}, held{"k", "2", 200, "n2", 30})
	b.dump(1, "n2", 100, held{"k", "2", 200, "n2", 21})
	r := b.check(t)
	if r.Valid != checkers.Invalid || r.AnomalyCounts["failed-write-visible"] != 1 {
		t.Fatalf("want failed-write-visible: %+v", r)
	}
	a := r.Anomalies[0]
	if a.Ops[0].Index != 0 || a.Ops[1].Type != history.Fail || len(a.Nodes) != 1 || a.Nodes[0] != "n1" {
		t.Fatalf("witness %+v", a)
	}
}

// A read of a key nobody wrote or holds, returning a value, was never
// judged (only written or held keys were): "valid". Found by the oracle.
func TestReadOfAKeyNeverWrittenIsAPhantom(t *testing.T) {
	b := newBuilder("n1")
	b.write(0, "k", "n1", 1, history.OK, 100, 10)
	b.read(0, "ghost", "n1", "999", 20)
	b.fault("heal", 40)
	b.dump(0, "n1", 100, held{"k", "1", 100, "n1", 11})
	r := b.check(t)
	if r.Valid != checkers.Invalid || r.AnomalyCounts["phantom-read"] != 1 {
		t.Fatalf("want a phantom read: %+v", r)
	}
	if a := r.Anomalies[0]; a.Ops[0].Index != 3 {
		t.Fatalf("witness does not name the read (record 3): %+v", a)
	}
}
