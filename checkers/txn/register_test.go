package txn

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

func checkReg(b *hb, m Model) checkers.Result {
	return New(RWRegister, WithModel(m)).Check(context.Background(), b.file())
}

func TestRegisterHandBuilt(t *testing.T) {
	ok, fail, info := history.OK, history.Fail, history.Info
	cases := []struct {
		name      string
		build     func(b *hb)
		anomalies []string
		// strongest model satisfied; "unknown" when the checker cannot
		// say (the version order is not inferable) and none is violated.
		strongest string
	}{
		{"serial read-modify-writes", func(b *hb) {
			b.txn(0, ok, `[["r","x",null],["w","x",1]]`)
			b.txn(1, ok, `[["r","x",1],["w","x",2],["r","y",null]]`)
			b.txn(0, ok, `[["r","x",2],["r","y",null]]`)
		}, nil, "strict-serializable"},
		{"blind writes: order unknown", func(b *hb) {
			b.txn(0, ok, `[["w","x",1]]`)
			b.txn(1, ok, `[["w","x",2]]`)
			b.txn(2, ok, `[["r","x",2]]`)
		}, nil, "unknown"},
		{"G0 write cycle", func(b *hb) {
			b.inv(0, `[["r","x",2],["w","x",1],["r","y",null],["w","y",1]]`)
			b.inv(1, `[["r","x",null],["w","x",2],["r","y",1],["w","y",2]]`)
			b.done(0, ok, `[["r","x",2],["w","x",1],["r","y",null],["w","y",1]]`)
			b.done(1, ok, `[["r","x",null],["w","x",2],["r","y",1],["w","y",2]]`)
		}, []string{G0}, ""},
		{"G1a aborted read", func(b *hb) {
			b.txn(0, fail, `[["w","x",1]]`)
			b.txn(1, ok, `[["r","x",1]]`)
		}, []string{G1a}, ""},
		{"G1b intermediate read", func(b *hb) {
			b.inv(0, `[["r","x",null],["w","x",1],["w","x",2]]`)
			b.txn(1, ok, `[["r","x",1]]`)
			b.done(0, ok, `[["r","x",null],["w","x",1],["w","x",2]]`)
		}, []string{G1b}, ""},
		{"G1c circular information flow", func(b *hb) {
			b.inv(0, `[["r","x",null],["w","x",1],["r","y",1]]`)
			b.inv(1, `[["r","y",null],["w","y",1],["r","x",1]]`)
			b.done(0, ok, `[["r","x",null],["w","x",1],["r","y",1]]`)
			b.done(1, ok, `[["r","y",null],["w","y",1],["r","x",1]]`)
		}, []string{G1c}, ""},
		{"G-single read skew", func(b *hb) {
			b.inv(0, `[["r","x",null],["r","y",1]]`)
			b.txn(1, ok, `[["r","x",null],["w","x",1],["r","y",null],["w","y",1]]`)
			b.done(0, ok, `[["r","x",null],["r","y",1]]`)
		}, []string{GSingle}, "read-committed"},
		{"G2-item write skew", func(b *hb) {
			b.inv(0, `[["r","x",null],["r","y",null],["w","y",1]]`)
			b.inv(1, `[["r","x",null],["r","y",null],["w","x",1]]`)
			b.done(0, ok, `[["r","x",null],["r","y",null],["w","y",1]]`)
			b.done(1, ok, `[["r","x",null],["r","y",null],["w","x",1]]`)
			b.txn(2, ok, `[["r","x",1],["r","y",1]]`)
		}, []string{G2Item}, "snapshot-isolation"},
		{"lost update", func(b *hb) {
			b.inv(0, `[["r","x",null],["w","x",1]]`)
			b.inv(1, `[["r","x",null],["w","x",2]]`)
			b.done(0, ok, `[["r","x",null],["w","x",1]]`)
			b.done(1, ok, `[["r","x",null],["w","x",2]]`)
			b.txn(2, ok, `[["r","x",2]]`)
		}, []string{LostUpdate}, ""},
		{"non-repeatable read", func(b *hb) {
			b.inv(0, `[["r","x",null],["r","x",1]]`)
			b.txn(1, ok, `[["r","x",null],["w","x",1]]`)
			b.done(0, ok, `[["r","x",null],["r","x",1]]`)
		}, []string{GSingle}, "read-committed"},
		{"stale read after completion", func(b *hb) {
			b.txn(0, ok, `[["r","x",null],["w","x",1]]`)
			b.txn(1, ok, `[["r","x",null]]`)
		}, []string{GSingleRT}, "serializable"},
		{"blind to its own write", func(b *hb) {
			b.txn(0, ok, `[["w","x",1],["r","x",null]]`)
		}, []string{Internal}, ""},
		{"read from its own future", func(b *hb) {
			b.txn(0, ok, `[["r","x",1],["w","x",1]]`)
		}, []string{Internal}, ""},
		{"garbage read", func(b *hb) {
			b.txn(0, ok, `[["r","x",9]]`)
		}, []string{GarbageRead}, ""},
		{"info never seen is left out", func(b *hb) {
			b.txn(0, info, `[["r","x",null],["w","x",5]]`)
			b.txn(1, ok, `[["r","x",null]]`)
		}, nil, "strict-serializable"},
		{"info seen committed, its read lost", func(b *hb) {
			b.txn(0, info, `[["r","x",null],["w","x",5]]`)
			b.txn(1, ok, `[["r","x",5]]`)
		}, nil, "unknown"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newHB()
			c.build(b)
			r := checkReg(b, StrictSerializable)
			for _, k := range c.anomalies {
				if r.AnomalyCounts[k] == 0 {
					t.Errorf("want %s; got %v: %s", k, r.AnomalyCounts, r.Summary)
				}
			}
			if len(c.anomalies) == 0 && len(r.AnomalyCounts) > 0 {
				t.Errorf("want no anomaly; got %v: %s", r.AnomalyCounts, r.Summary)
			}
			d, _ := r.Details.(map[string]any)
			got, _ := d["strongest_satisfied"].(string)
			if c.strongest == "unknown" {
				if r.Valid != checkers.Unknown || got != "" {
					t.Errorf("want unknown with no model satisfied; got %v, strongest %q: %s %s", r.Valid, got, r.Summary, r.Error)
				}
				if !strings.Contains(r.Error, "version order") {
					t.Errorf("the error should say the version order is unknown: %s", r.Error)
				}
				return
			}
			if got != c.strongest {
				t.Errorf("strongest model satisfied %q, want %q (%s; %s)", got, c.strongest, r.Summary, r.Error)
			}
			for _, a := range r.Anomalies {
				if a.Message == "" || len(a.Ops) == 0 {
					t.Errorf("anomaly %s without a witness", a.Kind)
				}
			}
		})
	}
}

