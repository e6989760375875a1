package lock_test

// An independent judge of lock histories, written from the checker's
// definition (see the package comment) and sharing no code with it, run
// against the checker on small random histories.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/checkers/lock"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/internal/oracletest"
)

type oHold struct {
	proc             int
	key              string
	inv, ok          history.Op
	start, end, dead int64
	fence            *int64
	released         bool
}

func (h oHold) effEnd() int64 { return min(h.end, h.dead) }

type oWrite struct {
	inv, done history.Op
	res       lock.WriteResult
}

// oracleLock judges h pair by pair.
func oracleLock(h *history.File, resource bool) (checkers.Validity, map[string]bool) {
	kinds := map[string]bool{}
	ops := h.Ops
	end := int64(0)
	if len(ops) > 0 {
		end = ops[len(ops)-1].Time
	}
	pairs, ok := oracletest.Pairs(ops)
	if !ok {
		return checkers.Unknown, kinds
	}
	// Holds: from an ok acquire to the holder's next release invocation of
	// the same lock, or its next granted acquire's invocation of it.
	var holds []oHold
	acquired := 0
	for _, p := range pairs {
		if p.Inv.F != "acquire" || p.Done == nil || p.Done.Type != history.OK {
			continue
		}
		acquired++
		var g lock.Grant
		if json.Unmarshal(p.Done.Value, &g) != nil {
			return checkers.Unknown, kinds
		}
		hd := oHold{proc: p.Inv.Process, key: p.Inv.Key, inv: p.Inv, ok: *p.Done, start: p.Done.Time, end: end, dead: 1<<63 - 1, fence: g.Fence}
		if g.Validity > 0 {
			hd.dead = p.Inv.Time + g.Validity
		}
		for _, q := range pairs {
			if q.Inv.Process != hd.proc || q.Inv.Key != hd.key || q.Inv.Index < p.Done.Index {
				continue
			}
			if q.Inv.F == "release" {
				hd.end, hd.released = q.Inv.Time, true
				break
			}
			if q.Inv.F == "acquire" && q.Done != nil && q.Done.Type == history.OK {
				hd.end = q.Inv.Time
				break
			}
		}
		holds = append(holds, hd)
	}
	// holdAt is the hold of (proc, key) current at record index i.
	holdAt := func(proc int, key string, i int64) *oHold {
		var best *oHold
		for k := range holds {
			hd := &holds[k]
			if hd.proc == proc && hd.key == key && hd.ok.Index < i && (best == nil || hd.ok.Index > best.ok.Index) {
				best = hd
			}
		}
		if best == nil {
			return nil
		}
		for _, q := range pairs {
			if q.Inv.Process == proc && q.Inv.Key == key && q.Inv.F == "release" && q.Inv.Index > best.ok.Index && q.Inv.Index < i {
				return nil
			}
		}
		return best
	}
	for i, a := range holds {
		for j, b := range holds {
			if i == j || a.key != b.key {
				continue
			}
			if a.proc != b.proc && a.effEnd() > a.start && b.effEnd() > b.start && a.start < b.effEnd() && b.start < a.effEnd() {
				kinds[lock.KindOverlap] = true
			}
			if a.fence != nil && b.fence != nil && a.start < b.inv.Time && *b.fence < *a.fence {
				kinds[lock.KindFenceBack] = true
			}
		}
	}
	var writes []oWrite
	finals := map[string][]int64{}
	mayAdd := map[string]map[int64]bool{}
	type refused struct {
		inv history.Op
		add int64
	}
	var fails []refused
	for _, p := range pairs {
		switch p.Inv.F {
		case "read":
			var a lock.ReadArgs
			_ = json.Unmarshal(p.Inv.Value, &a)
			if a.Final && p.Done != nil && p.Done.Type == history.OK {
				var rr lock.ReadResult
				if json.Unmarshal(p.Done.Value, &rr) != nil {
					return checkers.Unknown, kinds
				}
				finals[p.Inv.Key] = append([]int64{}, rr.Set...)
			}
		case "write":
			var a lock.WriteArgs
			_ = json.Unmarshal(p.Inv.Value, &a)
			if mayAdd[p.Inv.Key] == nil {
				mayAdd[p.Inv.Key] = map[int64]bool{}
			}
			switch {
			case p.Done != nil && p.Done.Type == history.Fail:
				fails = append(fails, refused{p.Inv, a.Add})
			case p.Done != nil && p.Done.Type == history.OK:
				w := oWrite{inv: p.Inv, done: *p.Done}
				if json.Unmarshal(p.Done.Value, &w.res) != nil {
					return checkers.Unknown, kinds
				}
				mayAdd[p.Inv.Key][w.res.Add] = true
				writes = append(writes, w)
			default:
				mayAdd[p.Inv.Key][a.Add] = true
			}
		}
	}
	undecided := false
	for _, w := range writes {
		hd := holdAt(w.inv.Process, w.inv.Key, w.done.Index)
		switch {
		case hd == nil:
			kinds[lock.KindUnguarded] = true
		case w.inv.Time > hd.dead && w.res.Fence == nil:
			kinds[lock.KindLateWrite] = true
		}
		for _, o := range writes {
			if o.inv.Key != w.inv.Key || w.res.Fence == nil || o.res.Fence == nil {
				continue
			}
			before := o.res.Seq < w.res.Seq || (o.res.Seq == w.res.Seq && o.done.Index < w.done.Index)
			if before && *w.res.Fence < *o.res.Fence {
				kinds[lock.KindFencing] = true
			}
		}
		if resource {
			final, ok := finals[w.inv.Key]
			if !ok {
				undecided = true
				continue
			}
			found := false
			for _, x := range final {
				found = found || x == w.res.Add
			}
			if !found {
				kinds[lock.KindLostUpdate] = true
			}
		}
	}
	for _, f := range fails {
		final, ok := finals[f.inv.Key]
		if !ok || mayAdd[f.inv.Key][f.add] {
			continue
		}
		for _, x := range final {
			if x == f.add {
				kinds[lock.KindRejected] = true
			}
		}
	}
	switch {
	case len(kinds) > 0:
		return checkers.Invalid, kinds
	case undecided || acquired == 0:
		return checkers.Unknown, kinds
	}
	return checkers.Valid, kinds
}

