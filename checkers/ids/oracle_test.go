package ids_test

// An independent judge of ID histories, written from the checker's
// definition and sharing no code with it, run against the checker on small
// random histories.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/checkers/ids"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/internal/oracletest"
)

var (
	oEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	oStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
)

const oTolerance = 500 * time.Millisecond

// oracleVerdict judges h by brute force: every pair of operations, every
// fault before every completion.
func oracleVerdict(h *history.File) (checkers.Validity, map[string]bool) {
	kinds := map[string]bool{}
	if h.Header.Start.IsZero() {
		return checkers.Unknown, kinds
	}
	ops := h.Ops
	for _, op := range ops {
		if op.Time < 0 {
			return checkers.Unknown, kinds
		}
	}
	type gen struct {
		inv, done history.Op
		id        uint64
		parsed    bool
	}
	var oks []gen
	openInv := map[int]history.Op{}
	for _, op := range ops {
		if op.IsNemesis() || op.F != ids.Generate {
			continue
		}
		if op.Type == history.Invoke {
			if _, busy := openInv[op.Process]; busy {
				return checkers.Unknown, kinds
			}
			openInv[op.Process] = op
			continue
		}
		inv, ok := openInv[op.Process]
		if !ok {
			return checkers.Unknown, kinds
		}
		delete(openInv, op.Process)
		if op.Type != history.OK {
			continue
		}
		g := gen{inv: inv, done: op}
		s := string(op.Value)
		if n, err := strconv.ParseUint(s, 10, 64); err == nil && s != "" && s[0] != '+' {
			g.id, g.parsed = n, true
		} else {
			kinds[ids.KindBadValue] = true
		}
		oks = append(oks, g)
	}
	// Clock faults that were not refused: the nemesis record right after an
	// invocation is its completion.
	type clockFault struct {
		inv    history.Op
		offset int64
	}
	var clocks []clockFault
	var nem []history.Op
	for _, op := range ops {
		if op.IsNemesis() {
			nem = append(nem, op)
		}
	}
	for i, op := range nem {
		if op.Type != history.Invoke || len(op.F) < 6 || op.F[:6] != "clock-" {
			continue
		}
		if i+1 < len(nem) && nem[i+1].Type == history.Fail && nem[i+1].F == op.F && nem[i+1].Node == op.Node {
			continue
		}
		var v struct {
			Max int64 `json:"max_offset_ns"`
		}
		if json.Unmarshal(op.Value, &v) == nil {
			clocks = append(clocks, clockFault{op, v.Max})
		}
	}
	parsed := 0
	for i, a := range oks {
		if !a.parsed {
			continue
		}
		parsed++
		for j, b := range oks {
			if i == j || !b.parsed {
				continue
			}
			if a.id == b.id {
				kinds[ids.KindDuplicate] = true
			}
			if a.inv.Node == b.inv.Node && a.done.Index < b.inv.Index && b.id <= a.id {
				kinds[ids.KindNonMonotone] = true
			}
		}
		var off int64
		for _, c := range clocks {
			if c.inv.Node == a.done.Node && c.inv.Index < a.done.Index && c.offset > off {
				off = c.offset
			}
		}
		ms := int64(a.id >> 22)
		ts := oEpoch.Add(time.Duration(ms) * time.Millisecond).Sub(h.Header.Start).Nanoseconds()
		w := off + int64(oTolerance)
		if ts < a.inv.Time-w || ts > a.done.Time+w {
			kinds[ids.KindOutOfWindow] = true
		}
	}
	switch {
	case len(kinds) > 0:
		return checkers.Invalid, kinds
	case parsed == 0:
		return checkers.Unknown, kinds
	}
	return checkers.Valid, kinds
}

