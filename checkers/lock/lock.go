// Package lock is the lock-safety checker. It reads a history of the lock
// contract (see package workloads/lock) and reports:
//
//   - overlapping-holds: two processes whose holds of the same lock overlap
//     in real time, each hold running from its acquire's acknowledgement to
//     its release's invocation, cut short at the validity deadline when the
//     lock reported one. Such an overlap lies inside what both clients were
//     promised: the lock itself is broken.
//   - write-after-validity: an accepted write, with no fencing token,
//     invoked after its hold's validity had run out. Here the lock kept its
//     promise and the client ignored its lease (a pause, a slow network): the
//     case fencing exists for. A late write the resource accepted with a
//     fencing token is only counted (late-writes-fenced): the resource
//     ordered it before every newer holder's write.
//   - lost-update: an acknowledged write missing from the final read.
//   - fencing-violation: a write accepted with a fencing token lower than one
//     accepted before it.
//   - write-without-lock: an accepted write by a process that held no hold
//     of that write's lock.
//   - fence-regression: a grant whose fencing token is lower than that of a
//     grant of the same lock acknowledged before it was even requested,
//     whether or not anything was written in between.
//   - rejected-write-visible: a write the resource refused (fail) whose
//     element shows in the lock's final read.
//
// Holds are tracked per process and lock: a process may hold several locks
// at once, and a write or release concerns only the lock it names.
//
// Only acknowledged (ok) acquires and writes count as evidence; an info
// acquire may have taken the lock, but nothing can be proven from it, and it
// never counts as failed either. The checker is O(n log n) in the history.
package lock

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// Anomaly kinds.
const (
	KindOverlap       = "overlapping-holds"
	KindLateWrite     = "write-after-validity"
	KindLostUpdate    = "lost-update"
	KindFencing       = "fencing-violation"
	KindUnguarded     = "write-without-lock"
	KindFenceBack     = "fence-regression"
	KindRejected      = "rejected-write-visible"
	noDeadline        = math.MaxInt64
	ctxCheckInterval  = 1 << 14
	maxOverwriterScan = 1 << 16
)

// Checker is the lock-safety checker.
type Checker struct {
	resource bool
}

var _ checkers.Checker = (*Checker)(nil)

// Option configures the checker.
type Option func(*Checker)

// WithResource also checks the protected resource: lost updates against the
// final read (workload lock-set). Fencing and unguarded writes are checked
// whenever writes appear.
func WithResource(on bool) Option { return func(c *Checker) { c.resource = on } }

