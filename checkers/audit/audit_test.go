package audit

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/checkers/bank"
	"github.com/chaostest/chaos/checkers/linearizable"
	"github.com/chaostest/chaos/checkers/lock"
	"github.com/chaostest/chaos/checkers/txn"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/kv"
)

// subject is one checker with a history it judges valid.
type subject struct {
	name string
	c    checkers.Checker
	base *history.File
}

// seq renumbers ops and gives them increasing times, so each hand-built
// base is well formed by construction.
func seq(ops ...history.Op) []history.Op {
	for i := range ops {
		ops[i].Index = int64(i)
		ops[i].Time = int64(i+1) * int64(time.Millisecond)
	}
	return ops
}

func inv(p int, f, key, node string, v any) history.Op {
	op := history.Op{Process: p, Type: history.Invoke, F: f, Key: key, Node: node}
	if v != nil {
		op.Value = history.JSON(v)
	}
	return op
}

func done(p int, t history.Type, f, key, node string, v any) history.Op {
	op := inv(p, f, key, node, v)
	op.Type = t
	return op
}

// recorded are real runs in the checkers' testdata, judged with the
// checkers their workload gives them.
func recorded(t *testing.T) []subject {
	reg := builtin.New()
	var out []subject
	for _, f := range []string{
		"../convergence/testdata/gossip-partition.jsonl",
		"../ids/testdata/snowflake-monotonic-clock.jsonl",
		"../linearizable/testdata/refkv-register.jsonl",
		"../lock/testdata/etcd-fenced-lock-set.jsonl",
		"../lock/testdata/redis-redlock-lock-set.jsonl",
	} {
		hf, err := history.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		w, err := core.WorkloadFor(reg, &hf.Header)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := w.Checkers(&hf.Header)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			out = append(out, subject{filepath.Base(f) + "/" + c.Name(), c, hf})
		}
	}
	return out
}

