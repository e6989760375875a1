package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/runtime/linkproxy"
)

// recorder is a runtime that notes what nemeses ask of it.
type recorder struct {
	core.Runtime // unused methods panic
	mu           sync.Mutex
	calls        []string
	offsets      map[string]time.Duration
}

func (r *recorder) note(s string)                            { r.mu.Lock(); r.calls = append(r.calls, s); r.mu.Unlock() }
func (r *recorder) Kill(_ context.Context, n string) error   { r.note("kill " + n); return nil }
func (r *recorder) Start(_ context.Context, n string) error  { r.note("start " + n); return nil }
func (r *recorder) Pause(_ context.Context, n string) error  { r.note("pause " + n); return nil }
func (r *recorder) Resume(_ context.Context, n string) error { r.note("resume " + n); return nil }
func (r *recorder) Partition(_ context.Context, cut []core.Link) error {
	r.note(fmt.Sprintf("partition %v", cut))
	return nil
}
func (r *recorder) Heal(context.Context) error { r.note("heal"); return nil }
func (r *recorder) ShapeLinks(_ context.Context, ls []core.Link, s linkproxy.Shape) error {
	r.note(fmt.Sprintf("shape %v %+v", ls, s))
	return nil
}
func (r *recorder) Name() string { return "recorder" }
func (r *recorder) SetClockOffset(_ context.Context, n string, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.offsets == nil {
		r.offsets = map[string]time.Duration{}
	}
	r.offsets[n] = d
	r.calls = append(r.calls, fmt.Sprintf("clock %s %s", n, d))
	return nil
}

var nodes = []string{"n1", "n2", "n3"}

func newNemesis(t *testing.T, info core.NemesisInfo, p core.Params) core.Nemesis {
	t.Helper()
	full := core.Params{}
	for _, x := range info.Params {
		full[x.Name] = x.Default
	}
	for k, v := range p {
		full[k] = v
	}
	n, err := info.New(full)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func infos() map[string]core.NemesisInfo {
	r := core.NewRegistry()
	Register(r)
	out := map[string]core.NemesisInfo{}
	for _, n := range r.Nemeses() {
		out[n.Name] = n
	}
	return out
}

// run plans and applies n faults, then the heal.
func run(t *testing.T, nem core.Nemesis, seed uint64, n int) (*recorder, []history.Op) {
	rt := &recorder{}
	rng := rand.New(rand.NewPCG(seed, 0))
	var plan []history.Op
	for i := 0; i < n; i++ {
		op := nem.Next(rng, nodes)
		plan = append(plan, op)
		if done := nem.Apply(context.Background(), rt, op); done.Type != history.OK {
			t.Fatalf("%v: %s %s", op, done.Type, done.Error)
		}
	}
	for _, op := range nem.HealOps(nodes) {
		plan = append(plan, op)
		nem.Apply(context.Background(), rt, op)
	}
	return rt, plan
}

func TestPlansAreDeterministic(t *testing.T) {
	for name, info := range infos() {
		if _, trig := newNemesis(t, info, nil).(core.Triggered); trig {
			continue // planned from events, see TestAimedRollback
		}
		_, a := run(t, newNemesis(t, info, core.Params{"clock-strobe-duration": "1ms", "clock-strobe-period": "1ms"}), 9, 30)
		_, b := run(t, newNemesis(t, info, core.Params{"clock-strobe-duration": "1ms", "clock-strobe-period": "1ms"}), 9, 30)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: the same seed planned different faults", name)
		}
	}
}

func TestKillAndPauseHealEverything(t *testing.T) {
	for _, name := range []string{"kill", "pause"} {
		for seed := uint64(0); seed < 20; seed++ {
			rt, _ := run(t, newNemesis(t, infos()[name], nil), seed, 7)
			down := map[string]bool{}
			for _, c := range rt.calls {
				var verb, node string
				fmt.Sscan(c, &verb, &node)
				switch verb {
				case "kill", "pause":
					down[node] = true
				case "start", "resume":
					down[node] = false
				}
			}
			for n, d := range down {
				if d {
					t.Fatalf("%s seed %d: %s left down: %v", name, seed, n, rt.calls)
				}
			}
		}
	}
}

func TestClockRecordsOffsetsAndResets(t *testing.T) {
	nem := newNemesis(t, infos()["clock"], core.Params{"clock-strobe-duration": "5ms", "clock-strobe-period": "1ms"})
	rt, plan := run(t, nem, 1, 20)
	for _, op := range plan {
		v, err := DecodeClockValue(&op)
		if err != nil || v.Offset == "" {
			t.Fatalf("%v: value %+v %v", op, v, err)
		}
		if v.MaxOffsetNS < 0 || (v.OffsetNS != 0 && v.MaxOffsetNS < abs(v.OffsetNS)) {
			t.Fatalf("%v: max offset %d below |offset| %d", op, v.MaxOffsetNS, v.OffsetNS)
		}
	}
	for n, d := range rt.offsets {
		if d != 0 {
			t.Fatalf("clock of %s left at %s after heal", n, d)
		}
	}
}