// The register oracle: is there an order of the committed transactions
// (plus any subset of the indeterminate ones) that, run one at a time from
// null registers, gives every committed read what it returned?
func regOracle(txns []otxn, strict bool) bool {
	var cand, optional []int
	for i, t := range txns {
		switch t.status {
		case history.OK:
			cand = append(cand, i)
		case history.Info:
			optional = append(optional, i)
		}
	}
	for mask := 0; mask < 1<<len(optional); mask++ {
		set := append([]int(nil), cand...)
		for j, i := range optional {
			if mask&(1<<j) != 0 {
				set = append(set, i)
			}
		}
		if regSerial(txns, set, strict) {
			return true
		}
	}
	return false
}

func regSerial(txns []otxn, set []int, strict bool) bool {
	used := make([]bool, len(set))
	state := map[string]int64{} // absent: null
	var dfs func(placed int) bool
	dfs = func(placed int) bool {
		if placed == len(set) {
			return true
		}
		for i, ti := range set {
			if used[i] {
				continue
			}
			if strict {
				blocked := false
				for j, tj := range set {
					if !used[j] && j != i && txns[tj].comp >= 0 && txns[tj].comp < txns[ti].inv {
						blocked = true
						break
					}
				}
				if blocked {
					continue
				}
			}
			saved := map[string]*int64{}
			okRun := true
			for _, m := range txns[ti].mops {
				k := m[1].(string)
				if _, s := saved[k]; !s {
					if v, has := state[k]; has {
						saved[k] = &v
					} else {
						saved[k] = nil
					}
				}
				switch m[0] {
				case "w":
					state[k] = m[2].(int64)
				case "r":
					if txns[ti].status != history.OK {
						continue
					}
					got, has := state[k]
					want, wantSome := m[2].(int64)
					if has != wantSome || (has && got != want) {
						okRun = false
					}
				}
				if !okRun {
					break
				}
			}
			if okRun {
				used[i] = true
				if dfs(placed + 1) {
					return true
				}
				used[i] = false
			}
			for k, v := range saved {
				if v == nil {
					delete(state, k)
				} else {
					state[k] = *v
				}
			}
		}
		return false
	}
	return dfs(0)
}