// New returns the checker.
func New(opts ...Option) *Checker {
	c := &Checker{}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Name is "lock-safety".
func (c *Checker) Name() string { return "lock-safety" }

// Hold is one process's tenure of a lock, as the checker places it on the
// history's time line (nanoseconds since the run started).
type Hold struct {
	Process int      `json:"process"`
	Key     string   `json:"key"`
	Start   int64    `json:"start_ns"`
	End     int64    `json:"end_ns"`
	Expires int64    `json:"expires_ns,omitempty"`
	Nodes   []string `json:"nodes,omitempty"`
	Fence   *int64   `json:"fence,omitempty"`
	Client  string   `json:"client"`

	acqInv   *history.Op
	acqOK    *history.Op
	release  *history.Op
	deadline int64
}

// effEnd is where the hold stops counting: the release's invocation or the
// validity deadline, whichever is first.
func (h *Hold) effEnd() int64 { return min(h.End, h.deadline) }

func (h *Hold) describe() string {
	s := fmt.Sprintf("%s (process %d) held %s from %s", h.Client, h.Process, h.Key, secs(h.Start))
	if h.release != nil {
		s += " to " + secs(h.End)
	} else {
		s += " with no release"
	}
	if h.deadline != noDeadline {
		s += ", valid until " + secs(h.deadline)
	}
	if len(h.Nodes) > 0 {
		s += ", granted by " + strings.Join(h.Nodes, ",")
	}
	if h.Fence != nil {
		s += fmt.Sprintf(", fence %d", *h.Fence)
	}
	return s
}

func secs(ns int64) string { return fmt.Sprintf("%.3fs", time.Duration(ns).Seconds()) }

// holdKey names what a hold belongs to: a process's tenure of one lock.
type holdKey struct {
	process int
	key     string
}

// failedWrite is a write the resource refused, with the element it carried.
type failedWrite struct {
	inv, done *history.Op
	add       int64
}

type write struct {
	inv, done *history.Op
	res       WriteResult
	hold      int // index into holds, -1 when none
	// maybe: no hold, but the process's last acquire of the lock ended
	// info, so it may hold it.
	maybe bool
}

// Fs are the client operations of the lock contract; a history with any
// other is not judged.
var Fs = []string{"acquire", "release", "read", "write"}

// Check judges h.
func (c *Checker) Check(ctx context.Context, h *history.File) checkers.Result {
	res := checkers.Result{Counts: map[string]int64{}}
	if err := history.WellFormed(h.Ops, Fs...); err != nil {
		return unknown(res, err.Error())
	}
	end := history.EndTime(h.Ops)
	fi := history.NewFaultIndex(h.Ops)

	var (
		holds     []Hold
		writes    []write
		finals    = map[string][]int64{} // lock name -> its final read
		undecided []string
		counts    [4][3]int64 // f (acquire, release, read, write) x outcome (ok, fail, info)
	)
	dec := newGrantDecoder()
	granted := 0
	for i := range h.Ops {
		if h.Ops[i].Type == history.OK && h.Ops[i].F == "acquire" {
			granted++
		}
	}
	holds = make([]Hold, 0, granted)
	open := map[int]int{}    // process -> index of its open invocation
	cur := map[holdKey]int{} // (process, lock) -> its hold, until it invokes release
	// (process, lock) whose last acquire ended info, until it invokes
	// release or is granted: it may hold the lock.
	maybeHeld := map[holdKey]bool{}
	var failed []failedWrite
	// maybeAdded lists per lock the elements of writes that may have taken
	// effect (ok or info): a refused write's element seen in the final read
	// proves nothing when another write carried the same element.
	maybeAdded := map[string]map[int64]bool{}
	mayHaveAdded := func(key string, inv *history.Op) {
		var a WriteArgs
		if len(inv.Value) == 0 || json.Unmarshal(inv.Value, &a) != nil {
			return
		}
		if maybeAdded[key] == nil {
			maybeAdded[key] = map[int64]bool{}
		}
		maybeAdded[key][a.Add] = true
	}
	// Operations are taken as they complete; the only thing an invocation
	// decides is the end of a hold, which a release's invocation marks.
	for i := range h.Ops {
		if i%ctxCheckInterval == 0 && ctx.Err() != nil {
			return unknown(res, "check interrupted: "+ctx.Err().Error())
		}
		op := &h.Ops[i]
		if op.IsNemesis() {
			continue
		}
		if op.Type == history.Invoke {
			if j, busy := open[op.Process]; busy {
				return unknown(res, fmt.Sprintf("history is malformed: record %d: process %d invokes %q while record %d is open", op.Index, op.Process, op.F, h.Ops[j].Index))
			}
			open[op.Process] = i
			if op.F == "release" {
				hk := holdKey{op.Process, op.Key}
				delete(maybeHeld, hk)
				if j, ok := cur[hk]; ok {
					holds[j].End = op.Time
					holds[j].release = op
					delete(cur, hk)
				}
			}
			continue
		}
		j, ok := open[op.Process]
		if !ok || h.Ops[j].F != op.F {
			return unknown(res, fmt.Sprintf("history is malformed: record %d: process %d completes %q with no matching invocation", op.Index, op.Process, op.F))
		}
		delete(open, op.Process)
		inv := &h.Ops[j]
		if f, o := fIndex(op.F), outIndex(op.Type); f >= 0 && o >= 0 {
			counts[f][o]++
		}
		if op.F == "write" && op.Type != history.OK {
			if op.Type == history.Fail {
				var a WriteArgs
				if len(inv.Value) > 0 && json.Unmarshal(inv.Value, &a) == nil {
					failed = append(failed, failedWrite{inv: inv, done: op, add: a.Add})
				}
			} else {
				mayHaveAdded(inv.Key, inv)
			}
		}
		if op.F == "acquire" && op.Type == history.Info {
			maybeHeld[holdKey{op.Process, inv.Key}] = true
		}
		if op.Type != history.OK {
			continue
		}
		switch op.F {
		case "acquire":
			var g Grant
			if err := dec.grant(op.Value, &g); err != nil {
				undecided = append(undecided, fmt.Sprintf("record %d: acquire's grant is not decodable: %v", op.Index, err))
				continue
			}
			hk := holdKey{op.Process, inv.Key}
			delete(maybeHeld, hk)
			if k, held := cur[hk]; held {
				// Acquiring again without a release ends the old hold.
				holds[k].End = inv.Time
			}
			if g.Client == "" {
				g.Client = fmt.Sprintf("process %d", op.Process)
			}
			hd := Hold{Process: op.Process, Key: inv.Key, Start: op.Time, End: end,
				Nodes: g.Nodes, Fence: g.Fence, Client: g.Client,
				acqInv: inv, acqOK: op, deadline: noDeadline}
			if g.Validity > 0 {
				hd.deadline = inv.Time + g.Validity
				hd.Expires = hd.deadline
			}
			cur[hk] = len(holds)
			holds = append(holds, hd)
		case "read":
			var a ReadArgs
			if len(inv.Value) > 0 {
				_ = json.Unmarshal(inv.Value, &a)
			}
			if a.Final {
				var rr ReadResult
				if err := json.Unmarshal(op.Value, &rr); err != nil {
					undecided = append(undecided, fmt.Sprintf("record %d: final read's value is not decodable: %v", op.Index, err))
					continue
				}
				if rr.Set == nil {
					rr.Set = []int64{}
				}
				finals[inv.Key] = rr.Set
			}
		case "write":
			w := write{inv: inv, done: op, hold: -1}
			if err := json.Unmarshal(op.Value, &w.res); err != nil {
				undecided = append(undecided, fmt.Sprintf("record %d: write's value is not decodable: %v", op.Index, err))
				continue
			}
			if k, held := cur[holdKey{op.Process, inv.Key}]; held {
				w.hold = k
			}
			w.maybe = maybeHeld[holdKey{op.Process, inv.Key}]
			if maybeAdded[inv.Key] == nil {
				maybeAdded[inv.Key] = map[int64]bool{}
			}
			maybeAdded[inv.Key][w.res.Add] = true
			writes = append(writes, w)
		}
	}
	// An operation the history ended on is indeterminate, like info.
	for _, j := range open {
		if f := fIndex(h.Ops[j].F); f >= 0 {
			counts[f][2]++
		}
		if h.Ops[j].F == "write" {
			mayHaveAdded(h.Ops[j].Key, &h.Ops[j])
		}
	}
	for f, name := range fNames {
		for o, out := range outNames {
			if counts[f][o] > 0 {
				res.Counts[name+"-"+out] = counts[f][o]
			}
		}
	}
	res.Counts["holds"] = int64(len(holds))

	byKey := map[string][]int{}
	for i := range holds {
		byKey[holds[i].Key] = append(byKey[holds[i].Key], i)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		idx := byKey[k]
		sort.SliceStable(idx, func(a, b int) bool { return holds[idx[a]].Start < holds[idx[b]].Start })
		c.overlaps(&res, holds, idx, fi)
		c.fenceRegressions(&res, holds, idx, fi)
	}

	for i := range writes {
		w := &writes[i]
		if w.hold < 0 && w.maybe {
			// An info acquire may have taken the lock: the write is not
			// proven unguarded, and no hold window exists to judge it by.
			res.Counts["writes-after-info-acquire"]++
			continue
		}
		if w.hold < 0 {
			res.AddAnomaly(checkers.Anomaly{Kind: KindUnguarded,
				Message: fmt.Sprintf("process %d had its write of %d accepted at %s while holding no lock",
					w.inv.Process, w.res.Add, secs(w.done.Time)),
				Ops: []history.Op{*w.inv, *w.done}, Processes: []int{w.inv.Process},
				Nodes: nodesOf(w.inv.Node), Fault: fi.Before(w.inv.Time, "")})
			continue
		}
		hd := &holds[w.hold]
		if w.inv.Time > hd.deadline {
			if w.res.Fence != nil {
				// The resource checked the token and took the write as
				// ordered before any newer holder's: fencing did its job.
				// Any harm shows as a fencing violation or a lost update.
				res.Counts["late-writes-fenced"]++
				continue
			}
			c.lateWrite(&res, holds, byKey[hd.Key], w, fi)
		}
	}
	// Each lock protects its own resource, with its own acceptance order.
	writesByKey := map[string][]write{}
	for _, w := range writes {
		writesByKey[w.inv.Key] = append(writesByKey[w.inv.Key], w)
	}
	wkeys := make([]string, 0, len(writesByKey))
	for k := range writesByKey {
		wkeys = append(wkeys, k)
	}
	sort.Strings(wkeys)
	for _, k := range wkeys {
		ws := writesByKey[k]
		c.fencing(&res, holds, ws, fi)
		if !c.resource {
			continue
		}
		final, ok := finals[k]
		if !ok {
			undecided = append(undecided, fmt.Sprintf("no final read of %s's resource completed, so lost updates cannot be judged", k))
			continue
		}
		c.lostUpdates(&res, holds, ws, final, fi)
	}
	c.rejectedVisible(&res, failed, finals, maybeAdded, fi)
	ok := counts[0][0]
	switch {
	case len(res.AnomalyCounts) > 0:
		res.Valid = checkers.Invalid
		res.Summary = fmt.Sprintf("%d holds checked: %s", len(holds), anomalySummary(res.AnomalyCounts))
		if len(undecided) > 0 {
			res.Error = strings.Join(undecided, "; ")
		}
	case len(undecided) > 0:
		return unknown(res, strings.Join(undecided, "; "))
	case ok == 0:
		return unknown(res, "no acquire succeeded, so mutual exclusion was never exercised")
	default:
		res.Valid = checkers.Valid
		res.Summary = fmt.Sprintf("%d holds of %d acquires attempted, none overlapping", len(holds), ok+counts[0][1]+counts[0][2])
		if c.resource {
			res.Summary += fmt.Sprintf("; %d acknowledged writes, none lost", len(writes))
		}
	}
	return res
}

func unknown(res checkers.Result, why string) checkers.Result {
	res.Valid = checkers.Unknown
	res.Summary = "lock safety undecided: " + why
	res.Error = why
	return res
}

func anomalySummary(m map[string]int64) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

// overlaps sweeps one lock's holds in start order, keeping the hold that
// reaches furthest; any later hold starting before that reach overlaps it.
func (c *Checker) overlaps(res *checkers.Result, holds []Hold, idx []int, fi *history.FaultIndex) {
	reach, by := int64(math.MinInt64), -1
	for _, i := range idx {
		h := &holds[i]
		e := h.effEnd()
		if e <= h.Start {
			// Acknowledged only after its validity ran out: never a hold.
			continue
		}
		if by >= 0 && h.Start < reach && holds[by].Process != h.Process {
			a := &holds[by]
			within := "both within their claimed validity"
			if a.deadline == noDeadline || h.deadline == noDeadline {
				within = "before either released"
			}
			ops := []history.Op{*a.acqOK}
			if a.release != nil {
				ops = append(ops, *a.release)
			}
			ops = append(ops, *h.acqOK)
			fault := faultBefore(fi, h.Start, a.Nodes, h.Nodes)
			msg := fmt.Sprintf("two holders of %s at once, %s: %s; %s. They overlap from %s to %s.",
				h.Key, within, a.describe(), h.describe(), secs(h.Start), secs(min(reach, h.effEnd())))
			if common := intersect(a.Nodes, h.Nodes); len(common) > 0 {
				msg += " Granted to both by " + strings.Join(common, ",") + "."
			}
			if fault != nil {
				msg += " Last fault before: " + fault.String() + "."
			}
			res.AddAnomaly(checkers.Anomaly{Kind: KindOverlap, Message: msg, Ops: ops,
				Processes: []int{a.Process, h.Process}, Nodes: union(a.Nodes, h.Nodes), Fault: fault,
				Data: map[string]any{"holds": []Hold{*a, *h}}})
		}
		if e > reach {
			reach, by = e, i
		}
	}
}

// lateWrite reports a write made after the hold's validity ran out, naming
// any other hold that began in between.
func (c *Checker) lateWrite(res *checkers.Result, holds []Hold, idx []int, w *write, fi *history.FaultIndex) {
	hd := &holds[w.hold]
	at := w.inv.Time
	msg := fmt.Sprintf("%s wrote %d at %s, %s after its lease ran out: %s.",
		hd.Client, w.res.Add, secs(at), time.Duration(at-hd.deadline).Round(time.Millisecond), hd.describe())
	ops := []history.Op{*hd.acqOK, *w.inv, *w.done}
	procs := []int{hd.Process}
	nodes := append([]string(nil), hd.Nodes...)
	// idx is sorted by start: find holds that began in (deadline, at].
	lo := sort.Search(len(idx), func(k int) bool { return holds[idx[k]].Start > hd.deadline })
	for k := lo; k < len(idx) && holds[idx[k]].Start <= at; k++ {
		o := &holds[idx[k]]
		if o.Process == hd.Process {
			continue
		}
		msg += " Meanwhile " + o.describe() + "."
		ops = append(ops, *o.acqOK)
		procs = append(procs, o.Process)
		nodes = union(nodes, o.Nodes)
		break
	}
	fault := faultBefore(fi, at, hd.Nodes, nil)
	if fault != nil {
		msg += " Last fault before: " + fault.String() + "."
	}
	res.AddAnomaly(checkers.Anomaly{Kind: KindLateWrite, Message: msg, Ops: ops, Processes: procs,
		Nodes: nodes, Fault: fault, Data: map[string]any{"late_ns": at - hd.deadline, "hold": *hd}})
}

// fencing walks the accepted writes in acceptance order.
func (c *Checker) fencing(res *checkers.Result, holds []Hold, writes []write, fi *history.FaultIndex) {
	order := make([]int, 0, len(writes))
	for i := range writes {
		if writes[i].res.Fence != nil {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return writes[order[a]].res.Seq < writes[order[b]].res.Seq })
	best := -1
	for _, i := range order {
		w := &writes[i]
		if best >= 0 && *w.res.Fence < *writes[best].res.Fence {
			b := &writes[best]
			fault := fi.Before(w.done.Time, "")
			msg := fmt.Sprintf("the resource accepted %s's write of %d with fencing token %d after %s's write of %d with token %d",
				clientOf(holds, w), w.res.Add, *w.res.Fence, clientOf(holds, b), b.res.Add, *b.res.Fence)
			if fault != nil {
				msg += "; last fault before: " + fault.String()
			}
			res.AddAnomaly(checkers.Anomaly{Kind: KindFencing, Message: msg,
				Ops:       []history.Op{*b.done, *w.done},
				Processes: []int{b.inv.Process, w.inv.Process},
				Nodes:     union(holdNodes(holds, b), holdNodes(holds, w)), Fault: fault})
			continue
		}
		if best < 0 || *w.res.Fence > *writes[best].res.Fence {
			best = i
		}
	}
}

// lostUpdates finds acknowledged writes missing from the final read, and for
// each the write that overwrote it.
func (c *Checker) lostUpdates(res *checkers.Result, holds []Hold, writes []write, final []int64, fi *history.FaultIndex) {
	have := make(map[int64]struct{}, len(final))
	for _, x := range final {
		have[x] = struct{}{}
	}
	order := make([]int, len(writes))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return writes[order[a]].res.Seq < writes[order[b]].res.Seq })
	for k, i := range order {
		w := &writes[i]
		if _, ok := have[w.res.Add]; ok {
			continue
		}
		msg := fmt.Sprintf("%s's acknowledged write of %d (accepted %s) is missing from the final read",
			clientOf(holds, w), w.res.Add, secs(w.done.Time))
		ops := []history.Op{*w.inv, *w.done}
		procs := []int{w.inv.Process}
		nodes := holdNodes(holds, w)
		at := w.done.Time
		if res.AnomalyCounts[KindLostUpdate] < checkers.MaxWitnesses {
			for j := k + 1; j < len(order) && j <= k+maxOverwriterScan; j++ {
				o := &writes[order[j]]
				if contains(o.res.Set, w.res.Add) {
					continue
				}
				msg += fmt.Sprintf(": %s overwrote it at %s with %v, written from a read taken", clientOf(holds, o), secs(o.done.Time), o.res.Set)
				if o.hold >= 0 {
					msg += " under its own hold (" + holds[o.hold].describe() + ")"
				}
				if w.hold >= 0 {
					msg += "; the lost write was made under " + holds[w.hold].describe()
				}
				ops = append(ops, *o.inv, *o.done)
				procs = append(procs, o.inv.Process)
				nodes = union(nodes, holdNodes(holds, o))
				at = max(at, o.done.Time)
				break
			}
		}
		fault := fi.Before(at, "")
		if fault != nil {
			msg += ". Last fault before: " + fault.String()
		}
		res.AddAnomaly(checkers.Anomaly{Kind: KindLostUpdate, Message: msg, Ops: ops, Processes: procs,
			Nodes: nodes, Fault: fault})
	}
}