// randomLockHistory makes a small history of a few workers on two locks:
// acquires granted, refused or indeterminate (with and without validity and
// fencing tokens), releases, read-then-write cycles with every outcome, a
// fault now and then, and final reads that usually, not always, hold
// exactly the acknowledged writes.
func randomLockHistory(r *rand.Rand) *history.File {
	var ops []history.Op
	now := int64(0)
	add := func(op history.Op) history.Op {
		op.Index, op.Time = int64(len(ops)), now
		ops = append(ops, op)
		return op
	}
	tick := func() { now += int64(r.IntN(4)) * 1e6 }
	keys := []string{"a", "b"}[:1+r.IntN(2)]
	careful := r.IntN(3) > 0 // a lock that mostly keeps its promise
	owner := map[string]int{}
	fence := map[string]int64{}
	seq := map[string]int64{}
	var oked []struct {
		key string
		add int64
	}
	var failedAdds []struct {
		key string
		add int64
	}
	nextAdd := int64(1)
	nextProc := 0
	type worker struct{ proc int }
	workers := make([]*worker, 1+r.IntN(3))
	for i := range workers {
		workers[i] = &worker{proc: nextProc}
		nextProc++
	}
	for _, k := range keys {
		owner[k] = -1
	}
	retire := func(w *worker) {
		for _, k := range keys {
			if owner[k] == w.proc {
				owner[k] = -1
			}
		}
		w.proc = nextProc
		nextProc++
	}
	outcome := func() history.Type {
		switch r.IntN(10) {
		case 0:
			return history.Info
		case 1:
			return history.Fail
		}
		return history.OK
	}
	steps := 3 + r.IntN(14)
	for s := 0; s < steps; s++ {
		tick()
		w := workers[r.IntN(len(workers))]
		k := keys[r.IntN(len(keys))]
		switch r.IntN(8) {
		case 0:
			f := []string{"kill", "partition", "clock-bump"}[r.IntN(3)]
			add(history.Op{Process: history.NemesisProcess, Type: history.Invoke, F: f, Node: "n1"})
			add(history.Op{Process: history.NemesisProcess, Type: outcome(), F: f, Node: "n1"})
		case 1, 2, 3: // acquire
			inv := add(history.Op{Process: w.proc, Type: history.Invoke, F: "acquire", Key: k, Node: "n1", Value: history.JSON(lock.AcquireArgs{TTL: 1e9})})
			_ = inv
			tick()
			t := outcome()
			if careful && owner[k] >= 0 && owner[k] != w.proc && r.IntN(8) > 0 {
				t = history.Fail
			}
			switch t {
			case history.OK:
				fence[k] += int64(1 + r.IntN(2))
				fv := fence[k]
				if !careful && r.IntN(4) == 0 {
					fv -= int64(r.IntN(4))
				}
				g := lock.Grant{Token: "t", Client: fmt.Sprintf("c%d", w.proc), Nodes: []string{"n1"}}
				if r.IntN(3) > 0 {
					g.Fence = &fv
				}
				if r.IntN(3) == 0 {
					g.Validity = int64(1+r.IntN(8)) * 1e6
				}
				add(history.Op{Process: w.proc, Type: history.OK, F: "acquire", Key: k, Node: "n1", Value: history.JSON(g)})
				owner[k] = w.proc
			case history.Fail:
				add(history.Op{Process: w.proc, Type: history.Fail, F: "acquire", Key: k, Node: "n1"})
			default:
				add(history.Op{Process: w.proc, Type: history.Info, F: "acquire", Key: k, Node: "n1"})
				retire(w)
			}
		case 4, 5: // release
			add(history.Op{Process: w.proc, Type: history.Invoke, F: "release", Key: k, Node: "n1"})
			if owner[k] == w.proc {
				owner[k] = -1
			}
			tick()
			t := outcome()
			add(history.Op{Process: w.proc, Type: t, F: "release", Key: k, Node: "n1", Value: history.JSON(lock.Release{Token: "t"})})
			if t == history.Info {
				retire(w)
			}
		default: // write
			if careful && owner[k] != w.proc && r.IntN(6) > 0 {
				continue
			}
			a := nextAdd
			nextAdd++
			add(history.Op{Process: w.proc, Type: history.Invoke, F: "write", Key: k, Node: "n1", Value: history.JSON(lock.WriteArgs{Add: a})})
			tick()
			switch t := outcome(); t {
			case history.OK:
				seq[k]++
				wr := lock.WriteResult{Add: a, Set: []int64{a}, Seq: seq[k]}
				if r.IntN(2) == 0 {
					f := fence[k] - int64(r.IntN(2))
					wr.Fence = &f
				}
				add(history.Op{Process: w.proc, Type: history.OK, F: "write", Key: k, Node: "n1", Value: history.JSON(wr)})
				oked = append(oked, struct {
					key string
					add int64
				}{k, a})
			case history.Fail:
				add(history.Op{Process: w.proc, Type: history.Fail, F: "write", Key: k, Node: "n1"})
				failedAdds = append(failedAdds, struct {
					key string
					add int64
				}{k, a})
			default:
				add(history.Op{Process: w.proc, Type: history.Info, F: "write", Key: k, Node: "n1"})
				retire(w)
			}
		}
	}
	// Final reads, by a process of their own, after everything.
	for i, k := range keys {
		if r.IntN(12) == 0 {
			continue
		}
		set := []int64{}
		for _, o := range oked {
			if o.key == k && (careful || r.IntN(6) > 0) {
				set = append(set, o.add)
			}
		}
		for _, f := range failedAdds {
			if f.key == k && r.IntN(careful2(careful)) == 0 {
				set = append(set, f.add)
			}
		}
		tick()
		p := 1000 + i
		add(history.Op{Process: p, Type: history.Invoke, F: "read", Key: k, Node: "n1", Value: history.JSON(lock.ReadArgs{Final: true})})
		add(history.Op{Process: p, Type: history.OK, F: "read", Key: k, Node: "n1", Value: history.JSON(lock.ReadResult{Set: set})})
	}
	return &history.File{Header: history.Header{Workload: "lock-set"}, Ops: ops}
}

func careful2(careful bool) int {
	if careful {
		return 20
	}
	return 3
}

func agreeLock(seed uint64) (string, checkers.Validity, error) {
	r := rand.New(rand.NewPCG(seed, 0x10c))
	h := randomLockHistory(r)
	resource := seed%4 != 0
	res := lock.New(lock.WithResource(resource)).Check(context.Background(), h)
	want, kinds := oracleLock(h, resource)
	return oracletest.Compare(fmt.Sprintf("seed %d (resource %v)", seed, resource), h, res, want, kinds)
}

// LockOracleHistories is how many random histories go test compares.
const LockOracleHistories = 800

func TestCheckerAgreesWithBruteForceOracle(t *testing.T) {
	oracletest.Run(t, LockOracleHistories, oracletest.Min{Valid: 50, Invalid: 50, Unknown: 5}, agreeLock)
}

func FuzzCheckerAgreesWithOracle(f *testing.F) {
	oracletest.Fuzz(f, agreeLock, 3)
}
