package ids

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// Generate is the operation name of an ID request; an ok completion's value
// is the ID as a JSON number.
const Generate = "generate"

// Checker judges ID generation. It reads each history once, in order, and
// sorts the acknowledged IDs once: linear apart from the radix sort, which is
// linear too.
type Checker struct {
	layout Layout
	order  Order
	// tolerance widens every timestamp window beyond the known clock
	// offsets, for clock granularity and scheduling.
	tolerance time.Duration
}

var _ checkers.Checker = (*Checker)(nil)

// Option configures a Checker.
type Option func(*Checker)

// WithTolerance sets how far an ID's timestamp may lie outside its
// operation's window, beyond the node's known clock offset (default 500ms).
func WithTolerance(d time.Duration) Option { return func(c *Checker) { c.tolerance = d } }

// Order is the ordering a scheme promises for its IDs.
type Order string

// The orders a scheme may promise.
const (
	// OrderNode: an ID a node issues after it acknowledged another is
	// larger (snowflake, a sequence per server, a leased range per node).
	// Inversions across nodes are counted, not reported.
	OrderNode Order = "node"
	// OrderGlobal: an ID asked for after any other was acknowledged, on
	// any node, is larger (a single counter). Per-node order follows.
	OrderGlobal Order = "global"
	// OrderNone: uniqueness only; inversions are counted, not reported.
	OrderNone Order = "none"
)

// ParseOrder reads an Order by name.
func ParseOrder(s string) (Order, error) {
	switch o := Order(s); o {
	case OrderNode, OrderGlobal, OrderNone:
		return o, nil
	}
	return "", fmt.Errorf("order %q: want node, global or none", s)
}

// WithOrder sets the ordering the scheme promises (default OrderNode).
func WithOrder(o Order) Option { return func(c *Checker) { c.order = o } }

