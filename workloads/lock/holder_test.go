package lock

import (
	"reflect"
	"testing"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// TestHolderPausePlansFromAcquires: only ok acquires strike, no closer than
// the gap, up to the count, each as a pause and its resume naming the
// holder; the same events give the same plan.
func TestHolderPausePlansFromAcquires(t *testing.T) {
	plan := func() []history.Op {
		n, err := NewHolderPause(NewPauses(), core.Params{"lock-ttl": "1s", "holder-pause-count": "2"})
		if err != nil {
			t.Fatal(err)
		}
		if n.d != 2*time.Second || n.gap != 4*time.Second {
			t.Fatalf("pause %s gap %s, want 2s and 4s from a 1s TTL", n.d, n.gap)
		}
		grant := func(c string) []byte { return history.JSON(Grant{Client: c, Token: c + "-t"}) }
		var out []history.Op
		for _, ev := range []history.Op{
			{Process: 0, Type: history.Invoke, F: FAcquire, Time: 0},
			{Process: 0, Type: history.Fail, F: FAcquire, Time: 1},
			{Process: 1, Type: history.OK, F: FAcquire, Value: grant("c1"), Node: "n2", Time: int64(time.Second)},
			{Process: 0, Type: history.OK, F: FAcquire, Value: grant("c0"), Time: int64(3 * time.Second)},
			{Process: 0, Type: history.OK, F: FRead, Value: grant("c0"), Time: int64(6 * time.Second)},
			{Process: 2, Type: history.OK, F: FAcquire, Value: grant("c2"), Time: int64(5500 * time.Millisecond)},
			{Process: 0, Type: history.OK, F: FAcquire, Value: grant("c0"), Time: int64(20 * time.Second)},
		} {
			out = append(out, n.Trigger(nil, ev, []string{"n1", "n2"})...)
		}
		return out
	}
	a := plan()
	if len(a) != 4 || a[0].F != "holder-pause" || a[1].F != "holder-resume" || a[0].Node != "n2" {
		t.Fatalf("plan %v", a)
	}
	var v HolderPauseValue
	if err := a[2].DecodeValue(&v); err != nil || v.Client != "c2" || !v.Links || v.Duration != "2s" || len(v.Nodes) != 2 {
		t.Fatalf("second strike %+v %v", v, err)
	}
	if !reflect.DeepEqual(a, plan()) {
		t.Fatal("the same events planned different faults")
	}
}
