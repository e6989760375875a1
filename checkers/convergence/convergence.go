// Package convergence judges an eventually consistent key-value store: once
// every fault is healed and the cluster is quiet, do all nodes hold the same
// value for every key, is that value the last-writer-wins winner among the
// writes that happened, and was no acknowledged write lost without a later
// write superseding it? It also measures what eventual consistency costs:
// time to converge per write, messages per operation, and stale reads.
//
// The history it reads (the kv workload's, see workloads/kv):
//
//   - write: invoke Key and Value (a whole number, unique in the run); the ok
//     completion's Value is {"value":V,"hlc":H,"origin":NODE}, the version
//     the store gave the write (H is a hybrid logical clock, NODE breaks
//     ties). delete is the same without a value: a tombstone.
//   - read: ok Value is the value read or null.
//   - dump (final phase, one per node, sent to that node): ok Value is the
//     node's whole state: {"node","entries":[{key,value,deleted,hlc,origin}],
//     "log":{key:[{value,deleted,hlc,origin,at}]}, "counters":{"sent":{kind:n}},
//     "quiesced"}, where log lists every version the node took as current,
//     in order, at its clock's Unix nanoseconds.
//
// A write happened if it was acknowledged, or if it was indeterminate and its
// value is visible anywhere (a read, a dump). Indeterminate writes never seen
// are neither required nor forbidden. A failed write must never be seen: in
// a read (phantom-read) or in any node's state or version log
// (failed-write-visible). The final state is judged by version and value: a
// node holding an old value under the newest write's version has lost that
// write.
package convergence

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// Checker is the convergence checker.
type Checker struct{}

var _ checkers.Checker = Checker{}

// New returns the checker.
func New() Checker { return Checker{} }

// Name is "convergence".
func (Checker) Name() string { return "convergence" }

// version orders writes: HLC first, origin node breaks ties.
type version struct {
	HLC    uint64 `json:"hlc"`
	Origin string `json:"origin"`
}

func (v version) less(o version) bool {
	if v.HLC != o.HLC {
		return v.HLC < o.HLC
	}
	return v.Origin < o.Origin
}

func (v version) String() string { return fmt.Sprintf("hlc %d@%s", v.HLC, v.Origin) }

type writeResult struct {
	Value  json.RawMessage `json:"value"`
	HLC    uint64          `json:"hlc"`
	Origin string          `json:"origin"`
}

type entry struct {
	Key     string `json:"key"`
	Value   string `json:"value"`
	Deleted bool   `json:"deleted"`
	HLC     uint64 `json:"hlc"`
	Origin  string `json:"origin"`
}

func (e entry) version() version { return version{e.HLC, e.Origin} }

type applied struct {
	Value   string `json:"value"`
	Deleted bool   `json:"deleted"`
	HLC     uint64 `json:"hlc"`
	Origin  string `json:"origin"`
	At      int64  `json:"at"`
}

type dump struct {
	Node     string               `json:"node"`
	Entries  []entry              `json:"entries"`
	Log      map[string][]applied `json:"log"`
	Counters struct {
		Sent map[string]int64 `json:"sent"`
	} `json:"counters"`
	Quiesced bool `json:"quiesced"`

	op      history.Op
	entries map[string]entry
}

// write is one write or delete of a key.
type write struct {
	pair    *history.Pair
	value   string // canonical text of the value, "" for a delete
	deleted bool
	ver     version
	hasVer  bool
	visible bool
}

func (w *write) happened() bool {
	switch w.pair.Outcome() {
	case history.OK:
		return true
	case history.Fail:
		return false
	}
	return w.visible
}

func (w *write) op() history.Op {
	if w.pair.Completed() {
		return w.pair.Complete
	}
	return w.pair.Invoke
}

func (w *write) describe() string {
	what := "write of " + w.value
	if w.deleted {
		what = "delete"
	}
	s := fmt.Sprintf("%s %s (record %d, process %d via %s", outcomeWord(w.pair.Outcome()), what, w.pair.Invoke.Index, w.pair.Invoke.Process, w.pair.Invoke.Node)
	if w.hasVer {
		s += ", " + w.ver.String()
	}
	return s + ")"
}

func outcomeWord(t history.Type) string {
	switch t {
	case history.OK:
		return "acknowledged"
	case history.Fail:
		return "failed"
	}
	return "indeterminate"
}