// handBuilt are small valid histories of the checkers no recorded run here
// covers.
func handBuilt() []subject {
	file := func(ops ...history.Op) *history.File {
		return &history.File{Header: history.Header{Start: time.Unix(1.7e9, 0)}, Ops: seq(ops...)}
	}
	la := func(mops ...[]any) [][]any { return mops }
	t12 := bank.Transfer{ID: 12, From: 0, To: 1, Amount: 5}
	final := bank.Final{Participants: []bank.Participant{
		{Name: "p1", Balances: map[int]int64{0: 95, 2: 100}, Committed: []int64{12}},
		{Name: "p2", Balances: map[int]int64{1: 105, 3: 100}, Committed: []int64{12}}}}
	return []subject{
		{"list-append", txn.New(txn.ListAppend), file(
			inv(0, txn.F, "", "n1", la([]any{"append", "x", 1})), done(0, history.OK, txn.F, "", "n1", la([]any{"append", "x", 1})),
			inv(1, txn.F, "", "n1", la([]any{"r", "x", nil})), done(1, history.OK, txn.F, "", "n1", la([]any{"r", "x", []int{1}})),
			inv(0, txn.F, "", "n1", la([]any{"append", "x", 2})), done(0, history.OK, txn.F, "", "n1", la([]any{"append", "x", 2})),
		)},
		{"rw-register", txn.New(txn.RWRegister), file(
			inv(0, txn.F, "", "n1", la([]any{"r", "x", nil}, []any{"w", "x", 1})), done(0, history.OK, txn.F, "", "n1", la([]any{"r", "x", nil}, []any{"w", "x", 1})),
			inv(1, txn.F, "", "n1", la([]any{"r", "x", nil}, []any{"w", "x", 2})), done(1, history.OK, txn.F, "", "n1", la([]any{"r", "x", 1}, []any{"w", "x", 2})),
			inv(0, txn.F, "", "n1", la([]any{"r", "x", nil})), done(0, history.OK, txn.F, "", "n1", la([]any{"r", "x", 2})),
		)},
		{"bank", bank.New(4, 100), file(
			inv(1, bank.FTransfer, "", "n1", t12), done(1, history.OK, bank.FTransfer, "", "n1", t12),
			inv(2, bank.FRead, "", "n1", nil), done(2, history.OK, bank.FRead, "", "n1", map[int]int64{0: 95, 1: 105, 2: 100, 3: 100}),
			inv(1, bank.FRead, "", "n1", nil), done(1, history.OK, bank.FRead, "", "n1", map[int]int64{0: 95, 1: 105, 2: 100, 3: 100}),
			inv(0, bank.FFinal, "", "n1", nil), done(0, history.OK, bank.FFinal, "", "n1", final),
		)},
		{"mutex", linearizable.New(linearizable.Mutex()), file(
			inv(0, "acquire", "", "n1", nil), done(0, history.OK, "acquire", "", "n1", nil),
			inv(0, "release", "", "n1", nil), done(0, history.OK, "release", "", "n1", nil),
			inv(1, "acquire", "", "n1", nil), done(1, history.OK, "acquire", "", "n1", nil),
		)},
		{"set", linearizable.New(linearizable.Set()), file(
			inv(0, "add", "", "n1", 1), done(0, history.OK, "add", "", "n1", 1),
			inv(1, "read", "", "n1", nil), done(1, history.OK, "read", "", "n1", []int{1}),
			inv(0, "add", "", "n1", 2), done(0, history.OK, "add", "", "n1", 2),
		)},
		{"kv", kv.OnlyOf(linearizable.New(linearizable.KV(linearizable.CASRegister())), []string{"read", "write", "cas"}, "read", "write", "cas"), file(
			inv(0, "write", "a", "n1", 1), done(0, history.OK, "write", "a", "n1", 1),
			inv(1, "read", "a", "n1", nil), done(1, history.OK, "read", "a", "n1", 1),
			inv(0, "cas", "a", "n1", []int{1, 2}), done(0, history.OK, "cas", "a", "n1", []int{1, 2}),
			inv(1, "read", "b", "n1", nil), done(1, history.OK, "read", "b", "n1", nil),
		)},
		{"lock-liveness", lock.NewLiveness(), liveness()},
	}
}

// liveness is a stuck lock: the lock-liveness checker's verdict on it is
// invalid, which the mutations below must never turn into valid.
func liveness() *history.File {
	var ops []history.Op
	at := func(s float64) int64 { return int64(s * float64(time.Second)) }
	add := func(op history.Op, s float64) {
		op.Index, op.Time = int64(len(ops)), at(s)
		ops = append(ops, op)
	}
	crash := map[string]any{"client": "c0", "process": 0, "token": "c0-1"}
	add(inv(0, "acquire", "l", "n1", nil), 0.05)
	add(done(0, history.OK, "acquire", "l", "n1", lock.Grant{Token: "c0-1", Client: "c0", Nodes: []string{"n1"}}), 0.1)
	add(inv(0, "read", "l", "n1", nil), 0.2)
	add(inv(history.NemesisProcess, "holder-crash", "", "", crash), 0.25)
	add(done(history.NemesisProcess, history.OK, "holder-crash", "", "", crash), 0.3)
	for s := 0.5; s < 4; s += 0.5 {
		add(inv(1, "acquire", "l", "n1", nil), s)
		add(done(1, history.Fail, "acquire", "l", "n1", nil), s+0.01)
	}
	add(done(0, history.Info, "read", "l", "n1", nil), 4.5)
	return &history.File{Ops: ops}
}

func clone(h *history.File) *history.File {
	c := *h
	c.Ops = append([]history.Op(nil), h.Ops...)
	return &c
}

// firstClient is the position of the first client invocation with a
// completion, and of that completion; -1, -1 if there is none.
func firstClient(ops []history.Op) (int, int) {
	partner, err := history.PairIndex(ops)
	if err != nil {
		return -1, -1
	}
	for i := range ops {
		if !ops[i].IsNemesis() && ops[i].Type == history.Invoke && partner[i] >= 0 {
			return i, partner[i]
		}
	}
	return -1, -1
}

