// Package txn holds Elle's two transaction workloads, list-append and
// rw-register: each operation is a transaction of a few micro-operations
// over a small key space, judged for isolation anomalies by checkers/txn.
// Any transactional store can run them by implementing the op contracts
// below in its client.
//
// # Op contract: list-append
//
// Every op has F "txn" and Value a JSON array of micro-operations, run in
// order inside one transaction:
//
//   - ["append", k, v]: append the whole number v to the list stored under
//     key k (a whole number). A key that holds nothing holds the empty list.
//   - ["r", k, null] on invoke; on an ok completion ["r", k, [v1, v2, ...]]:
//     the whole list the transaction saw under k, including its own earlier
//     appends, or [] (or null) when the key holds nothing.
//
// ok means the transaction committed and carries every read's result; fail
// means it certainly did not commit (the database aborted it, or it was
// never sent); info means it may have committed (a timeout, a lost
// connection, an error from COMMIT itself). Appended values are unique per
// key over the whole run, so every read names the appends it saw.
//
// # Op contract: rw-register
//
// The same transactions over registers, each holding one whole number or
// nothing (null) until first written:
//
//   - ["w", k, v]: set the register k to v.
//   - ["r", k, null] on invoke; on an ok completion ["r", k, v], the value
//     the transaction saw, including its own earlier writes, or ["r", k,
//     null] when the register was never written.
//
// ok, fail and info mean what they mean for list-append, and written values
// are unique per key over the run. The generator makes every write to a key
// follow a read of that key in the same transaction, since a register's
// value, unlike a list, says nothing of the versions before it: that read
// is what tells the checker which version the write replaced.
package txn

import (
	"fmt"

	"github.com/chaostest/chaos/checkers"
	txncheck "github.com/chaostest/chaos/checkers/txn"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/gen"
)

// ListAppend is the list-append workload's registered name.
const ListAppend = "list-append"

// RWRegister is the rw-register workload's registered name.
const RWRegister = "rw-register"

// Params are the workload's flags.
var Params = []core.Param{
	{Name: "txn-keys", Type: core.TypeInt, Default: "5", Usage: "number of keys (0, 1, ...) the transactions share"},
	{Name: "txn-max-ops", Type: core.TypeInt, Default: "4", Usage: "most micro-operations in one transaction (each has 1 to this many)"},
	{Name: "txn-read-weight", Type: core.TypeInt, Default: "1", Usage: "relative weight of reads against appends or writes (1)"},
	{Name: "txn-model", Default: txncheck.Serializable.String(), Usage: "consistency model the verdict is judged against: read-committed, snapshot-isolation, serializable or strict-serializable"},
}

// Register adds the workload to r.
func Register(r *core.Registry) {
	r.AddWorkload(core.WorkloadInfo{Name: ListAppend,
		Summary: "transactions of appends and reads over a few lists; isolation anomalies (Elle's G0 to G2, lost updates) and the models they rule out",
		Params:  Params, New: New})
	r.AddWorkload(core.WorkloadInfo{Name: RWRegister,
		Summary: "transactions of reads and writes over a few registers; isolation anomalies (Elle's G0 to G2, lost updates) and the models they rule out",
		Params:  Params, New: NewRegister})
}

// Workload is the list-append or the rw-register workload.
type Workload struct {
	Keys, MaxOps, ReadWeight int
	Model                    txncheck.Model
	// Kind says which: list-append (the zero value) or rw-register.
	Kind txncheck.Kind
}

var _ core.Workload = (*Workload)(nil)

// New builds the list-append workload from its parameters.
func New(p core.Params) (core.Workload, error) { return build(p, txncheck.ListAppend) }

// NewRegister builds the rw-register workload from its parameters.
func NewRegister(p core.Params) (core.Workload, error) { return build(p, txncheck.RWRegister) }

func build(p core.Params, kind txncheck.Kind) (core.Workload, error) {
	w := &Workload{Kind: kind}
	var err error
	if w.Keys, err = p.Int("txn-keys", 5); err != nil {
		return nil, err
	}
	if w.Keys < 1 || w.Keys > 10000 {
		return nil, fmt.Errorf("--txn-keys %d: must be between 1 and 10000", w.Keys)
	}
	if w.MaxOps, err = p.Int("txn-max-ops", 4); err != nil {
		return nil, err
	}
	if w.MaxOps < 1 || w.MaxOps > 100 {
		return nil, fmt.Errorf("--txn-max-ops %d: must be between 1 and 100", w.MaxOps)
	}
	if w.ReadWeight, err = p.Int("txn-read-weight", 1); err != nil {
		return nil, err
	}
	if w.ReadWeight < 0 || w.ReadWeight > 1000 {
		return nil, fmt.Errorf("--txn-read-weight %d: must be between 0 and 1000", w.ReadWeight)
	}
	if w.Model, err = txncheck.ParseModel(p.String("txn-model", txncheck.Serializable.String())); err != nil {
		return nil, fmt.Errorf("--txn-model: %w", err)
	}
	return w, nil
}

// valueStride separates the values of different workers, so values stay
// unique across the run without coordination.
const valueStride = 1_000_000_000

// Generator makes transactions of 1 to MaxOps micro-operations. Worker w
// appends or writes (w+1)*1e9+1, (w+1)*1e9+2, ...; the sequence of planned
// transactions depends only on the worker's random stream. For rw-register
// a write to a key the transaction has not touched yet comes right after a
// read of it (the read is not counted in MaxOps).
func (w *Workload) Generator(worker int) gen.Generator {
	next := int64(worker+1) * valueStride
	return gen.Func(func(c *gen.Context) (history.Op, bool) {
		n := 1 + c.Rand.IntN(w.MaxOps)
		mops := make([][3]any, 0, 2*n)
		var touched map[int]bool
		if w.Kind == txncheck.RWRegister {
			touched = map[int]bool{}
		}
		for range n {
			k := c.Rand.IntN(w.Keys)
			if c.Rand.IntN(w.ReadWeight+1) < w.ReadWeight {
				mops = append(mops, [3]any{"r", k, nil})
			} else if w.Kind == txncheck.RWRegister {
				if !touched[k] {
					mops = append(mops, [3]any{"r", k, nil})
				}
				next++
				mops = append(mops, [3]any{"w", k, next})
			} else {
				next++
				mops = append(mops, [3]any{"append", k, next})
			}
			if touched != nil {
				touched[k] = true
			}
		}
		return history.Op{F: txncheck.F, Value: history.JSON(mops)}, true
	})
}

// Final reads every key on every node once the faults are healed, so each
// acknowledged append is placed in its key's order (and each register's
// last version is read).
func (w *Workload) Final(nodes []string) []history.Op {
	mops := make([][3]any, w.Keys)
	for k := range mops {
		mops[k] = [3]any{"r", k, nil}
	}
	v := history.JSON(mops)
	ops := make([]history.Op, len(nodes))
	for i, n := range nodes {
		ops[i] = history.Op{F: txncheck.F, Value: v, Node: n}
	}
	return ops
}

// Checkers rebuilds the checker from the history's parameters.
func (w *Workload) Checkers(h *history.Header) ([]checkers.Checker, error) {
	m, err := txncheck.ParseModel(core.Params(h.Params).String("txn-model", txncheck.Serializable.String()))
	if err != nil {
		return nil, fmt.Errorf("--txn-model: %w", err)
	}
	return []checkers.Checker{txncheck.New(w.Kind, txncheck.WithModel(m))}, nil
}