func clientOf(holds []Hold, w *write) string {
	if w.hold >= 0 {
		return holds[w.hold].Client
	}
	return fmt.Sprintf("process %d", w.inv.Process)
}

func holdNodes(holds []Hold, w *write) []string {
	if w.hold >= 0 {
		return holds[w.hold].Nodes
	}
	return nodesOf(w.inv.Node)
}

// faultBefore prefers the latest fault before t on a node that granted both
// holds, then on a node that granted either, then any fault.
func faultBefore(fi *history.FaultIndex, t int64, a, b []string) *history.Op {
	for _, nodes := range [][]string{intersect(a, b), union(a, b)} {
		var best *history.Op
		for _, n := range nodes {
			if f := fi.Before(t, n); f != nil && f.Node == n && (best == nil || f.Time > best.Time) {
				best = f
			}
		}
		if best != nil {
			return best
		}
	}
	return fi.Before(t, "")
}

func nodesOf(n string) []string {
	if n == "" {
		return nil
	}
	return []string{n}
}

func contains(xs []int64, x int64) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(append([]string(nil), a...), b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func intersect(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range a {
		in[s] = true
	}
	var out []string
	for _, s := range b {
		if in[s] {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

var (
	fNames   = [...]string{"acquire", "release", "read", "write"}
	outNames = [...]string{"ok", "fail", "info"}
)

func fIndex(f string) int {
	for i, n := range fNames {
		if n == f {
			return i
		}
	}
	return -1
}

func outIndex(t history.Type) int {
	switch t {
	case history.OK:
		return 0
	case history.Fail:
		return 1
	case history.Info:
		return 2
	}
	return -1
}

// fenceRegressions finds grants of one lock whose fencing token is lower
// than that of a grant acknowledged before they were requested: such a
// grant is certainly the later one, so its token must be larger. idx is the
// lock's holds in acknowledgement order.
func (c *Checker) fenceRegressions(res *checkers.Result, holds []Hold, idx []int, fi *history.FaultIndex) {
	byInv := make([]int, 0, len(idx))
	for _, i := range idx {
		if holds[i].Fence != nil {
			byInv = append(byInv, i)
		}
	}
	if len(byInv) < 2 {
		return
	}
	sort.SliceStable(byInv, func(a, b int) bool { return holds[byInv[a]].acqInv.Time < holds[byInv[b]].acqInv.Time })
	k, best := 0, -1 // idx[:k] are acknowledged before the current request; best has the largest token
	for _, i := range byInv {
		h := &holds[i]
		for ; k < len(idx) && holds[idx[k]].Start < h.acqInv.Time; k++ {
			if f := holds[idx[k]].Fence; f != nil && (best < 0 || *f > *holds[best].Fence) {
				best = idx[k]
			}
		}
		if best < 0 || *h.Fence >= *holds[best].Fence {
			continue
		}
		if res.Full() {
			res.Count(KindFenceBack)
			continue
		}
		a := &holds[best]
		fault := faultBefore(fi, h.Start, a.Nodes, h.Nodes)
		msg := fmt.Sprintf("fencing token of %s went backwards: %s was granted token %d at %s, and %s, who asked for it only at %s, got the lower token %d",
			h.Key, a.Client, *a.Fence, secs(a.Start), h.Client, secs(h.acqInv.Time), *h.Fence)
		if fault != nil {
			msg += "; last fault before: " + fault.String()
		}
		res.AddAnomaly(checkers.Anomaly{Kind: KindFenceBack, Message: msg,
			Ops:       []history.Op{*a.acqOK, *h.acqInv, *h.acqOK},
			Processes: []int{a.Process, h.Process}, Nodes: union(a.Nodes, h.Nodes), Fault: fault,
			Data: map[string]any{"holds": []Hold{*a, *h}}})
	}
}

// rejectedVisible reports refused writes whose element is in the final
// read of their lock's resource, unless a write that may have taken effect
// carried the same element.
func (c *Checker) rejectedVisible(res *checkers.Result, failed []failedWrite, finals map[string][]int64, maybeAdded map[string]map[int64]bool, fi *history.FaultIndex) {
	for _, w := range failed {
		final, ok := finals[w.inv.Key]
		if !ok || !contains(final, w.add) || maybeAdded[w.inv.Key][w.add] {
			continue
		}
		if res.Full() {
			res.Count(KindRejected)
			continue
		}
		msg := fmt.Sprintf("process %d's write of %d to %s was refused (fail at %s), yet %d is in the final read", w.inv.Process, w.add, w.inv.Key, secs(w.done.Time), w.add)
		if w.done.Error != "" {
			msg += fmt.Sprintf(" (refused with %q)", w.done.Error)
		}
		fault := fi.Before(w.done.Time, "")
		if fault != nil {
			msg += "; last fault before: " + fault.String()
		}
		res.AddAnomaly(checkers.Anomaly{Kind: KindRejected, Message: msg, Ops: []history.Op{*w.inv, *w.done},
			Processes: []int{w.inv.Process}, Nodes: nodesOf(w.inv.Node), Fault: fault})
	}
}