func renumber(ops []history.Op) []history.Op {
	for i := range ops {
		ops[i].Index = int64(i)
	}
	return ops
}

func nem(t history.Type, f, node string, tm int64) history.Op {
	return history.Op{Process: history.NemesisProcess, Type: t, F: f, Node: node, Time: tm}
}

// mutation makes a hostile history from a base; ok is false when it does
// not apply to that base.
type mutation struct {
	name string
	make func(h *history.File) (*history.File, bool)
}

var unknownMutations = []mutation{
	{"empty", func(h *history.File) (*history.File, bool) {
		c := clone(h)
		c.Ops = nil
		return c, true
	}},
	{"nemesis only", func(h *history.File) (*history.File, bool) {
		c := clone(h)
		c.Ops = renumber([]history.Op{nem(history.Invoke, "kill", "n1", 1), nem(history.OK, "kill", "n1", 2)})
		return c, true
	}},
	{"completion without invocation", func(h *history.File) (*history.File, bool) {
		c := clone(h)
		i, _ := firstClient(c.Ops)
		if i < 0 {
			return nil, false
		}
		c.Ops = append(c.Ops[:i:i], c.Ops[i+1:]...)
		return c, true
	}},
	{"double invocation", func(h *history.File) (*history.File, bool) {
		c := clone(h)
		i, _ := firstClient(c.Ops)
		if i < 0 {
			return nil, false
		}
		dup := c.Ops[i]
		c.Ops = renumber(append(c.Ops[:i+1:i+1], append([]history.Op{dup}, c.Ops[i+1:]...)...))
		return c, true
	}},
	{"completion names another node", func(h *history.File) (*history.File, bool) {
		c := clone(h)
		i, j := firstClient(c.Ops)
		if i < 0 {
			return nil, false
		}
		if c.Ops[i].Node == "" {
			c.Ops[i].Node = "n1"
		}
		c.Ops[j].Node = c.Ops[i].Node + "-elsewhere"
		return c, true
	}},
	{"completion of another operation", func(h *history.File) (*history.File, bool) {
		c := clone(h)
		i, j := firstClient(c.Ops)
		if i < 0 {
			return nil, false
		}
		c.Ops[j].F = c.Ops[i].F + "-other"
		return c, true
	}},
	{"unknown operation", func(h *history.File) (*history.File, bool) {
		c := clone(h)
		i, j := firstClient(c.Ops)
		if i < 0 {
			return nil, false
		}
		c.Ops[i].F, c.Ops[j].F = "frobnicate", "frobnicate"
		return c, true
	}},
	{"duplicate index", func(h *history.File) (*history.File, bool) {
		c := clone(h)
		if len(c.Ops) < 2 {
			return nil, false
		}
		c.Ops[len(c.Ops)/2].Index = c.Ops[len(c.Ops)/2-1].Index
		return c, true
	}},
	{"records out of index order", func(h *history.File) (*history.File, bool) {
		c := clone(h)
		_, j := firstClient(c.Ops)
		if j < 1 {
			return nil, false
		}
		c.Ops[j].Index, c.Ops[j-1].Index = c.Ops[j-1].Index, c.Ops[j].Index
		return c, true
	}},
	{"negative time", func(h *history.File) (*history.File, bool) {
		c := clone(h)
		i, _ := firstClient(c.Ops)
		if i < 0 {
			return nil, false
		}
		c.Ops[i].Time = -1
		return c, true
	}},
	{"completion before its invocation", func(h *history.File) (*history.File, bool) {
		c := clone(h)
		i, j := firstClient(c.Ops)
		if i < 0 {
			return nil, false
		}
		c.Ops[j].Time = c.Ops[i].Time - 1
		return c, c.Ops[j].Time >= 0
	}},
	{"value not UTF-8", func(h *history.File) (*history.File, bool) {
		c := clone(h)
		_, j := firstClient(c.Ops)
		if j < 0 {
			return nil, false
		}
		c.Ops[j].Value = json.RawMessage("\"v\xff\"")
		return c, true
	}},
	{"nemesis completion without invocation", func(h *history.File) (*history.File, bool) {
		c := clone(h)
		last := c.Ops[len(c.Ops)-1]
		c.Ops = append(c.Ops, nem(history.Info, "kill", "n1", last.Time))
		c.Ops = renumber(c.Ops)
		return c, true
	}},
	{"nemesis completion names another node", func(h *history.File) (*history.File, bool) {
		c := clone(h)
		c.Ops = renumber(append([]history.Op{nem(history.Invoke, "kill", "n1", 0), nem(history.OK, "kill", "n2", 0)}, c.Ops...))
		return c, true
	}},
}