func TestBadParams(t *testing.T) {
	for name, p := range map[string]core.Params{
		"negative rollback": {"clock-rollback": "-1s"},
		"not a duration":    {"clock-bump": "far"},
		"zero period":       {"clock-strobe-period": "0s"},
	} {
		full := core.Params{}
		for _, x := range infos()["clock"].Params {
			full[x.Name] = x.Default
		}
		for k, v := range p {
			full[k] = v
		}
		if _, err := NewClock(full); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := NewKill(core.Params{"kill-restart-delay": "-1s"}); err == nil {
		t.Error("negative restart delay accepted")
	}
}

// TestHealFollowsWhatWasApplied: a planned fault that never ran must not
// hide a fault that did.
func TestHealFollowsWhatWasApplied(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, name := range []string{"pause", "kill"} {
		nem := newNemesis(t, infos()[name], nil)
		rt := &recorder{}
		var first history.Op
		for first.F != "pause" && first.F != "kill" {
			first = nem.Next(rng, nodes)
			if first.F == "restart" {
				first = history.Op{} // a restart heals itself; look for a lasting fault
				nem = newNemesis(t, infos()[name], nil)
			}
		}
		nem.Apply(context.Background(), rt, first)
		undo := nem.Next(rng, nodes) // planned, never applied: the run ended
		if undo.Node != first.Node {
			t.Fatalf("%s: planned %v after %v", name, undo, first)
		}
		heal := nem.HealOps(nodes)
		if len(heal) != 1 || heal[0].Node != first.Node {
			t.Fatalf("%s: heal %v leaves %s faulted", name, heal, first.Node)
		}
	}
	nem := newNemesis(t, infos()["pause"], nil)
	nem.Next(rng, nodes) // planned, never applied
	if heal := nem.HealOps(nodes); len(heal) != 0 {
		t.Fatalf("heal of a fault that never ran: %v", heal)
	}
}

// TestAimedRollback: the rollback strikes the node of the first ok answer
// that comes After the first one, once per node up to Count, and moves its
// clock back By; the plan follows the events alone.
func TestAimedRollback(t *testing.T) {
	plan := func() []history.Op {
		nem := newNemesis(t, infos()["aimed-rollback"], core.Params{"aimed-rollback-after": "1s", "aimed-rollback-by": "2s", "aimed-rollback-count": "2"})
		tn := nem.(core.Triggered)
		var out []history.Op
		for i, ev := range []history.Op{
			{Process: 0, Type: history.OK, Node: "n1", Time: int64(100 * time.Millisecond)},
			{Process: 1, Type: history.Invoke, Node: "n2", Time: int64(1200 * time.Millisecond)},
			{Process: 1, Type: history.Fail, Node: "n2", Time: int64(1300 * time.Millisecond)},
			{Process: 1, Type: history.OK, Node: "n2", Time: int64(1400 * time.Millisecond)},
			{Process: 0, Type: history.OK, Node: "n2", Time: int64(1500 * time.Millisecond)},
			{Process: 0, Type: history.OK, Node: "n3", Time: int64(1600 * time.Millisecond)},
			{Process: 0, Type: history.OK, Node: "n1", Time: int64(1700 * time.Millisecond)},
		} {
			ev.Index = int64(i)
			out = append(out, tn.Trigger(nil, ev, nodes)...)
		}
		return out
	}
	a := plan()
	if len(a) != 2 || a[0].Node != "n2" || a[1].Node != "n3" || a[0].F != "clock-rollback" {
		t.Fatalf("plan %v", a)
	}
	if !reflect.DeepEqual(a, plan()) {
		t.Fatal("the same events planned different faults")
	}
	nem := newNemesis(t, infos()["aimed-rollback"], nil)
	rt := &recorder{}
	if done := nem.Apply(context.Background(), rt, a[0]); done.Type != history.OK {
		t.Fatalf("apply: %v", done)
	}
	if rt.offsets["n2"] != -2*time.Second {
		t.Fatalf("n2 offset %s, want -2s", rt.offsets["n2"])
	}
	heal := nem.HealOps(nodes)
	if len(heal) != 1 || heal[0].Node != "n2" || heal[0].F != "clock-reset" {
		t.Fatalf("heal %v", heal)
	}
}

// TestAimedRollbackReplay: with a replay, a struck node is rolled back
// again, each time it has run By further, to the moment the first rollback
// left it at, until the replay has passed.
func TestAimedRollbackReplay(t *testing.T) {
	nem := newNemesis(t, infos()["aimed-rollback"], core.Params{"aimed-rollback-after": "1s", "aimed-rollback-by": "100ms",
		"aimed-rollback-count": "1", "aimed-rollback-replay": "2s"})
	tn := nem.(core.Triggered)
	var out []history.Op
	for i, ms := range []int64{0, 1000, 1050, 1150, 1200, 1260, 3050, 3200} {
		ev := history.Op{Process: 0, Type: history.OK, Node: "n1", Time: ms * int64(time.Millisecond), Index: int64(i)}
		out = append(out, tn.Trigger(nil, ev, nodes)...)
	}
	var offs, deltas []string
	for _, op := range out {
		v, err := DecodeClockValue(&op)
		if err != nil || op.F != "clock-rollback" || op.Node != "n1" || v.MaxOffsetNS != -v.OffsetNS {
			t.Fatalf("op %v: %v", op, err)
		}
		offs, deltas = append(offs, v.Offset), append(deltas, v.Delta)
	}
	// 1000: -100ms; 1150: back by the 150ms run since; 1260: by 110ms more;
	// 3050 is more than 2s after the first and ends the replay.
	if want := []string{"-100ms", "-250ms", "-360ms"}; !reflect.DeepEqual(offs, want) {
		t.Fatalf("offsets %v, want %v", offs, want)
	}
	if want := []string{"-100ms", "-150ms", "-110ms"}; !reflect.DeepEqual(deltas, want) {
		t.Fatalf("deltas %v, want %v", deltas, want)
	}
}