// New returns an ID checker for IDs of the given layout (Counter: bare
// integers, no timestamp window).
func New(l Layout, opts ...Option) *Checker {
	c := &Checker{layout: l, order: OrderNode, tolerance: 500 * time.Millisecond}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Name is "ids".
func (c *Checker) Name() string { return "ids" }

// Anomaly kinds.
const (
	KindDuplicate   = "duplicate-id"
	KindNonMonotone = "non-monotonic-id"
	KindOutOfWindow = "timestamp-out-of-window"
	KindBadValue    = "bad-id-value"
)

// IDWitness is the decoded form of an ID in an anomaly's data.
type IDWitness struct {
	ID        uint64 `json:"id"`
	Timestamp string `json:"timestamp,omitempty"`
	Parts
}

func (c *Checker) witness(id uint64) IDWitness {
	if c.layout.Counter {
		return IDWitness{ID: id}
	}
	return IDWitness{ID: id, Timestamp: c.layout.Time(id).UTC().Format(time.RFC3339Nano), Parts: c.layout.Decode(id)}
}

// pending is an invocation waiting for its completion.
type pending struct {
	inv int32 // index of the invocation in ops, -1 when none
	// floor is the largest ID its node had acknowledged when this op was
	// invoked, and floorOp the op that returned it (-1 when none).
	floor   uint64
	floorOp int32
	// gfloor is the largest ID acknowledged anywhere when this op was
	// invoked, and gfloorOp the op that returned it (-1 when none).
	gfloor   uint64
	gfloorOp int32
}

type nodeState struct {
	name string
	// maxOffset is the largest absolute clock offset the nemesis has given
	// this node so far, in nanoseconds.
	maxOffset int64
	maxID     uint64
	maxOp     int32
}

// clockRecord is the part of a clock fault's value the checker needs.
type clockRecord struct {
	MaxOffsetNS int64 `json:"max_offset_ns"`
}

// Check judges h.
func (c *Checker) Check(ctx context.Context, h *history.File) checkers.Result {
	// Duplicates lead the witnesses, so the pass collects the other
	// anomalies aside and they follow.
	var r, other checkers.Result
	ops := h.Ops
	start := h.Header.Start
	if start.IsZero() {
		return unknown("the history's header has no start time, so no ID's timestamp can be placed on the run's time line")
	}
	if err := history.WellFormed(ops, Generate); err != nil {
		return unknown(err.Error())
	}
	applied := appliedFaults(ops)
	counts := map[string]int64{"attempted": 0, "ok": 0, "fail": 0, "info": 0}
	procs := make([]pending, 0, 64)
	// Clusters are small: a linear scan beats hashing the node name twice
	// per operation.
	var nodes []*nodeState
	node := func(name string) *nodeState {
		for _, ns := range nodes {
			if ns.name == name {
				return ns
			}
		}
		ns := &nodeState{name: name, maxOp: -1}
		nodes = append(nodes, ns)
		return ns
	}
	// IDs' timestamps as nanoseconds since the run start, in integers: the
	// window test runs for every acknowledged ID.
	epochToStart := start.Sub(c.layout.Epoch).Nanoseconds()
	acked := make([]uint64, 0, len(ops)/2)
	// Most histories need no witness; the fault index is built for the
	// first one.
	var fi *history.FaultIndex
	faults := func() *history.FaultIndex {
		if fi == nil {
			fi = history.NewFaultIndex(ops)
		}
		return fi
	}
	tol := int64(c.tolerance)
	// The largest ID acknowledged anywhere so far, for global order.
	var gmax uint64
	gmaxOp := int32(-1)
	var inversions, nodeInversions int64

	for i := range ops {
		if i&(1<<20-1) == 0 && ctx.Err() != nil {
			return unknown(fmt.Sprintf("stopped after %d of %d records: %v", i, len(ops), ctx.Err()))
		}
		op := &ops[i]
		if op.Time < 0 {
			return unknown(fmt.Sprintf("record %d: time %d ns is before the run's start", op.Index, op.Time))
		}
		if op.IsNemesis() {
			if op.Type == history.Invoke && strings.HasPrefix(op.F, "clock-") && applied[i] {
				var cr clockRecord
				if err := op.DecodeValue(&cr); err == nil {
					ns := node(op.Node)
					ns.maxOffset = max(ns.maxOffset, cr.MaxOffsetNS)
				}
			}
			continue
		}
		if op.F != Generate {
			continue
		}
		if op.Process < 0 {
			return unknown(fmt.Sprintf("record %d: negative process %d", op.Index, op.Process))
		}
		for op.Process >= len(procs) {
			procs = append(procs, pending{inv: -1})
		}
		p := &procs[op.Process]
		if op.Type == history.Invoke {
			if p.inv >= 0 {
				return unknown(fmt.Sprintf("record %d: process %d invoked again before its record %d completed", op.Index, op.Process, ops[p.inv].Index))
			}
			ns := node(op.Node)
			*p = pending{inv: int32(i), floor: ns.maxID, floorOp: ns.maxOp, gfloor: gmax, gfloorOp: gmaxOp}
			counts["attempted"]++
			continue
		}
		if p.inv < 0 {
			return unknown(fmt.Sprintf("record %d: %s completion of process %d without an invocation", op.Index, op.Type, op.Process))
		}
		inv := &ops[p.inv]
		floor, floorOp := p.floor, p.floorOp
		gfloor, gfloorOp := p.gfloor, p.gfloorOp
		p.inv = -1
		switch op.Type {
		case history.Fail:
			counts["fail"]++
			continue
		case history.Info:
			counts["info"]++
			continue
		}
		counts["ok"]++
		id, ok := parseUint(op.Value)
		if !ok && other.Full() {
			other.Count(KindBadValue)
			continue
		} else if !ok {
			other.AddAnomaly(checkers.Anomaly{Kind: KindBadValue, Ops: []history.Op{*op},
				Message:   fmt.Sprintf("process %d on %s was acknowledged with %q, which is not a 64-bit ID", op.Process, op.Node, string(op.Value)),
				Processes: []int{op.Process}, Nodes: []string{op.Node}})
			continue
		}
		acked = append(acked, id)
		ns := node(op.Node)

		// A node's IDs must grow in real time: an ID asked for after
		// another was acknowledged must be larger.
		nodeBack := floorOp >= 0 && id <= floor
		if nodeBack && c.order == OrderNone {
			nodeInversions++
		} else if nodeBack && other.Full() {
			other.Count(KindNonMonotone)
		} else if nodeBack {
			prev := &ops[floorOp]
			other.AddAnomaly(checkers.Anomaly{Kind: KindNonMonotone, Ops: []history.Op{*prev, *inv, *op},
				Message: fmt.Sprintf("node %s issued %s to process %d at %s after it had issued the larger %s to process %d at %s",
					op.Node, c.layout.Describe(id), op.Process, secs(op.Time), c.layout.Describe(floor), prev.Process, secs(prev.Time)),
				Processes: distinct(prev.Process, op.Process), Nodes: []string{op.Node},
				Fault: faults().Before(op.Time, op.Node), Data: []IDWitness{c.witness(floor), c.witness(id)}})
		}
		if id > ns.maxID || ns.maxOp < 0 {
			ns.maxID, ns.maxOp = id, int32(i)
		}
		// Across nodes: an ID asked for after any other was acknowledged.
		// Only a scheme promising global order is held to it; the others
		// have it counted, so the report says how unordered they are.
		if gfloorOp >= 0 && id <= gfloor && !nodeBack {
			switch {
			case c.order != OrderGlobal:
				inversions++
			case other.Full():
				other.Count(KindNonMonotone)
			default:
				prev := &ops[gfloorOp]
				other.AddAnomaly(checkers.Anomaly{Kind: KindNonMonotone, Ops: []history.Op{*prev, *inv, *op},
					Message: fmt.Sprintf("node %s issued %s to process %d at %s, asked for at %s, after node %s had issued the larger %s to process %d at %s; the scheme promises one global order",
						op.Node, c.layout.Describe(id), op.Process, secs(op.Time), secs(inv.Time), prev.Node, c.layout.Describe(gfloor), prev.Process, secs(prev.Time)),
					Processes: distinct(prev.Process, op.Process), Nodes: distinctNodes(prev.Node, op.Node),
					Fault: faults().Before(op.Time, op.Node), Data: []IDWitness{c.witness(gfloor), c.witness(id)}})
			}
		}
		if id > gmax || gmaxOp < 0 {
			gmax, gmaxOp = id, int32(i)
		}

		// The timestamp must fall within the request's window, widened by
		// the node's known clock offset. A counter has none.
		if c.layout.Counter {
			continue
		}
		ts := c.layout.Decode(id).Millis*int64(time.Millisecond) - epochToStart
		widen := ns.maxOffset + tol
		outside := ts < inv.Time-widen || ts > op.Time+widen
		if outside && other.Full() {
			other.Count(KindOutOfWindow)
		} else if outside {
			other.AddAnomaly(checkers.Anomaly{Kind: KindOutOfWindow, Ops: []history.Op{*inv, *op},
				Message: fmt.Sprintf("node %s issued %s to process %d, but the request ran from %s to %s (wall clock %s to %s, widened by %s for clock offsets and tolerance)",
					op.Node, c.layout.Describe(id), op.Process, secs(inv.Time), secs(op.Time),
					start.Add(time.Duration(inv.Time)).UTC().Format("15:04:05.000"), start.Add(time.Duration(op.Time)).UTC().Format("15:04:05.000"), time.Duration(widen)),
				Processes: []int{op.Process}, Nodes: []string{op.Node},
				Fault: faults().Before(op.Time, op.Node), Data: []IDWitness{c.witness(id)}})
		}
	}
	for _, p := range procs {
		if p.inv >= 0 {
			counts["info"]++ // invoked, never completed: indeterminate
		}
	}

	dups := duplicates(acked)
	if c.order != OrderGlobal {
		counts["global-order-inversions"] = inversions
	}
	if c.order == OrderNone {
		counts["node-order-inversions"] = nodeInversions
	}
	counts["unique"] = int64(len(acked)) - dups.extra
	counts["duplicated-ids"] = int64(len(dups.values))
	if len(dups.values) > 0 {
		c.addDuplicates(&r, ops, dups.values, faults())
	}
	for _, k := range slices.Sorted(maps.Keys(other.AnomalyCounts)) {
		if r.AnomalyCounts == nil {
			r.AnomalyCounts = map[string]int64{}
		}
		r.AnomalyCounts[k] += other.AnomalyCounts[k]
	}
	room := max(0, checkers.MaxWitnesses-len(r.Anomalies))
	r.Anomalies = append(r.Anomalies, other.Anomalies[:min(room, len(other.Anomalies))]...)
	r.Counts = counts
	switch {
	case len(r.AnomalyCounts) > 0:
		r.Valid = checkers.Invalid
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.AnomalyCounts)) {
			parts = append(parts, fmt.Sprintf("%d %s", r.AnomalyCounts[k], k))
		}
		r.Summary = fmt.Sprintf("%d IDs acknowledged: %s", len(acked), strings.Join(parts, ", "))
	case len(acked) == 0:
		r.Valid = checkers.Unknown
		r.Summary = fmt.Sprintf("no ID was acknowledged (%d attempted, %d failed, %d indeterminate)", counts["attempted"], counts["fail"], counts["info"])
		r.Error = "nothing to judge: no acknowledged ID"
	default:
		r.Valid = checkers.Valid
		r.Summary = fmt.Sprintf("%d IDs acknowledged, all unique%s (%d failed, %d indeterminate)",
			len(acked), c.promised(), counts["fail"], counts["info"])
	}
	if c.order != OrderGlobal && inversions > 0 {
		// Not an anomaly: the scheme never promised it; said so the
		// report shows what the scheme gives up.
		r.Summary += fmt.Sprintf("; not globally ordered, as the scheme allows (order %s): %d IDs were smaller than one already acknowledged on another node", c.order, inversions)
	}
	return r
}

