package linearizable

import (
	"math/rand/v2"
	"sort"
	"strconv"

	"github.com/chaostest/chaos/history"
)

// registerRun simulates what the register workload records against a
// linearizable store under kill and pause faults, without running one:
// procs workers each read, write and compare-and-set (2:1:1) keys keys,
// writing unique values; every operation takes effect at a random moment
// inside its interval. infoPct percent of operations end indeterminate
// (their worker continues as a new process) and take effect, later or
// never, with even odds; a cas whose expected value is not the current one
// fails. The parameters of the run (one key, 10 workers, about
// 18,500 operations, 4% info, a third failing) give a history of the same
// shape as the recorded one.
func registerRun(seed uint64, ops, keys, procs, infoPct int) *history.File {
	rng := rand.New(rand.NewPCG(seed, 16))
	type ev struct {
		call, lin, ret int64
		proc           int
		f, key         string
		a, b           int64 // write a; cas a -> b
		info, never    bool
		out            int64
		has, failed    bool
	}
	evs := make([]*ev, 0, ops)
	clock := make([]int64, procs)
	proc := make([]int, procs)
	for i := range proc {
		proc[i] = i
	}
	nextProc := procs
	seq := make([]int64, procs)
	last := make([]map[string]int64, procs)
	for i := range last {
		last[i] = map[string]int64{}
	}
	for i := range ops {
		w := i % procs
		call := clock[w] + rng.Int64N(50)
		dur := 10 + rng.Int64N(200)
		e := &ev{call: call, ret: call + dur, lin: call + rng.Int64N(dur+1), proc: proc[w],
			key: "r" + strconv.Itoa(rng.IntN(keys))}
		clock[w] = e.ret + 1
		switch x := rng.IntN(4); {
		case x < 2:
			e.f = "read"
		case x == 2:
			seq[w]++
			e.f, e.a = "write", int64(w+1)*1_000_000_000+seq[w]
			last[w][e.key] = e.a
		default:
			seq[w]++
			e.f, e.a, e.b = "cas", last[w][e.key], int64(w+1)*1_000_000_000+seq[w]
			last[w][e.key] = e.b
		}
		if rng.IntN(100) < infoPct {
			e.info = true
			e.never = rng.IntN(2) == 0
			e.lin = call + rng.Int64N(4*dur+1) // may take effect after the timeout
			proc[w] = nextProc
			nextProc++
		}
		evs = append(evs, e)
	}
	byLin := append([]*ev(nil), evs...)
	sort.SliceStable(byLin, func(i, j int) bool { return byLin[i].lin < byLin[j].lin })
	state := map[string]int64{}
	for _, e := range byLin {
		if e.never {
			continue
		}
		cur, set := state[e.key]
		switch e.f {
		case "write":
			state[e.key] = e.a
		case "read":
			e.out, e.has = cur, set
		case "cas":
			if set && cur == e.a {
				state[e.key] = e.b
			} else {
				e.failed = true
			}
		}
	}
	type rec struct {
		t  int64
		op history.Op
	}
	recs := make([]rec, 0, 2*len(evs))
	for _, e := range evs {
		inv := history.Op{Process: e.proc, Type: history.Invoke, F: e.f, Key: e.key, Time: e.call, Node: "n1"}
		done := history.Op{Process: e.proc, Type: history.OK, F: e.f, Key: e.key, Time: e.ret, Node: "n1"}
		switch e.f {
		case "write":
			inv.Value, done.Value = history.Int(e.a), history.Int(e.a)
		case "cas":
			inv.Value = history.JSON([]int64{e.a, e.b})
			done.Value = inv.Value
			if e.failed && !e.info {
				done.Type = history.Fail
			}
		case "read":
			if e.has {
				done.Value = history.Int(e.out)
			}
		}
		if e.info {
			done.Type, done.Value = history.Info, inv.Value
		}
		recs = append(recs, rec{e.call, inv}, rec{e.ret, done})
	}
	sort.SliceStable(recs, func(i, j int) bool {
		if recs[i].t != recs[j].t {
			return recs[i].t < recs[j].t
		}
		return recs[i].op.Type == history.Invoke && recs[j].op.Type != history.Invoke
	})
	hf := &history.File{Ops: make([]history.Op, len(recs))}
	for i, r := range recs {
		r.op.Index = int64(i)
		r.op.Time *= 1000
		hf.Ops[i] = r.op
	}
	return hf
}