// Every checker says unknown, with a reason, on every hostile history
// that applies to its base.
func TestHostileHistoriesAreUnknown(t *testing.T) {
	ctx := context.Background()
	for _, s := range append(recorded(t), handBuilt()...) {
		// The bases are decided: valid, or invalid where the system is
		// known to break the contract (the gossip store is not
		// linearizable; the stuck lock).
		if r := s.c.Check(ctx, s.base); r.Valid == checkers.Unknown {
			t.Fatalf("%s: base judged unknown (%s %s)", s.name, r.Summary, r.Error)
		}
		for _, m := range unknownMutations {
			h, ok := m.make(s.base)
			if !ok {
				continue
			}
			r := s.c.Check(ctx, h)
			t.Logf("%s, %s: %s", s.name, m.name, r.Error)
			if r.Valid != checkers.Unknown || r.Error == "" {
				t.Errorf("%s, %s: %s (%s; error %q), want unknown with a reason", s.name, m.name, r.Valid, r.Summary, r.Error)
			}
		}
	}
}

// Faults that overlap (a triggered fault applied while a scheduled one is
// under way) pair by kind and node: the verdict is the base's.
func TestOverlappingFaultsKeepTheVerdict(t *testing.T) {
	ctx := context.Background()
	for _, s := range append(recorded(t), handBuilt()...) {
		base := s.c.Check(ctx, s.base)
		c := clone(s.base)
		i, _ := firstClient(c.Ops)
		t0 := c.Ops[i].Time
		over := []history.Op{nem(history.Invoke, "kill", "n1", t0), nem(history.Invoke, "pause", "n2", t0),
			nem(history.Invoke, "kill", "n3", t0), nem(history.Fail, "kill", "n3", t0),
			nem(history.Info, "pause", "n2", t0), nem(history.OK, "kill", "n1", t0)}
		c.Ops = renumber(append(c.Ops[:i:i], append(over, c.Ops[i:]...)...))
		if r := s.c.Check(ctx, c); r.Valid != base.Valid {
			t.Errorf("%s: with overlapping faults %s (%s %s), base %s", s.name, r.Valid, r.Summary, r.Error, base.Valid)
		}
	}
}

// An info completion may have taken effect: turning an ok into info never
// makes a verdict invalid that was not.
func TestInfoIsNeverFailed(t *testing.T) {
	ctx := context.Background()
	for _, s := range append(recorded(t), handBuilt()...) {
		if s.c.Check(ctx, s.base).Valid != checkers.Valid {
			continue
		}
		partner, _ := history.PairIndex(s.base.Ops)
		n := 0
		for i := range s.base.Ops {
			op := &s.base.Ops[i]
			if op.IsNemesis() || op.Type != history.OK || n >= 20 {
				continue
			}
			n++
			c := clone(s.base)
			c.Ops[i].Type = history.Info
			c.Ops[i].Value = c.Ops[partner[i]].Value
			if r := s.c.Check(ctx, c); r.Valid == checkers.Invalid {
				t.Errorf("%s: ok record %d turned info: invalid (%s)", s.name, op.Index, r.Summary)
			}
		}
	}
}
