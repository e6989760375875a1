package txn

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// The oracle judges serializability from the definition, sharing nothing
// with the checker: is there an order of the committed transactions, plus
// any subset of the indeterminate ones, that run one at a time from empty
// lists gives every committed read exactly what it returned? For strict
// serializability the order must also respect real time.

type otxn struct {
	status  history.Type // ok, fail, info
	mops    [][3]any     // [f, key, value]; reads of ok transactions hold []int64
	inv     int64        // invocation record index
	comp    int64        // completion record index; -1 when it never completed
	process int
}

func oracle(txns []otxn, strict bool) bool {
	var cand []int
	var optional []int
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
		if serialOrder(txns, set, strict) {
			return true
		}
	}
	return false
}

// serialOrder searches the orders of set depth first, checking each
// transaction's reads as it is placed.
func serialOrder(txns []otxn, set []int, strict bool) bool {
	used := make([]bool, len(set))
	state := map[string][]int64{}
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
				// Every unplaced transaction that completed before ti
				// began must come first.
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
			saved := map[string][]int64{}
			okRun := true
			for _, m := range txns[ti].mops {
				k := m[1].(string)
				if _, s := saved[k]; !s {
					saved[k] = state[k]
				}
				switch m[0] {
				case "append":
					l := append(append([]int64(nil), state[k]...), m[2].(int64))
					state[k] = l
				case "r":
					if txns[ti].status != history.OK {
						continue
					}
					want := m[2].([]int64)
					got := state[k]
					if len(want) != len(got) {
						okRun = false
					} else {
						for x := range want {
							if want[x] != got[x] {
								okRun = false
							}
						}
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
				state[k] = v
			}
		}
		return false
	}
	return dfs(0)
}