// Details are the figures of a convergence check.
type Details struct {
	Nodes int `json:"nodes"`
	Keys  int `json:"keys"`
	// Converged counts acknowledged writes timed to full spread; their
	// convergence times from acknowledgement to the last node, in ms.
	Converged     int                `json:"converged_writes"`
	ConvergenceMS map[string]float64 `json:"convergence_ms,omitempty"`
	// Messages between nodes, all kinds, as the nodes counted them.
	Messages         int64            `json:"messages"`
	MessagesByKind   map[string]int64 `json:"messages_by_kind,omitempty"`
	ClientOps        int64            `json:"client_ops"`
	MessagesPerOp    float64          `json:"messages_per_op"`
	MessagesPerWrite float64          `json:"messages_per_write"`
	// StaleReads returned a value older than a write acknowledged before
	// the read began: the store is not linearizable, as an AP store must
	// not be.
	StaleReads int64    `json:"stale_reads"`
	Reads      int64    `json:"reads"`
	Unquiesced []string `json:"unquiesced_nodes,omitempty"`
}

// Fs are the client operations of the convergence contract; a history with
// any other is not judged.
var Fs = []string{"write", "delete", "read", "dump"}

// Check judges the history.
func (c Checker) Check(ctx context.Context, h *history.File) checkers.Result {
	res := checkers.Result{Counts: map[string]int64{}}
	if err := history.WellFormed(h.Ops, Fs...); err != nil {
		return unknown(res, err.Error())
	}
	pairs, err := history.ClientPairs(h.Ops)
	if err != nil {
		return unknown(res, "history is malformed: "+err.Error())
	}
	faults := history.NewFaultIndex(h.Ops)
	nodes := append([]string(nil), h.Header.Nodes...)
	sort.Strings(nodes)

	writes := map[string][]*write{}           // key -> writes
	byValue := map[string]map[string]*write{} // key -> value -> write
	type read struct {
		pair  *history.Pair
		value string
		null  bool
	}
	reads := map[string][]read{}
	dumps := map[string]*dump{}
	var problems []string
	for i := range pairs {
		if i%4096 == 0 && ctx.Err() != nil {
			return unknown(res, "check interrupted: "+ctx.Err().Error())
		}
		p := &pairs[i]
		inv := &p.Invoke
		switch inv.F {
		case "write", "delete":
			w := &write{pair: p, deleted: inv.F == "delete"}
			if !w.deleted {
				n, ok := inv.ValueInt()
				if !ok {
					problems = append(problems, fmt.Sprintf("record %d: write value %s is not a whole number", inv.Index, inv.Value))
					continue
				}
				w.value = strconv.FormatInt(n, 10)
			}
			if p.Outcome() == history.OK {
				var wr writeResult
				if err := p.Complete.DecodeValue(&wr); err == nil && wr.Origin != "" {
					w.ver, w.hasVer = version{wr.HLC, wr.Origin}, true
				}
			}
			res.Counts[inv.F+"-"+string(p.Outcome())]++
			writes[inv.Key] = append(writes[inv.Key], w)
			if !w.deleted {
				if byValue[inv.Key] == nil {
					byValue[inv.Key] = map[string]*write{}
				}
				if prev := byValue[inv.Key][w.value]; prev != nil {
					problems = append(problems, fmt.Sprintf("records %d and %d write the same value %s to %s; values must be unique", prev.pair.Invoke.Index, inv.Index, w.value, inv.Key))
				}
				byValue[inv.Key][w.value] = w
			}
		case "read":
			res.Counts["read-"+string(p.Outcome())]++
			if p.Outcome() != history.OK {
				continue
			}
			r := read{pair: p}
			v := strings.TrimSpace(string(p.Complete.Value))
			if v == "" || v == "null" {
				r.null = true
			} else {
				r.value = v
			}
			reads[inv.Key] = append(reads[inv.Key], r)
		case "dump":
			res.Counts["dump-"+string(p.Outcome())]++
			if p.Outcome() != history.OK {
				continue
			}
			d := &dump{op: p.Complete, entries: map[string]entry{}}
			if err := p.Complete.DecodeValue(d); err != nil {
				problems = append(problems, fmt.Sprintf("record %d: dump of %s does not decode: %v", p.Complete.Index, inv.Node, err))
				continue
			}
			for _, e := range d.Entries {
				d.entries[e.Key] = e
			}
			if prev := dumps[inv.Node]; prev != nil {
				problems = append(problems, fmt.Sprintf("records %d and %d are both final dumps of node %q; which one is its final state is not known", prev.op.Index, p.Complete.Index, inv.Node))
			}
			dumps[inv.Node] = d
		}
	}
	// The dumps are the final states: after the first one is asked for,
	// nothing but dumps may happen, or a write would be judged against
	// states taken before it.
	firstDump := -1
	for i := range pairs {
		inv := &pairs[i].Invoke
		if inv.F == "dump" {
			if firstDump < 0 {
				firstDump = i
			}
		} else if firstDump >= 0 {
			problems = append(problems, fmt.Sprintf("record %d: a %s after the final dumps began (record %d); the dumps must be the last operations", inv.Index, inv.F, pairs[firstDump].Invoke.Index))
			break
		}
	}
	if len(nodes) == 0 {
		problems = append(problems, "the history's header names no nodes, so no missing final dump can be noticed")
	}
	for _, n := range slices.Sorted(maps.Keys(dumps)) {
		if !slices.Contains(nodes, n) {
			problems = append(problems, fmt.Sprintf("record %d: a final dump of node %q, which the header does not name", dumps[n].op.Index, n))
		}
	}
	if len(problems) > 0 {
		return unknown(res, strings.Join(problems, "; "))
	}
	var missing []string
	for _, n := range nodes {
		if dumps[n] == nil {
			missing = append(missing, n)
		}
	}

	// Versions of writes whose acknowledgement did not carry one, and
	// visibility of every value, from what reads and dumps saw.
	visible := func(key, value string, ver *version) {
		w := byValue[key][value]
		if w == nil {
			return
		}
		w.visible = true
		if ver != nil && !w.hasVer {
			w.ver, w.hasVer = *ver, true
		}
	}
	for key, rs := range reads {
		for _, r := range rs {
			if !r.null {
				visible(key, r.value, nil)
			}
		}
	}
	for _, n := range slices.Sorted(maps.Keys(dumps)) {
		d := dumps[n]
		for _, e := range d.Entries {
			if !e.Deleted {
				v := e.version()
				visible(e.Key, e.Value, &v)
			}
		}
		for key, l := range d.Log {
			for _, a := range l {
				if !a.Deleted {
					v := version{a.HLC, a.Origin}
					visible(key, a.Value, &v)
				}
			}
		}
	}

	var endOfDumps int64
	for _, d := range dumps {
		endOfDumps = max(endOfDumps, d.op.Time)
	}
	// The witness's fault is the last one that was not a heal: the heal
	// itself explains nothing.
	lastFault := faults.Before(endOfDumps, "")
	for _, f := range history.Faults(h.Ops) {
		if f.Time <= endOfDumps && !isHeal(f.F) {
			lastFault = &f
		}
	}

	// Keys judged: every key written or held anywhere.
	keySet := map[string]bool{}
	for k := range writes {
		keySet[k] = true
	}
	for _, d := range dumps {
		for k := range d.entries {
			keySet[k] = true
		}
	}
	keys := slices.Sorted(maps.Keys(keySet))
	det := Details{Nodes: len(nodes), Keys: len(keys), MessagesByKind: map[string]int64{}}

	// Phantom values: seen but never written, or written and failed. Every
	// key read counts, also one nobody wrote or holds.
	for _, key := range slices.Sorted(maps.Keys(reads)) {
		for _, r := range reads[key] {
			if w := byValue[key][r.value]; !r.null && (w == nil || w.pair.Outcome() == history.Fail) {
				res.AddAnomaly(checkers.Anomaly{Kind: "phantom-read",
					Message: fmt.Sprintf("read of %s on %s returned %s, which no write that may have happened wrote", key, r.pair.Invoke.Node, r.value),
					Ops:     []history.Op{r.pair.Complete}, Processes: []int{r.pair.Invoke.Process}, Nodes: []string{r.pair.Invoke.Node},
					Fault: faults.Before(r.pair.Complete.Time, r.pair.Invoke.Node)})
			}
		}
	}

	for _, key := range keys {
		failedVisible(&res, key, writes[key], dumps, faults)
	}

	if len(dumps) > 0 {
		for _, key := range keys {
			if ctx.Err() != nil {
				return unknown(res, "check interrupted: "+ctx.Err().Error())
			}
			c.judgeKey(&res, key, nodes, dumps, writes[key], byValue[key], lastFault)
		}
	}

	// Convergence time of each acknowledged write: until every node holds
	// it or something newer.
	startNS := h.Header.StartUnixNano()
	var times []float64
	if len(missing) == 0 && len(dumps) > 0 {
		for _, key := range keys {
			for _, w := range writes[key] {
				if w.pair.Outcome() != history.OK || !w.hasVer {
					continue
				}
				last, ok := int64(math.MinInt64), true
				for _, n := range nodes {
					at, found := firstAtLeast(dumps[n].Log[key], w.ver)
					if !found {
						ok = false
						break
					}
					last = max(last, at-startNS)
				}
				if ok {
					times = append(times, float64(max(0, last-w.pair.Complete.Time))/1e6)
				}
			}
		}
	}
	det.Converged = len(times)
	det.ConvergenceMS = quantiles(times)

	// Messages per operation, as the nodes counted them.
	for _, d := range dumps {
		for k, v := range d.Counters.Sent {
			det.MessagesByKind[k] += v
			det.Messages += v
		}
		if !d.Quiesced {
			det.Unquiesced = append(det.Unquiesced, d.Node)
		}
	}
	sort.Strings(det.Unquiesced)
	var nWrites int64
	for _, ws := range writes {
		nWrites += int64(len(ws))
	}
	for _, rs := range reads {
		det.Reads += int64(len(rs))
	}
	det.ClientOps = res.Counts["read-ok"] + res.Counts["read-fail"] + res.Counts["read-info"] + nWrites
	if det.ClientOps > 0 {
		det.MessagesPerOp = round2(float64(det.Messages) / float64(det.ClientOps))
	}
	if nWrites > 0 {
		det.MessagesPerWrite = round2(float64(det.Messages) / float64(nWrites))
	}
	det.StaleReads = staleReads(keys, writes, byValue, func(key string) []history.Pair {
		var out []history.Pair
		for _, r := range reads[key] {
			out = append(out, *r.pair)
		}
		return out
	})
	res.Details = det
	res.Counts["stale-reads"] = det.StaleReads

	conv := "no convergence times"
	if len(times) > 0 {
		conv = fmt.Sprintf("convergence p50 %.0fms p99 %.0fms max %.0fms over %d writes", det.ConvergenceMS["p50"], det.ConvergenceMS["p99"], det.ConvergenceMS["max"], len(times))
	}
	tail := fmt.Sprintf("%s; %.1f messages per op; %d of %d reads stale", conv, det.MessagesPerOp, det.StaleReads, det.Reads)
	if det.StaleReads > 0 {
		tail += " (not linearizable, as expected of an AP store)"
	}
	switch {
	case len(res.AnomalyCounts) > 0:
		res.Valid = checkers.Invalid
		res.Summary = fmt.Sprintf("did not converge: %s; %s", anomalyList(res.AnomalyCounts), tail)
	case len(missing) > 0:
		res.Valid = checkers.Unknown
		res.Error = fmt.Sprintf("no final dump of %s, so agreement cannot be judged", strings.Join(missing, ", "))
		res.Summary = "unknown: " + res.Error
	case len(dumps) == 0:
		res.Valid = checkers.Unknown
		res.Error = "no final dump at all"
		res.Summary = "unknown: " + res.Error
	case res.Counts["write-ok"]+res.Counts["delete-ok"] == 0:
		// Agreeing on nothing written proves nothing.
		res.Valid = checkers.Unknown
		res.Error = "no write or delete was acknowledged: nothing was shown to converge"
		res.Summary = "unknown: " + res.Error
	default:
		res.Valid = checkers.Valid
		res.Summary = fmt.Sprintf("converged: %d nodes agree on %d keys, each the last-writer-wins winner, no acknowledged write lost; %s", len(nodes), len(keys), tail)
	}
	return res
}

