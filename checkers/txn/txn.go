// Package txn checks histories of transactions for isolation anomalies, in
// the manner of Elle (Kingsbury and Alvaro, "Elle: Inferring Isolation
// Anomalies from Experimental Observations", VLDB 2020).
//
// A transaction is one operation whose value is a list of micro-operations
// over keys. From the values that reads return, the checker infers the
// dependencies between transactions: write-write (ww: T2 installed the next
// version of a key after T1's), write-read (wr: T2 read what T1 wrote) and
// read-write (rw, an anti-dependency: T1 read a version that T2 overwrote),
// plus real-time order (rt: T1 completed before T2 began) when the model asks
// for it. A cycle in that graph is an anomaly, named by its edges as Adya
// does: G0 (ww only), G1c (ww and wr), G-single (exactly one rw), G2-item
// (two or more rw), and the "-realtime" forms that need an rt edge. Some
// anomalies need no cycle: aborted reads (G1a), intermediate reads (G1b),
// lost updates, reads of values nobody wrote, duplicate elements, reads that
// no single order of versions explains, and transactions that do not see
// their own writes.
//
// A consistency model is the set of anomalies it forbids, so the checker
// also says which of read committed, snapshot isolation, serializable and
// strict serializable the history still satisfies. Its verdict is against
// one chosen model (WithModel).
//
// Unique values make this exact for list-append: every read of a key is a
// prefix of the key's one version order, so each read names the versions it
// saw and the one it did not. An info transaction may or may not have
// committed: when any of its appends is read it committed (atomicity), and
// otherwise it is left out, which can never hide an anomaly, since nobody
// saw its effects. A fail transaction did not commit; a read of its value is
// an aborted read.
package txn

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// F is the operation name of a transaction.
const F = "txn"

// Kind says which workload's values a history holds.
type Kind int

// The workloads the checker understands.
const (
	// ListAppend: micro-operations ["append", k, v] and ["r", k, [v...]].
	ListAppend Kind = iota
	// RWRegister: micro-operations ["w", k, v] and ["r", k, v|null].
	RWRegister
)

func (k Kind) String() string {
	if k == RWRegister {
		return "rw-register"
	}
	return "list-append"
}

// Checker judges transactional histories. It is pure and safe for
// concurrent use.
type Checker struct {
	kind   Kind
	model  Model
	name   string
	budget int64
}

var _ checkers.Checker = (*Checker)(nil)

// Option configures a Checker.
type Option func(*Checker)

// WithModel sets the consistency model the verdict is judged against
// (default Serializable).
func WithModel(m Model) Option { return func(c *Checker) { c.model = m } }

// WithName names the checker in results (default "txn").
func WithName(n string) Option { return func(c *Checker) { c.name = n } }

// WithSearchBudget bounds the edges the cycle classification may visit in
// all (default 200 million). Past it, models whose answer depends on the
// unfinished search are reported as unknown, never as holding.
func WithSearchBudget(n int64) Option { return func(c *Checker) { c.budget = n } }