// randomIDHistory makes a small history of 3 nodes and a few workers with
// ok, fail and info completions, open operations at the end, clock faults
// that were applied, refused or indeterminate, and IDs near, or not so
// near, their request's time.
func randomIDHistory(r *rand.Rand) *history.File {
	h := &history.File{Header: history.Header{Start: oStart, Nodes: []string{"n1", "n2", "n3"}}}
	if r.IntN(40) == 0 {
		h.Header.Start = time.Time{}
	}
	var ops []history.Op
	now := int64(r.IntN(50)) * int64(time.Millisecond)
	add := func(op history.Op) {
		op.Index = int64(len(ops))
		op.Time = now
		ops = append(ops, op)
	}
	type worker struct {
		proc int
		node string
		open bool
	}
	workers := make([]*worker, 1+r.IntN(4))
	nextProc := 0
	for i := range workers {
		workers[i] = &worker{proc: nextProc}
		nextProc++
	}
	var issued []uint64
	seq := 0
	honest := r.IntN(2) // most histories of an honest service are valid
	nodes := h.Header.Nodes
	offsets := []int64{0, int64(300 * time.Millisecond), int64(time.Second), int64(2 * time.Second)}
	steps := 4 + r.IntN(30)
	for s := 0; s < steps; s++ {
		now += int64(r.IntN(4)) * int64(100*time.Millisecond) / int64(1+r.IntN(4))
		switch k := r.IntN(10); {
		case k == 0: // a fault
			node := nodes[r.IntN(len(nodes))]
			f := []string{"clock-rollback", "clock-bump", "kill"}[r.IntN(3)]
			v := history.JSON(map[string]int64{"max_offset_ns": offsets[r.IntN(len(offsets))]})
			add(history.Op{Process: history.NemesisProcess, Type: history.Invoke, F: f, Node: node, Value: v})
			if r.IntN(6) > 0 {
				now += int64(r.IntN(3)) * int64(time.Millisecond)
				add(history.Op{Process: history.NemesisProcess, Type: []history.Type{history.OK, history.Fail, history.Info}[r.IntN(3)], F: f, Node: node})
			}
		default:
			w := workers[r.IntN(len(workers))]
			if !w.open {
				w.node = nodes[r.IntN(len(nodes))]
				add(history.Op{Process: w.proc, Type: history.Invoke, F: ids.Generate, Node: w.node})
				w.open = true
				continue
			}
			w.open = false
			switch t := r.IntN(10); {
			case t == 0:
				add(history.Op{Process: w.proc, Type: history.Fail, F: ids.Generate, Node: w.node})
			case t == 1:
				add(history.Op{Process: w.proc, Type: history.Info, F: ids.Generate, Node: w.node})
				w.proc = nextProc
				nextProc++
			default:
				var v []byte
				switch {
				case r.IntN(honest*40+30) == 0:
					v = []byte(`"x"`)
				case len(issued) > 0 && r.IntN(honest*40+8) == 0:
					v = history.Uint(issued[r.IntN(len(issued))])
				default:
					jitter := time.Duration(r.IntN(5)) * time.Millisecond
					if r.IntN(honest*20+2) == 0 {
						jitter = time.Duration(r.IntN(6001)-3000) * time.Millisecond
					}
					ms := oStart.Add(time.Duration(now)).Add(jitter).Sub(oEpoch).Milliseconds()
					seq++
					id := uint64(ms)<<22 | uint64(w.node[1]-'0')<<12 | uint64(seq%4096)
					issued = append(issued, id)
					v = history.Uint(id)
				}
				add(history.Op{Process: w.proc, Type: history.OK, F: ids.Generate, Node: w.node, Value: v})
			}
		}
	}
	if r.IntN(40) == 0 && len(ops) > 0 {
		ops[0].Time = -1
	}
	h.Ops = ops
	return h
}

// agree runs checker and oracle on one seed's history.
func agree(seed uint64) (string, checkers.Validity, error) {
	h := randomIDHistory(rand.New(rand.NewPCG(seed, 0x1d5)))
	r := ids.New(ids.Snowflake(oEpoch), ids.WithTolerance(oTolerance)).Check(context.Background(), h)
	want, kinds := oracleVerdict(h)
	return oracletest.Compare(fmt.Sprintf("seed %d (start %v)", seed, h.Header.Start), h, r, want, kinds)
}

// OracleHistories is how many random histories go test compares.
const OracleHistories = 600

func TestCheckerAgreesWithBruteForceOracle(t *testing.T) {
	oracletest.Run(t, OracleHistories, oracletest.Min{Valid: 30, Invalid: 30, Unknown: 5}, agree)
}

func FuzzCheckerAgreesWithOracle(f *testing.F) {
	oracletest.Fuzz(f, agree, 1)
}