// judgeKey checks agreement and the last-writer-wins winner of one key.
func (c Checker) judgeKey(res *checkers.Result, key string, nodes []string, dumps map[string]*dump, ws []*write, byValue map[string]*write, fault *history.Op) {
	// Group nodes by what they hold.
	type holding struct {
		e     entry
		found bool
	}
	groups := map[string][]string{}
	held := map[string]holding{}
	var present []string
	for _, n := range nodes {
		d := dumps[n]
		if d == nil {
			continue
		}
		present = append(present, n)
		e, ok := d.entries[key]
		desc := "nothing"
		if ok {
			desc = describeEntry(e)
		}
		groups[desc] = append(groups[desc], n)
		held[desc] = holding{e, ok}
	}
	dumpOps := func(ns []string) []history.Op {
		var out []history.Op
		for _, n := range ns {
			out = append(out, dumps[n].op)
		}
		return out
	}
	if len(groups) > 1 {
		var parts []string
		for _, desc := range slices.Sorted(maps.Keys(groups)) {
			parts = append(parts, strings.Join(groups[desc], ",")+" hold "+desc)
		}
		a := checkers.Anomaly{Kind: "disagreement",
			Message: fmt.Sprintf("after the heal, nodes disagree on %s: %s", key, strings.Join(parts, "; ")),
			Ops:     dumpOps(present), Nodes: present, Fault: fault,
			Data: map[string]any{"key": key, "holdings": groups}}
		res.AddAnomaly(a)
		return
	}
	var final holding
	for _, h := range held {
		final = h
	}
	// The winner must be a write that may have happened.
	var winner *write
	if final.found {
		for _, w := range ws {
			if w.hasVer && w.ver == final.e.version() && (winner == nil || !winner.holds(final.e)) {
				winner = w
			}
		}
		if winner != nil && !winner.holds(final.e) && winner.pair.Outcome() != history.Fail {
			// The version is the write's, the value is not: whatever the
			// nodes hold, that write's value is gone.
			kind := "phantom-value"
			if winner.pair.Outcome() == history.OK {
				kind = "lost-write"
			}
			res.AddAnomaly(checkers.Anomaly{Kind: kind,
				Message: fmt.Sprintf("every node holds %s for %s under the version of the %s: the value held is not the value written", describeEntry(final.e), key, winner.describe()),
				Ops:     append([]history.Op{winner.op()}, dumpOps(present)...), Processes: []int{winner.pair.Invoke.Process}, Nodes: present,
				Fault: fault, Data: map[string]any{"key": key}})
		}
		if winner == nil && !final.e.Deleted {
			winner = byValue[final.e.Value]
		}
		if winner == nil || winner.pair.Outcome() == history.Fail {
			what := "no write"
			if winner != nil {
				what = "a " + winner.describe()
			}
			res.AddAnomaly(checkers.Anomaly{Kind: "phantom-value",
				Message: fmt.Sprintf("every node holds %s for %s, written by %s", describeEntry(final.e), key, what),
				Ops:     dumpOps(present), Nodes: present, Fault: fault})
			return
		}
	}
	// No happened write may be newer than the winner; an acknowledged one
	// that is newer was lost.
	for _, w := range ws {
		if !w.happened() || w == winner {
			continue
		}
		if !w.hasVer {
			// An indeterminate write seen only in a read: without its
			// version it cannot be ordered, and it is not required.
			if w.pair.Outcome() == history.OK {
				res.AddAnomaly(checkers.Anomaly{Kind: "lost-write",
					Message: fmt.Sprintf("%s to %s is held by no node and has no recorded version", w.describe(), key),
					Ops:     []history.Op{w.op()}, Processes: []int{w.pair.Invoke.Process}, Nodes: present, Fault: fault})
			}
			continue
		}
		if final.found && w.ver.less(final.e.version()) {
			continue // superseded
		}
		kind := "lww-violation"
		if w.pair.Outcome() == history.OK {
			kind = "lost-write"
		}
		now := "nothing"
		if final.found {
			now = describeEntry(final.e)
		}
		ops := []history.Op{w.op()}
		if winner != nil {
			ops = append(ops, winner.op())
		}
		res.AddAnomaly(checkers.Anomaly{Kind: kind,
			Message: fmt.Sprintf("%s to %s is newer than what every node holds after the heal (%s), yet it is gone", w.describe(), key, now),
			Ops:     ops, Processes: []int{w.pair.Invoke.Process}, Nodes: present,
			Fault: fault, Data: map[string]any{"key": key}})
	}
}