// addDuplicates finds the operations that returned each duplicated value in
// a second pass over the history: duplicates are rare, and keeping an op
// index beside every acknowledged ID would cost memory on every run.
func (c *Checker) addDuplicates(r *checkers.Result, ops []history.Op, values []uint64, faults *history.FaultIndex) {
	want := make(map[uint64][]int32, len(values))
	for _, v := range values {
		want[v] = nil
	}
	for i := range ops {
		op := &ops[i]
		if op.Type != history.OK || op.F != Generate || op.IsNemesis() {
			continue
		}
		id, ok := parseUint(op.Value)
		if w, dup := want[id]; ok && dup {
			want[id] = append(w, int32(i))
		}
	}
	// Report in order of first issue, so the earliest duplicates come first.
	sort.Slice(values, func(i, j int) bool { return want[values[i]][0] < want[values[j]][0] })
	for _, v := range values {
		idx := want[v]
		a := checkers.Anomaly{Kind: KindDuplicate, Data: []IDWitness{c.witness(v)}}
		var who []string
		seenNode := map[string]bool{}
		seenProc := map[int]bool{}
		for _, j := range idx {
			op := ops[j]
			a.Ops = append(a.Ops, op)
			if !seenProc[op.Process] {
				seenProc[op.Process] = true
				a.Processes = append(a.Processes, op.Process)
			}
			if !seenNode[op.Node] {
				seenNode[op.Node] = true
				a.Nodes = append(a.Nodes, op.Node)
			}
			who = append(who, fmt.Sprintf("node %s to process %d at %s", op.Node, op.Process, secs(op.Time)))
		}
		last := ops[idx[len(idx)-1]]
		a.Fault = faults.Before(last.Time, last.Node)
		a.Message = fmt.Sprintf("ID %s was issued %d times: %s", c.layout.Describe(v), len(idx), strings.Join(who, "; "))
		if a.Fault != nil {
			a.Message += "; last fault before: " + describeFault(a.Fault)
		}
		r.AddAnomaly(a)
	}
}