// randomHistory makes a small history the way a database might: each
// transaction runs at a point of its own (serial), or reads a snapshot from
// its start and installs its appends at its end (snapshot isolation without
// first-committer-wins, which lets lost updates and write skew through), and
// sometimes one read is corrupted or a failed transaction's appends leak.
func randomHistory(rng *rand.Rand) ([]otxn, []history.Op) {
	nKeys := 1 + rng.IntN(3)
	n := 2 + rng.IntN(5)
	mode := rng.IntN(3)
	keys := []string{"x", "y", "z"}[:nKeys]
	next := map[string]int64{}
	ps := make([]txnPlan, n)
	for i := range ps {
		nm := 1 + rng.IntN(3)
		for range nm {
			k := keys[rng.IntN(nKeys)]
			if rng.IntN(2) == 0 {
				next[k]++
				ps[i].mops = append(ps[i].mops, [3]any{"append", k, next[k]})
			} else {
				ps[i].mops = append(ps[i].mops, [3]any{"r", k, nil})
			}
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
	// Execute.
	state := map[string][]int64{}
	copyState := func() map[string][]int64 {
		c := map[string][]int64{}
		for k, v := range state {
			c[k] = append([]int64(nil), v...)
		}
		return c
	}
	runTxn := func(p *txnPlan, view map[string][]int64) {
		local := map[string][]int64{}
		for k, v := range view {
			local[k] = append([]int64(nil), v...)
		}
		for j := range p.mops {
			m := &p.mops[j]
			k := m[1].(string)
			if m[0] == "append" {
				local[k] = append(local[k], m[2].(int64))
			} else {
				m[2] = append([]int64{}, local[k]...)
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
		snaps := map[int]map[string][]int64{}
		for _, e := range evs {
			if e.start {
				snaps[e.i] = copyState()
				continue
			}
			p := &ps[e.i]
			runTxn(p, snaps[e.i])
			if p.applies {
				for _, m := range p.mops {
					if m[0] == "append" {
						k := m[1].(string)
						state[k] = append(state[k], m[2].(int64))
					}
				}
			}
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
			p := &ps[i]
			runTxn(p, state)
			if p.applies {
				for _, m := range p.mops {
					if m[0] == "append" {
						k := m[1].(string)
						state[k] = append(state[k], m[2].(int64))
					}
				}
			}
		}
	}
	if mode == 2 && rng.IntN(2) == 0 {
		// Corrupt one read of a committed transaction.
		i := rng.IntN(n)
		for j := range ps[i].mops {
			m := &ps[i].mops[j]
			if m[0] == "r" && ps[i].status == history.OK {
				l := m[2].([]int64)
				switch {
				case len(l) > 0 && rng.IntN(2) == 0:
					m[2] = l[:len(l)-1]
				case len(l) > 1:
					m[2] = append([]int64{l[1], l[0]}, l[2:]...)
				default:
					m[2] = append(l, 1+rng.Int64N(3))
				}
				break
			}
		}
	}
	return recordPlans(rng, ps)
}

// txnPlan is one transaction of a random history before it is recorded:
// its micro-ops (reads filled with what they saw), how it ends, when, and
// whether it took effect.
type txnPlan struct {
	mops       [][3]any
	status     history.Type
	start, end float64
	applies    bool
}

// recordPlans records planned transactions as a history, in time order, one
// process per transaction; an info one's completion is left out half the
// time. txns are the oracle's view of the same transactions.
func recordPlans(rng *rand.Rand, ps []txnPlan) ([]otxn, []history.Op) {
	type rec struct {
		t   float64
		i   int
		inv bool
	}
	var recs []rec
	for i := range ps {
		recs = append(recs, rec{ps[i].start, i, true})
		if ps[i].status != history.Info || rng.IntN(2) == 0 {
			recs = append(recs, rec{ps[i].end, i, false})
		}
	}
	sort.Slice(recs, func(a, b int) bool { return recs[a].t < recs[b].t })
	txns := make([]otxn, len(ps))
	var ops []history.Op
	for _, r := range recs {
		p := &ps[r.i]
		t := &txns[r.i]
		t.status, t.mops, t.process = p.status, p.mops, r.i
		idx := int64(len(ops))
		op := history.Op{Index: idx, Process: r.i, F: F, Time: idx * 10}
		invVal := make([][3]any, len(p.mops))
		for j, m := range p.mops {
			invVal[j] = m
			if m[0] == "r" {
				invVal[j][2] = nil
			}
		}
		if r.inv {
			t.inv = idx
			t.comp = -1
			op.Type = history.Invoke
			op.Value = history.JSON(invVal)
		} else {
			op.Type = p.status
			if p.status == history.OK {
				op.Value = history.JSON(p.mops)
				t.comp = idx
			} else {
				op.Value = history.JSON(invVal)
			}
		}
		ops = append(ops, op)
	}
	// Only a completed ok transaction counts as completed in real time.
	for i := range txns {
		if txns[i].status != history.OK {
			txns[i].comp = -1
		}
	}
	return txns, ops
}

func describe(ops []history.Op) string {
	s := ""
	for _, op := range ops {
		s += fmt.Sprintf("  %d p%d %s %s\n", op.Index, op.Process, op.Type, op.Value)
	}
	return s
}

func TestOracleAgreement(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 500
	}
	valid, invalid := agree(t, rand.New(rand.NewPCG(7, 11)), n)
	if valid < n/10 || invalid < n/10 {
		t.Fatalf("the generator is one-sided: %d valid, %d invalid", valid, invalid)
	}
}

func agree(t *testing.T, rng *rand.Rand, n int) (valid, invalid int) {
	t.Helper()
	var tried, skipped int
	for range n {
		txns, ops := randomHistory(rng)
		h := &history.File{Header: history.Header{Format: history.Format}, Ops: ops}
		for _, strict := range []bool{false, true} {
			m := Serializable
			if strict {
				m = StrictSerializable
			}
			r := New(ListAppend, WithModel(m)).Check(context.Background(), h)
			if r.Valid == checkers.Unknown {
				// Nothing committed or nothing read: nothing to agree on.
				if r.Counts["ok"] > 0 && hasCommittedRead(txns) {
					t.Fatalf("unknown on a decidable history: %s\n%s", r.Error, describe(ops))
				}
				skipped++
				continue
			}
			want := oracle(txns, strict)
			tried++
			if want {
				valid++
			} else {
				invalid++
			}
			if (r.Valid == checkers.Valid) != want {
				b, _ := json.MarshalIndent(r.Anomalies, "", " ")
				t.Fatalf("%s: checker says %v, oracle says serial order exists=%v\n%s\nsummary: %s\n%s", m, r.Valid, want, describe(ops), r.Summary, b)
			}
		}
	}
	t.Logf("%d judgements agreed (%d valid, %d invalid), %d skipped (nothing read)", tried, valid, invalid, skipped)
	return valid, invalid
}

func hasCommittedRead(txns []otxn) bool {
	for _, t := range txns {
		if t.status != history.OK {
			continue
		}
		for _, m := range t.mops {
			if m[0] == "r" {
				return true
			}
		}
	}
	return false
}

func FuzzOracleAgreement(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		agree(t, rand.New(rand.NewPCG(a, b)), 20)
	})
}