// holds reports whether entry e holds what w wrote.
func (w *write) holds(e entry) bool {
	if w.deleted || e.Deleted {
		return w.deleted == e.Deleted
	}
	return w.value == e.Value
}

// failedVisible reports each failed write of key whose value some node took
// as current (its state or its version log).
func failedVisible(res *checkers.Result, key string, ws []*write, dumps map[string]*dump, faults *history.FaultIndex) {
	for _, w := range ws {
		if w.deleted || w.pair.Outcome() != history.Fail {
			continue
		}
		var seen []string
		var ops []history.Op
		for _, n := range slices.Sorted(maps.Keys(dumps)) {
			d := dumps[n]
			found := false
			if e, ok := d.entries[key]; ok && !e.Deleted && e.Value == w.value {
				found = true
			}
			for _, a := range d.Log[key] {
				if !a.Deleted && a.Value == w.value {
					found = true
				}
			}
			if found {
				seen = append(seen, n)
				ops = append(ops, d.op)
			}
		}
		if len(seen) == 0 {
			continue
		}
		res.AddAnomaly(checkers.Anomaly{Kind: "failed-write-visible",
			Message: fmt.Sprintf("the %s to %s was refused, yet %s took its value as current", w.describe(), key, strings.Join(seen, ",")),
			Ops:     append([]history.Op{w.pair.Invoke, w.pair.Complete}, ops...), Processes: []int{w.pair.Invoke.Process}, Nodes: seen,
			Fault: faults.Before(w.pair.Complete.Time, w.pair.Invoke.Node), Data: map[string]any{"key": key}})
	}
}

