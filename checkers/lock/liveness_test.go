package lock

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// crashHistory: process 0 takes the lock at 0.1 s (validity in ns, 0 for
// none) and crashes at 0.3 s; process 1 then asks every 0.5 s until 4 s,
// and, when grantAt > 0, is granted the lock at that time.
func crashHistory(validity int64, grantAt float64) *history.File {
	var ops []history.Op
	at := func(s float64) int64 { return int64(s * float64(time.Second)) }
	add := func(op history.Op) {
		op.Index = int64(len(ops))
		ops = append(ops, op)
	}
	add(history.Op{Process: 0, Type: history.Invoke, F: "acquire", Key: "l", Time: at(0.05)})
	add(history.Op{Process: 0, Type: history.OK, F: "acquire", Key: "l", Time: at(0.1), Node: "n1",
		Value: history.JSON(Grant{Token: "c0-1", Validity: validity, Client: "c0", Nodes: []string{"n1"}})})
	add(history.Op{Process: 0, Type: history.Invoke, F: "read", Key: "l", Time: at(0.2)})
	add(history.Op{Process: history.NemesisProcess, Type: history.Invoke, F: "holder-crash", Time: at(0.25),
		Value: history.JSON(map[string]any{"client": "c0", "process": 0, "token": "c0-1"})})
	add(history.Op{Process: history.NemesisProcess, Type: history.OK, F: "holder-crash", Time: at(0.3),
		Value: history.JSON(map[string]any{"client": "c0", "process": 0, "token": "c0-1"})})
	for s := 0.5; s < 4; s += 0.5 {
		add(history.Op{Process: 1, Type: history.Invoke, F: "acquire", Key: "l", Time: at(s)})
		if grantAt > 0 && s >= grantAt {
			add(history.Op{Process: 1, Type: history.OK, F: "acquire", Key: "l", Time: at(s + 0.01),
				Value: history.JSON(Grant{Token: "c1-1", Client: "c1"})})
			add(history.Op{Process: 1, Type: history.Invoke, F: "release", Key: "l", Time: at(s + 0.1)})
			add(history.Op{Process: 1, Type: history.OK, F: "release", Key: "l", Time: at(s + 0.11)})
			continue
		}
		add(history.Op{Process: 1, Type: history.Fail, F: "acquire", Key: "l", Time: at(s + 0.01)})
	}
	add(history.Op{Process: 0, Type: history.Info, F: "read", Key: "l", Time: at(4.5)})
	return &history.File{Ops: ops}
}

func TestLivenessStuckWithoutExpiry(t *testing.T) {
	r := NewLiveness().Check(context.Background(), crashHistory(0, 0))
	if r.Valid != checkers.Invalid || r.AnomalyCounts[KindStuck] != 1 {
		t.Fatalf("%s %s %s", r.Valid, r.Summary, r.Error)
	}
	a := r.Anomalies[0]
	for _, want := range []string{"c0 (process 0) crashed at 0.300s holding l", "with no expiry", "#2 read invoke", "7 acquisitions of l by processes 1 failed", "none succeeded"} {
		if !strings.Contains(a.Message, want) {
			t.Errorf("witness lacks %q: %s", want, a.Message)
		}
	}
	if a.Fault == nil || a.Fault.F != "holder-crash" || len(a.Ops) != 6 {
		t.Errorf("witness ops or fault: %v %d", a.Fault, len(a.Ops))
	}
}

func TestLivenessRecoveredAfterExpiry(t *testing.T) {
	r := NewLiveness().Check(context.Background(), crashHistory(int64(time.Second), 1.5))
	if r.Valid != checkers.Valid || r.Counts["recovered"] != 1 {
		t.Fatalf("%s %s %s", r.Valid, r.Summary, r.Error)
	}
}

// Failures before the crashed hold's lease runs out prove nothing: the
// lock keeps its promise to the holder until then.
func TestLivenessCountsOnlyAfterTheLease(t *testing.T) {
	r := NewLiveness().Check(context.Background(), crashHistory(int64(3*time.Second), 0))
	if r.Valid != checkers.Unknown || !strings.Contains(r.Error, "failed for only") {
		t.Fatalf("%s %s %s", r.Valid, r.Summary, r.Error)
	}
	r = NewLiveness().Check(context.Background(), crashHistory(int64(10*time.Second), 0))
	if r.Valid != checkers.Unknown || !strings.Contains(r.Error, "nobody asked") {
		t.Fatalf("%s %s %s", r.Valid, r.Summary, r.Error)
	}
}

func TestLivenessWithoutCrashIsUnknown(t *testing.T) {
	h := crashHistory(0, 0)
	var ops []history.Op
	for _, op := range h.Ops {
		if !op.IsNemesis() {
			op.Index = int64(len(ops))
			ops = append(ops, op)
		}
	}
	h.Ops = ops
	if r := NewLiveness().Check(context.Background(), h); r.Valid != checkers.Unknown {
		t.Fatalf("%s %s", r.Valid, r.Summary)
	}
}