func describeFault(f *history.Op) string {
	s := fmt.Sprintf("%s on %s at %s", f.F, f.Node, secs(f.Time))
	if len(f.Value) > 0 && json.Valid(f.Value) {
		s += " " + string(f.Value)
	}
	return s
}

// appliedFaults are the positions of the fault invocations that took
// effect or may have: a clock fault recorded as fail moved no clock, and
// only the others widen a node's window. Overlapping faults pair as
// history.PairIndex pairs them.
func appliedFaults(ops []history.Op) map[int]bool {
	done := history.FaultCompletions(ops)
	out := map[int]bool{}
	for i := range ops {
		if ops[i].IsNemesis() && ops[i].Type == history.Invoke {
			j, ok := done[i]
			out[i] = !ok || ops[j].Type != history.Fail
		}
	}
	return out
}

// parseUint reads a JSON number as a uint64 without allocating; it is on the
// path of every acknowledged ID.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// promised says what a valid history was found to keep.
func (c *Checker) promised() string {
	s := ""
	switch c.order {
	case OrderNode:
		s = ", increasing per node"
	case OrderGlobal:
		s = ", increasing in real time across every node"
	}
	if !c.layout.Counter {
		s += " and within their time windows"
	}
	return s
}

func distinctNodes(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

func distinct(a, b int) []int {
	if a == b {
		return []int{a}
	}
	return []int{a, b}
}

func secs(t int64) string { return fmt.Sprintf("%.3fs", time.Duration(t).Seconds()) }

func unknown(why string) checkers.Result {
	return checkers.Result{Valid: checkers.Unknown, Summary: "could not judge the ID history", Error: why}
}
