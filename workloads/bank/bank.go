// Package bank is the bank workload of distributed transactions: transfers
// between accounts that different participants hold, reads of all
// accounts, and a final state read from every participant once the faults
// are healed. checkers/bank judges it for atomicity: no transfer committed
// on one participant and not on another, none left in doubt, money
// conserved. Any transactional store that spans participants can run it by
// implementing the op contract below in its client.
//
// # Op contract
//
// Accounts are 0 .. bank-accounts-1; each starts with bank-balance.
//
//   - {"f":"transfer","value":{"id":I,"from":A,"to":B,"amount":N}}: move N
//     from account A to account B in one transaction. Ids are unique over
//     the run; the store records, on each participant the transfer touches
//     and inside the same local transaction, that transfer I committed
//     there (so the final state can name it). Balances may go negative. ok:
//     committed on every participant. fail: certainly committed nowhere
//     (aborted before any participant was told to commit). info: unknown.
//   - {"f":"read"}: read every account's balance atomically, as one
//     transaction across all participants (a global snapshot, or shared
//     locks held on every participant until all are read). ok value: an
//     object from account number to balance, {"0":100,"1":97,...}. A read
//     that is not atomic across participants may see a transfer half
//     applied even when every transfer is atomic, so it must be.
//   - {"f":"final"}: after the faults are healed and the store has
//     recovered, report each participant's state as it is, without
//     resolving anything: ok value {"participants":[{"name":"p1",
//     "balances":{"0":100,...},"committed":[ids],"prepared":[ids]},...]}:
//     the accounts it holds, the transfers committed there, and those
//     prepared and still undecided (for PostgreSQL, pg_prepared_xacts).
package bank

import (
	"fmt"

	"github.com/chaostest/chaos/checkers"
	bankcheck "github.com/chaostest/chaos/checkers/bank"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/gen"
)

// Name is the workload's registered name.
const Name = "bank"

// Params are the workload's flags.
var Params = []core.Param{
	{Name: "bank-accounts", Type: core.TypeInt, Default: "4", Usage: "bank: number of accounts (0, 1, ...), spread over the participants"},
	{Name: "bank-balance", Type: core.TypeInt, Default: "100", Usage: "bank: each account's initial balance"},
	{Name: "bank-max-transfer", Type: core.TypeInt, Default: "5", Usage: "bank: largest amount one transfer moves (each moves 1 to this much)"},
	{Name: "bank-read-weight", Type: core.TypeInt, Default: "1", Usage: "bank: relative weight of reads of all accounts against transfers (1)"},
}

// Register adds the workload to r.
func Register(r *core.Registry) {
	r.AddWorkload(core.WorkloadInfo{Name: Name,
		Summary: "transfers between accounts on different participants and reads of all accounts; split outcomes, in-doubt transactions, totals",
		Params:  Params, New: New})
}

// Workload is the bank workload.
type Workload struct {
	Accounts    int
	Balance     int64
	MaxTransfer int
	ReadWeight  int
}

var _ core.Workload = (*Workload)(nil)

// New builds the workload from its parameters.
func New(p core.Params) (core.Workload, error) {
	w := &Workload{}
	var err error
	if w.Accounts, err = p.Int("bank-accounts", 4); err != nil {
		return nil, err
	}
	if w.Accounts < 2 || w.Accounts > 10000 {
		return nil, fmt.Errorf("--bank-accounts %d: must be between 2 and 10000", w.Accounts)
	}
	bal, err := p.Int("bank-balance", 100)
	if err != nil {
		return nil, err
	}
	if bal < 0 || bal > 1_000_000_000 {
		return nil, fmt.Errorf("--bank-balance %d: must be between 0 and 1000000000", bal)
	}
	w.Balance = int64(bal)
	if w.MaxTransfer, err = p.Int("bank-max-transfer", 5); err != nil {
		return nil, err
	}
	if w.MaxTransfer < 1 || w.MaxTransfer > 1_000_000 {
		return nil, fmt.Errorf("--bank-max-transfer %d: must be between 1 and 1000000", w.MaxTransfer)
	}
	if w.ReadWeight, err = p.Int("bank-read-weight", 1); err != nil {
		return nil, err
	}
	if w.ReadWeight < 0 || w.ReadWeight > 1000 {
		return nil, fmt.Errorf("--bank-read-weight %d: must be between 0 and 1000", w.ReadWeight)
	}
	return w, nil
}

// idStride separates the transfer ids of different workers, so ids stay
// unique across the run without coordination.
const idStride = 1_000_000_000

// Generator makes transfers between two different accounts and reads of
// all accounts. Worker w numbers its transfers (w+1)*1e9+1, +2, ...; the
// sequence depends only on the worker's random stream.
func (w *Workload) Generator(worker int) gen.Generator {
	next := int64(worker+1) * idStride
	return gen.Func(func(c *gen.Context) (history.Op, bool) {
		if c.Rand.IntN(w.ReadWeight+1) < w.ReadWeight {
			return history.Op{F: bankcheck.FRead}, true
		}
		next++
		from := c.Rand.IntN(w.Accounts)
		to := c.Rand.IntN(w.Accounts - 1)
		if to >= from {
			to++
		}
		t := bankcheck.Transfer{ID: next, From: from, To: to, Amount: int64(1 + c.Rand.IntN(w.MaxTransfer))}
		return history.Op{F: bankcheck.FTransfer, Value: history.JSON(t)}, true
	})
}

// Final reads every participant's state once, on the first node.
func (w *Workload) Final(nodes []string) []history.Op {
	op := history.Op{F: bankcheck.FFinal}
	if len(nodes) > 0 {
		op.Node = nodes[0]
	}
	return []history.Op{op}
}

// Checkers rebuilds the checker from the history's parameters.
func (w *Workload) Checkers(h *history.Header) ([]checkers.Checker, error) {
	p := core.Params(h.Params)
	n, err := p.Int("bank-accounts", 4)
	if err != nil {
		return nil, err
	}
	bal, err := p.Int("bank-balance", 100)
	if err != nil {
		return nil, err
	}
	return []checkers.Checker{bankcheck.New(n, int64(bal))}, nil
}