// randomRegisterHistory runs a few register transactions serially, or on
// snapshots installed at their ends (snapshot isolation without
// first-committer-wins: lost updates and write skew), and sometimes
// corrupts a read or leaks a failed write. Most writes follow a read of
// their key in the same transaction, as the workload's do; some are blind.
func randomRegisterHistory(rng *rand.Rand) ([]otxn, []history.Op) {
	nKeys := 1 + rng.IntN(3)
	n := 2 + rng.IntN(5)
	mode := rng.IntN(3)
	blind := rng.IntN(4) == 0
	keys := []string{"x", "y", "z"}[:nKeys]
	next := int64(0)
	ps := make([]txnPlan, n)
	for i := range ps {
		nm := 1 + rng.IntN(3)
		touched := map[string]bool{}
		for range nm {
			k := keys[rng.IntN(nKeys)]
			if rng.IntN(2) == 0 {
				if !touched[k] && (!blind || rng.IntN(2) == 0) {
					ps[i].mops = append(ps[i].mops, [3]any{"r", k, nil})
				}
				next++
				ps[i].mops = append(ps[i].mops, [3]any{"w", k, next})
			} else {
				ps[i].mops = append(ps[i].mops, [3]any{"r", k, nil})
			}
			touched[k] = true
		}
		at := float64(i) + rng.Float64()*0.5
		ps[i].start = at - rng.Float64()*2
		ps[i].end = at + rng.Float64()*2
		ps[i].status = history.OK
		ps[i].applies = true
		switch rng.IntN(10) {
		case 0:
			ps[i].status = history.Fail
			ps[i].applies = mode == 2 && rng.IntN(3) == 0
		case 1:
			ps[i].status = history.Info
			ps[i].applies = rng.IntN(2) == 0
		}
	}
	state := map[string]int64{}
	run := func(p *txnPlan, view map[string]int64) {
		local := map[string]int64{}
		for k, v := range view {
			local[k] = v
		}
		for j := range p.mops {
			m := &p.mops[j]
			k := m[1].(string)
			if m[0] == "w" {
				local[k] = m[2].(int64)
			} else if v, has := local[k]; has {
				m[2] = v
			} else {
				m[2] = nil
			}
		}
	}
	install := func(p *txnPlan) {
		if !p.applies {
			return
		}
		for _, m := range p.mops {
			if m[0] == "w" {
				state[m[1].(string)] = m[2].(int64)
			}
		}
	}
	if mode == 1 {
		type ev struct {
			t     float64
			i     int
			start bool
		}
		var evs []ev
		for i := range ps {
			evs = append(evs, ev{ps[i].start, i, true}, ev{ps[i].end, i, false})
		}
		sort.Slice(evs, func(a, b int) bool { return evs[a].t < evs[b].t })
		snaps := map[int]map[string]int64{}
		for _, e := range evs {
			if e.start {
				c := map[string]int64{}
				for k, v := range state {
					c[k] = v
				}
				snaps[e.i] = c
				continue
			}
			run(&ps[e.i], snaps[e.i])
			install(&ps[e.i])
		}
	} else {
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		sort.Slice(order, func(a, b int) bool {
			return (ps[order[a]].start+ps[order[a]].end)/2 < (ps[order[b]].start+ps[order[b]].end)/2
		})
		for _, i := range order {
			run(&ps[i], state)
			install(&ps[i])
		}
	}
	if mode == 2 && rng.IntN(2) == 0 {
		i := rng.IntN(n)
		for j := range ps[i].mops {
			m := &ps[i].mops[j]
			if m[0] == "r" && ps[i].status == history.OK {
				switch rng.IntN(3) {
				case 0:
					m[2] = nil
				default:
					m[2] = 1 + rng.Int64N(max(next, 1))
				}
				break
			}
		}
	}
	return recordPlans(rng, ps)
}

func TestRegisterOracleAgreement(t *testing.T) {
	n := 4000
	if testing.Short() {
		n = 600
	}
	valid, invalid, unknown := agreeRegister(t, rand.New(rand.NewPCG(5, 9)), n)
	if valid < n/10 || invalid < n/10 {
		t.Fatalf("the generator is one-sided: %d valid, %d invalid, %d unknown", valid, invalid, unknown)
	}
}

// agreeRegister holds the checker to the oracle: invalid only where no
// order explains the history, valid only where one does; unknown is
// allowed (the version order was not inferable), but counted.
func agreeRegister(t *testing.T, rng *rand.Rand, n int) (valid, invalid, unknown int) {
	t.Helper()
	for range n {
		txns, ops := randomRegisterHistory(rng)
		h := &history.File{Header: history.Header{Format: history.Format}, Ops: ops}
		for _, strict := range []bool{false, true} {
			m := Serializable
			if strict {
				m = StrictSerializable
			}
			r := New(RWRegister, WithModel(m)).Check(context.Background(), h)
			if r.Valid == checkers.Unknown {
				unknown++
				continue
			}
			want := regOracle(txns, strict)
			if (r.Valid == checkers.Valid) != want {
				b, _ := json.MarshalIndent(r.Anomalies, "", " ")
				t.Fatalf("%s: checker says %v, oracle says serial order exists=%v\n%s\nsummary: %s\n%s", m, r.Valid, want, describe(ops), r.Summary, b)
			}
			if want {
				valid++
			} else {
				invalid++
			}
		}
	}
	t.Logf("%d judgements agreed (%d valid, %d invalid), %d unknown", valid+invalid, valid, invalid, unknown)
	return valid, invalid, unknown
}

func FuzzRegisterOracleAgreement(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		agreeRegister(t, rand.New(rand.NewPCG(a, b)), 20)
	})
}

// A check past its memory budget is unknown, naming the budget, never
// valid.
func TestMemoryBudget(t *testing.T) {
	h := &history.File{Ops: serialListAppend(2000, 1)}
	ctx := checkers.WithMemoryBudget(context.Background(), 1)
	r := New(ListAppend).Check(ctx, h)
	if r.Valid != checkers.Unknown || !strings.Contains(r.Error, "memory budget") {
		t.Fatalf("%v %s %s", r.Valid, r.Summary, r.Error)
	}
}
