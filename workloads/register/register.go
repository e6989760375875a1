// Package register is the generic register workload: reads, writes and
// compare-and-sets over a small key space, judged for linearizability per
// key. Any target with a key-value API can run it by implementing the op
// contract below in its client.
//
// # Op contract
//
// Every op has Key set to the register's key (as a string) and F one of:
//
//   - "read":  Value is absent on invoke. ok: Value is the whole number
//     read, or null (absent) when the key holds nothing.
//   - "write": Value is the whole number to write, on invoke and
//     completion. ok: the value was written.
//   - "cas":   Value is [expected, new] on invoke and completion. ok: the
//     register held expected and now holds new. fail: the register did not
//     hold expected, so nothing changed.
//
// As everywhere: fail means the operation certainly did not take effect
// (a connection refused before sending, a cas that did not match); info
// means it may have (a timeout, a connection lost after sending). A write or
// cas that timed out is info, never fail. Written values are unique over the
// whole run, so a read identifies the write it observed.
package register

import (
	"fmt"
	"strconv"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/checkers/linearizable"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/gen"
)

// Name is the workload's registered name.
const Name = "register"

// Params are the workload's flags.
var Params = []core.Param{
	{Name: "register-keys", Type: core.TypeInt, Default: "3", Usage: "number of registers (keys r0, r1, ...) the workers share"},
	{Name: "register-cas", Type: core.TypeBool, Default: "true", Usage: "include compare-and-set operations (false: reads and writes only)"},
	{Name: "register-read-weight", Type: core.TypeInt, Default: "2", Usage: "relative weight of reads against writes (1) and cas (1)"},
}

// Register adds the workload to r.
func Register(r *core.Registry) {
	r.AddWorkload(core.WorkloadInfo{Name: Name,
		Summary: "read / write / cas on a few registers; linearizability per key (porcupine)",
		Params:  Params, New: New})
}

// Workload is the register workload.
type Workload struct {
	Keys       int
	CAS        bool
	ReadWeight int
}

var _ core.Workload = (*Workload)(nil)

// New builds the workload from its parameters.
func New(p core.Params) (core.Workload, error) {
	keys, err := p.Int("register-keys", 3)
	if err != nil {
		return nil, err
	}
	if keys < 1 || keys > 100000 {
		return nil, fmt.Errorf("--register-keys %d: must be between 1 and 100000", keys)
	}
	cas, err := p.Bool("register-cas", true)
	if err != nil {
		return nil, err
	}
	rw, err := p.Int("register-read-weight", 2)
	if err != nil {
		return nil, err
	}
	if rw < 0 || rw > 1000 {
		return nil, fmt.Errorf("--register-read-weight %d: must be between 0 and 1000", rw)
	}
	return &Workload{Keys: keys, CAS: cas, ReadWeight: rw}, nil
}

// Key names register i.
func Key(i int) string { return "r" + strconv.Itoa(i) }

// valueStride separates the values of different workers, so values stay
// unique across the run without coordination.
const valueStride = 1_000_000_000

// Generator picks read, write or cas at random over the keys. Worker w
// writes w*1e9+1, w*1e9+2, ... (plus 1e9, so no value is 0); a cas expects
// a value this worker wrote to that key recently, so some of them match.
func (w *Workload) Generator(worker int) gen.Generator {
	next := int64(worker+1) * valueStride
	last := make([][]int64, w.Keys) // recent values this worker wrote, per key
	remember := func(k int, v int64) {
		l := append(last[k], v)
		if len(l) > 3 {
			l = l[1:]
		}
		last[k] = l
	}
	return gen.Func(func(c *gen.Context) (history.Op, bool) {
		k := c.Rand.IntN(w.Keys)
		key := Key(k)
		total := w.ReadWeight + 1
		if w.CAS {
			total++
		}
		r := c.Rand.IntN(total)
		switch {
		case r < w.ReadWeight:
			return history.Op{F: "read", Key: key}, true
		case r == w.ReadWeight:
			next++
			remember(k, next)
			return history.Op{F: "write", Key: key, Value: history.Int(next)}, true
		default:
			next++
			expected := next - 1
			if len(last[k]) > 0 {
				expected = last[k][c.Rand.IntN(len(last[k]))]
			}
			remember(k, next)
			return history.Op{F: "cas", Key: key, Value: history.JSON([2]int64{expected, next})}, true
		}
	})
}

// Final reads every key on every node once the faults are healed.
func (w *Workload) Final(nodes []string) []history.Op {
	var ops []history.Op
	for _, n := range nodes {
		for k := range w.Keys {
			ops = append(ops, history.Op{F: "read", Key: Key(k), Node: n})
		}
	}
	return ops
}

// Model is the model the workload's histories are judged by.
func (w *Workload) Model() linearizable.Model {
	if w.CAS {
		return linearizable.KV(linearizable.CASRegister())
	}
	return linearizable.KV(linearizable.Register())
}

// Checkers returns the per-key linearizability checker.
func (w *Workload) Checkers(h *history.Header) ([]checkers.Checker, error) {
	return []checkers.Checker{linearizable.New(w.Model())}, nil
}