func isHeal(f string) bool {
	switch f {
	case "heal", "start", "resume", "clock-reset":
		return true
	}
	return false
}

func describeEntry(e entry) string {
	if e.Deleted {
		return fmt.Sprintf("a tombstone (hlc %d@%s)", e.HLC, e.Origin)
	}
	return fmt.Sprintf("%s (hlc %d@%s)", e.Value, e.HLC, e.Origin)
}

// firstAtLeast finds when a node first held version v or newer; a node's log
// only ever moves to newer versions, so it is sorted by version.
func firstAtLeast(log []applied, v version) (int64, bool) {
	i := sort.Search(len(log), func(i int) bool {
		return !(version{log[i].HLC, log[i].Origin}).less(v)
	})
	if i == len(log) {
		return 0, false
	}
	return log[i].At, true
}

// staleReads counts ok reads that returned a value older than the newest
// write acknowledged before the read was invoked.
func staleReads(keys []string, writes map[string][]*write, byValue map[string]map[string]*write, reads func(string) []history.Pair) int64 {
	var stale int64
	for _, key := range keys {
		var acked []*write
		for _, w := range writes[key] {
			if w.pair.Outcome() == history.OK && w.hasVer {
				acked = append(acked, w)
			}
		}
		sort.Slice(acked, func(i, j int) bool { return acked[i].pair.Complete.Time < acked[j].pair.Complete.Time })
		// best[i] is the newest version among acked[:i+1].
		best := make([]version, len(acked))
		for i, w := range acked {
			best[i] = w.ver
			if i > 0 && best[i].less(best[i-1]) {
				best[i] = best[i-1]
			}
		}
		for _, r := range reads(key) {
			i := sort.Search(len(acked), func(i int) bool { return acked[i].pair.Complete.Time >= r.Invoke.Time }) - 1
			if i < 0 {
				continue
			}
			v := strings.TrimSpace(string(r.Complete.Value))
			w := byValue[key][v]
			if v == "null" || v == "" || w == nil || !w.hasVer || w.ver.less(best[i]) {
				stale++
			}
		}
	}
	return stale
}

func quantiles(xs []float64) map[string]float64 {
	if len(xs) == 0 {
		return nil
	}
	sort.Float64s(xs)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(xs)))) - 1
		return round2(xs[max(0, min(i, len(xs)-1))])
	}
	return map[string]float64{"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": xs[len(xs)-1], "min": xs[0]}
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func anomalyList(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

func unknown(res checkers.Result, why string) checkers.Result {
	res.Valid = checkers.Unknown
	res.Error = why
	res.Summary = "unknown: " + why
	return res
}