// New returns a checker for histories of the given workload kind.
func New(kind Kind, opts ...Option) *Checker {
	c := &Checker{kind: kind, model: Serializable, name: "txn", budget: 200_000_000}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Name is the checker's name in results.
func (c *Checker) Name() string { return c.name }

// status of a transaction.
type status uint8

const (
	committed status = iota // ok
	aborted                 // fail
	unsure                  // info, or never completed
)

// tx is one transaction of the history.
type tx struct {
	status  status
	process int
	// observed is set for an unsure transaction one of whose writes was
	// read: it committed.
	observed bool
	// inv and comp are the positions of the invocation and completion
	// records in the history; comp is -1 when it never completed.
	inv, comp int32
	mops      []mop
}

// in reports whether the transaction belongs to the dependency graph: it
// committed, or it may have and somebody saw its effects.
func (t *tx) in() bool { return t.status == committed || (t.status == unsure && t.observed) }

// analysis holds what both workload kinds share.
type analysis struct {
	c     *Checker
	ops   []history.Op
	dec   *decoder
	txns  []tx
	res   *checkers.Result
	fi    *history.FaultIndex
	found map[string]bool
	// undecided lists anomaly classes whose search did not finish.
	undecided map[string]bool
	// orderGap says why a register key's version order is not known, when
	// it is not.
	orderGap string
	wnames   []kv // rw-register: the key and value of each write
	// prevOf is, for an rw-register version, the version it is known to
	// have overwritten ("null" for the initial one), for the explanations.
	prevOf map[kv]string
	g      *graph
	// memBudget bounds the heap during the cycle search (the history's
	// share included).
	memBudget int64
	idx       *wtable // the writes by key and value
}

// writeKV is the key and value of write j, from a table built the first
// time a witness needs one, so that the analysis keeps no copy of them.
func (a *analysis) writeKV(j int32) kv {
	if a.wnames == nil {
		a.wnames = make([]kv, a.idx.n)
		a.idx.each(func(k kv, j int32) { a.wnames[j] = k })
	}
	return a.wnames[j]
}

// Check judges h.
func (c *Checker) Check(ctx context.Context, h *history.File) checkers.Result {
	a := &analysis{c: c, dec: newDecoder(), res: &checkers.Result{Counts: map[string]int64{}},
		found: map[string]bool{}, undecided: map[string]bool{}}
	// The budget bounds what the check adds to the heap; the history it
	// is given is the caller's. The base is taken after a collection, so
	// it is the live heap: garbage the caller left and the collector swept
	// during the check would otherwise be taken for room the check gave
	// back (a 1-byte budget was once met by 2,000 decoded transactions).
	budget := checkers.MemoryBudget(ctx)
	runtime.GC()
	base := checkers.HeapBytes()
	overBudget := func(phase string) *checkers.Result {
		if used := checkers.HeapBytes() - base; used > budget {
			r := unknown(fmt.Sprintf("the check reached the memory budget %s (it grew the heap by %d MiB, over the budget of %d MiB; raise --check-memory)", phase, used>>20, budget>>20))
			return &r
		}
		return nil
	}
	if err := history.WellFormed(h.Ops, F); err != nil {
		return unknown(err.Error())
	}
	if err := a.collect(h.Ops); err != nil {
		return unknown(err.Error())
	}
	if r := overBudget("after decoding the transactions"); r != nil {
		return *r
	}
	a.fi = history.NewFaultIndex(h.Ops)
	var reads int64
	for i := range a.txns {
		t := &a.txns[i]
		switch t.status {
		case committed:
			a.res.Counts["ok"]++
			for _, m := range t.mops {
				if m.f == mopRead {
					reads++
				}
			}
		case aborted:
			a.res.Counts["fail"]++
		default:
			a.res.Counts["info"]++
		}
	}
	a.res.Counts["transactions"] = int64(len(a.txns))
	if a.res.Counts["ok"] == 0 {
		return unknown(fmt.Sprintf("no transaction committed (%d attempted): nothing was shown", len(a.txns)))
	}
	if reads == 0 {
		return unknown("no committed transaction read anything: the history shows no dependency to check")
	}
	var err error
	if c.kind == ListAppend {
		err = a.listAppend()
	} else {
		err = a.rwRegister()
	}
	if err != nil {
		return unknown(err.Error())
	}
	if r := overBudget("after building the dependency graph"); r != nil {
		return *r
	}
	a.memBudget = base + budget
	if err := a.cycles(ctx, c.model == StrictSerializable); err != nil {
		return unknown(err.Error())
	}
	a.res.Counts["edges"] = int64(a.g.edgeCount())
	a.verdict()
	return *a.res
}

// sameTxn refuses a completion whose micro-operations are not its
// invocation's: the completion only fills in what the reads saw, so a
// completion that names other keys, other operations or other written
// values says the transaction did something nobody asked for.
func (a *analysis) sameTxn(inv, done *history.Op, got []mop) error {
	if len(inv.Value) == 0 || string(inv.Value) == "null" {
		return nil // an invocation without its micro-operations: nothing to compare
	}
	want, err := a.dec.decodeScratch(inv.Value)
	if err != nil {
		return fmt.Errorf("record %d: %w", inv.Index, err)
	}
	if len(want) != len(got) {
		return fmt.Errorf("record %d: the completion has %d micro-operations, its invocation (record %d) %d; a completion only fills in what the reads saw", done.Index, len(got), inv.Index, len(want))
	}
	for i := range want {
		w, g := &want[i], &got[i]
		if w.f != g.f || w.key != g.key || (w.f != mopRead && w.val != g.val) {
			return fmt.Errorf("record %d: micro-operation %d of the completion is not its invocation's (record %d); a completion only fills in what the reads saw", done.Index, i, inv.Index)
		}
	}
	return nil
}

func unknown(why string) checkers.Result {
	return checkers.Result{Valid: checkers.Unknown, Summary: "could not judge the transactions", Error: why}
}

// collect pairs invocations with completions and decodes every transaction.
// It pairs by position rather than through history.Pairs, so that a history
// of millions of transactions is not copied.
func (a *analysis) collect(ops []history.Op) error {
	a.ops = ops
	open := map[int]int32{} // process -> transaction
	n := 0
	for i := range ops {
		if ops[i].Type == history.Invoke && ops[i].F == F {
			n++
		}
	}
	a.txns = make([]tx, 0, n)
	for i := range ops {
		op := &ops[i]
		if op.IsNemesis() {
			continue
		}
		if op.Type == history.Invoke {
			if j, busy := open[op.Process]; busy {
				return fmt.Errorf("record %d: process %d invokes %q while its transaction (record %d) is still open", op.Index, op.Process, op.F, ops[a.txns[j].inv].Index)
			}
			if op.F != F {
				continue
			}
			open[op.Process] = int32(len(a.txns))
			a.txns = append(a.txns, tx{process: op.Process, inv: int32(i), comp: -1, status: unsure})
			continue
		}
		j, ok := open[op.Process]
		if !ok {
			if op.F == F {
				return fmt.Errorf("record %d: process %d completes a transaction (%s) with no open invocation", op.Index, op.Process, op.Type)
			}
			continue
		}
		if op.F != F {
			return fmt.Errorf("record %d: process %d completes %q but invoked a transaction (record %d)", op.Index, op.Process, op.F, ops[a.txns[j].inv].Index)
		}
		delete(open, op.Process)
		t := &a.txns[j]
		t.comp = int32(i)
		switch op.Type {
		case history.OK:
			t.status = committed
		case history.Fail:
			t.status = aborted
		}
	}
	for ti := range a.txns {
		t := &a.txns[ti]
		src := &ops[t.inv]
		if t.status == committed {
			src = &ops[t.comp]
			if len(src.Value) == 0 || string(src.Value) == "null" {
				return fmt.Errorf("record %d: an ok transaction carries no micro-operations", src.Index)
			}
		} else if t.comp >= 0 && len(ops[t.comp].Value) > 0 && string(ops[t.comp].Value) != "null" {
			src = &ops[t.comp]
		}
		var err error
		t.mops, err = a.dec.decode(src.Value)
		if err != nil {
			return fmt.Errorf("record %d: %w", src.Index, err)
		}
		if src != &ops[t.inv] {
			if err := a.sameTxn(&ops[t.inv], src, t.mops); err != nil {
				return err
			}
		}
		if t.status != committed {
			// What an uncommitted or unsure transaction read is not
			// evidence of anything.
			for i := range t.mops {
				if t.mops[i].f == mopRead {
					t.mops[i].known = false
					t.mops[i].list = nil
				}
			}
			continue
		}
		for i, m := range t.mops {
			if a.c.kind == ListAppend && m.f == mopWrite || a.c.kind == RWRegister && m.f == mopAppend {
				return fmt.Errorf("record %d: micro-operation %d is not one of %s's (append and r for list-append, w and r for rw-register)", src.Index, i, a.c.kind)
			}
		}
	}
	if len(a.txns) == 0 {
		return fmt.Errorf("the history holds no %q operation: nothing was shown", F)
	}
	return nil
}

// invOp and compOp are a transaction's records; compOp is the invocation
// for one that never completed.
func (a *analysis) invOp(i int32) *history.Op { return &a.ops[a.txns[i].inv] }

func (a *analysis) compOp(i int32) *history.Op {
	if c := a.txns[i].comp; c >= 0 {
		return &a.ops[c]
	}
	return a.invOp(i)
}

// name is how a witness refers to transaction i: T followed by its
// invocation's record index, which the history and the report show too.
func (a *analysis) name(i int32) string { return fmt.Sprintf("T%d", a.invOp(i).Index) }

func (a *analysis) keyName(k int32) string { return a.dec.names[k] }

// witnessOps returns the completions (or invocations) of the transactions.
func (a *analysis) witnessOps(ts ...int32) ([]history.Op, []int, []string) {
	var ops []history.Op
	var procs []int
	var nodes []string
	seenN := map[string]bool{}
	seenP := map[int]bool{}
	for _, i := range ts {
		t := &a.txns[i]
		ops = append(ops, *a.compOp(i))
		if !seenP[t.process] {
			seenP[t.process] = true
			procs = append(procs, t.process)
		}
		if n := a.invOp(i).Node; n != "" && !seenN[n] {
			seenN[n] = true
			nodes = append(nodes, n)
		}
	}
	sort.Ints(procs)
	sort.Strings(nodes)
	return ops, procs, nodes
}

// anomaly records one anomaly of class kind among the transactions ts.
func (a *analysis) anomaly(kind, msg string, data any, ts ...int32) {
	a.found[kind] = true
	if a.res.Full() {
		a.res.Count(kind)
		return
	}
	ops, procs, nodes := a.witnessOps(ts...)
	an := checkers.Anomaly{Kind: kind, Message: msg, Ops: ops, Processes: procs, Nodes: nodes, Data: data}
	var latest int64 = -1
	for _, op := range ops {
		if op.Time > latest {
			latest = op.Time
		}
	}
	if f := a.fi.Before(latest, ""); f != nil {
		an.Fault = f
	}
	a.res.AddAnomaly(an)
}

// verdict fills in the result's verdict, summary and the models.
func (a *analysis) verdict() {
	st := modelStatus(a.found, a.undecided)
	var holds, violated, undecided []string
	for _, m := range Models {
		switch st[m] {
		case checkers.Valid:
			holds = append(holds, m.String())
		case checkers.Invalid:
			violated = append(violated, m.String())
		default:
			undecided = append(undecided, m.String())
		}
	}
	d := map[string]any{"satisfies": holds, "violates": violated}
	if len(undecided) > 0 {
		d["undecided"] = undecided
	}
	if s := strongestHolding(st); s != "" {
		d["strongest_satisfied"] = s
	}
	if w := weakestViolated(st); w != "" {
		d["weakest_violated"] = w
	}
	a.res.Counts["models_checked"] = int64(len(Models))
	a.res.Valid = st[a.c.model]
	n := a.res.Counts
	head := fmt.Sprintf("%d transactions (%d ok, %d fail, %d info)", n["transactions"], n["ok"], n["fail"], n["info"])
	switch a.res.Valid {
	case checkers.Valid:
		a.res.Summary = fmt.Sprintf("%s: no anomaly %s forbids; satisfies %s", head, a.c.model, strings.Join(holds, ", "))
	case checkers.Invalid:
		var kinds []string
		for k := range a.res.AnomalyCounts {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		parts := make([]string, len(kinds))
		for i, k := range kinds {
			parts[i] = fmt.Sprintf("%d %s", a.res.AnomalyCounts[k], k)
		}
		s := fmt.Sprintf("%s: %s; not %s", head, strings.Join(parts, ", "), a.c.model)
		if w := weakestViolated(st); w != "" {
			s += fmt.Sprintf(" (violates %s and every stronger model", w)
			if h := strongestHolding(st); h != "" {
				s += fmt.Sprintf("; satisfies %s", h)
			}
			s += ")"
		}
		a.res.Summary = s
	default:
		a.res.Summary = fmt.Sprintf("%s: undecided for %s", head, a.c.model)
		var why []string
		if a.orderGap != "" {
			why = append(why, a.orderGap)
		}
		if a.undecided[GSingle] {
			why = append(why, fmt.Sprintf("the cycle search stopped at its budget of %d edges before it could rule out %s", a.c.budget, GSingle))
		}
		a.res.Error = strings.Join(why, "; ")
	}
	a.res.Details = d
}
