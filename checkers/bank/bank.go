// Package bank is the atomicity checker of the bank workload (see package
// workloads/bank): money moves between accounts held by different
// participants of a distributed transaction, and no transfer may take
// effect on one participant and not on another.
//
// It judges three things, all from the history alone:
//
//   - Reads: every ok read of all accounts sums to the initial total
//     (wrong-total), and names every account (incomplete-read).
//   - Outcomes: the final state, recorded once the faults are healed and the
//     coordinator has recovered, lists per participant the transfers
//     committed there and those still prepared. A transfer committed on one
//     of its participants and on another neither committed nor prepared is
//     a split-outcome; one still prepared anywhere is in-doubt (its
//     participants hold its locks, and nothing will resolve it). An ok
//     transfer committed nowhere is lost-transfer; a failed one committed
//     everywhere is failed-committed; an id committed that no transfer
//     invoked is phantom-transfer.
//   - Conservation: each account's final balance is its initial balance
//     plus the amounts of the transfers its participant committed
//     (balance-mismatch), and the final balances sum to the initial total
//     (wrong-total).
//
// A history with no final state, or in which no transfer committed on all
// its participants, shows nothing: unknown, never valid. A history that
// breaks the op contract (a value that does not decode, a transfer id used
// twice) is unknown with the record named.
package bank

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// Operation names of the contract.
const (
	FTransfer = "transfer"
	FRead     = "read"
	FFinal    = "final"
)

// Anomaly kinds.
const (
	KindSplit          = "split-outcome"
	KindInDoubt        = "in-doubt"
	KindLost           = "lost-transfer"
	KindFailedCommit   = "failed-committed"
	KindPhantom        = "phantom-transfer"
	KindWrongTotal     = "wrong-total"
	KindIncompleteRead = "incomplete-read"
	KindMismatch       = "balance-mismatch"
)

// Transfer is a transfer's invocation value.
type Transfer struct {
	ID     int64 `json:"id"`
	From   int   `json:"from"`
	To     int   `json:"to"`
	Amount int64 `json:"amount"`
}

// Participant is one participant's part of the final state.
type Participant struct {
	Name string `json:"name"`
	// Balances are the accounts this participant holds, by account number.
	Balances map[int]int64 `json:"balances"`
	// Committed are the ids of the transfers whose branch committed here.
	Committed []int64 `json:"committed"`
	// Prepared are the ids of the transfers prepared here and not yet
	// committed or rolled back.
	Prepared []int64 `json:"prepared"`
}

// Final is the final op's ok value.
type Final struct {
	Participants []Participant `json:"participants"`
}

// Checker is the bank checker. Accounts and Balance fix the initial state:
// accounts 0..Accounts-1, each holding Balance.
type Checker struct {
	Accounts int
	Balance  int64
}

var _ checkers.Checker = (*Checker)(nil)

// New returns the checker for accounts accounts of balance each.
func New(accounts int, balance int64) *Checker { return &Checker{Accounts: accounts, Balance: balance} }

// Name is "bank".
func (c *Checker) Name() string { return "bank" }

// status is a transfer's state on one participant.
type status int

const (
	absent status = iota
	committed
	prepared
)

func (s status) String() string {
	switch s {
	case committed:
		return "committed"
	case prepared:
		return "still prepared"
	}
	return "neither committed nor prepared (rolled back or never applied)"
}

type transfer struct {
	Transfer
	pair history.Pair
}

// Check judges the history.
func (c *Checker) Check(ctx context.Context, h *history.File) checkers.Result {
	res := checkers.Result{Counts: map[string]int64{}}
	unknown := func(format string, a ...any) checkers.Result {
		res.Valid = checkers.Unknown
		res.Error = fmt.Sprintf(format, a...)
		res.Summary = "bank: undecidable: " + res.Error
		return res
	}
	if c.Accounts < 1 {
		return unknown("the workload declares %d accounts", c.Accounts)
	}
	if err := history.WellFormed(h.Ops, FTransfer, FRead, FFinal); err != nil {
		return unknown("%v", err)
	}
	// Pair client records only: faults planned on the clock and faults
	// aimed at events are applied side by side, so nemesis records need
	// not pair up.
	client := make([]history.Op, 0, len(h.Ops))
	for i := range h.Ops {
		if !h.Ops[i].IsNemesis() {
			client = append(client, h.Ops[i])
		}
	}
	pairs, err := history.Pairs(client)
	if err != nil {
		return unknown("%v", err)
	}
	faults := history.NewFaultIndex(h.Ops)
	end := history.EndTime(h.Ops)
	total := int64(c.Accounts) * c.Balance
	var (
		transfers = map[int64]*transfer{}
		order     []*transfer
		final     *Final
		finalPair history.Pair
		finals    int
	)
	for i := range pairs {
		if i%4096 == 0 && ctx.Err() != nil {
			return unknown("check interrupted: %v", ctx.Err())
		}
		p := &pairs[i]
		if finals > 0 && p.Invoke.F != FFinal {
			return unknown("record %d: a %s after the final state (record %d); the final state must be the last operation", p.Invoke.Index, p.Invoke.F, finalPair.Invoke.Index)
		}
		switch p.Invoke.F {
		case FTransfer:
			var t Transfer
			if err := decodeStrict(p.Invoke.Value, &t); err != nil {
				return unknown("record %d: transfer value %s: %v", p.Invoke.Index, p.Invoke.Value, err)
			}
			if t.From < 0 || t.From >= c.Accounts || t.To < 0 || t.To >= c.Accounts {
				return unknown("record %d: transfer %d names an account outside 0..%d", p.Invoke.Index, t.ID, c.Accounts-1)
			}
			if t.From == t.To || t.Amount <= 0 {
				return unknown("record %d: transfer %d moves %d from account %d to %d; a transfer moves a positive amount between two accounts", p.Invoke.Index, t.ID, t.Amount, t.From, t.To)
			}
			if _, dup := transfers[t.ID]; dup {
				return unknown("record %d: transfer id %d used twice (ids must be unique over the run)", p.Invoke.Index, t.ID)
			}
			tr := &transfer{Transfer: t, pair: *p}
			transfers[t.ID] = tr
			order = append(order, tr)
			res.Counts["transfers"]++
			res.Counts["transfer-"+string(p.Outcome())]++
		case FRead:
			res.Counts["read-"+string(p.Outcome())]++
			if p.Outcome() != history.OK {
				continue
			}
			var bal map[int]int64
			if err := decodeStrict(p.Complete.Value, &bal); err != nil {
				return unknown("record %d: read value %s: %v", p.Complete.Index, p.Complete.Value, err)
			}
			c.checkRead(&res, p, bal, total, faults, pairs)
		case FFinal:
			if p.Outcome() != history.OK {
				res.Counts["final-"+string(p.Outcome())]++
				continue
			}
			var f Final
			if err := decodeStrict(p.Complete.Value, &f); err != nil {
				return unknown("record %d: final value: %v", p.Complete.Index, err)
			}
			if finals++; finals > 1 {
				return unknown("records %d and %d are both final states; which one the participants ended with is not known", finalPair.Complete.Index, p.Complete.Index)
			}
			final, finalPair = &f, *p
		}
	}
	res.Counts["final-ok"] = int64(finals)
	whole := 0
	if final != nil {
		var err error
		whole, err = c.checkFinal(&res, final, finalPair, transfers, order, total, faults, history.Faults(h.Ops), end)
		if err != nil {
			return unknown("record %d: %v", finalPair.Complete.Index, err)
		}
	}
	res.Counts["committed-everywhere"] = int64(whole)
	kinds := make([]string, 0, len(res.AnomalyCounts))
	for k := range res.AnomalyCounts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	switch {
	case len(kinds) > 0:
		res.Valid = checkers.Invalid
		parts := make([]string, len(kinds))
		for i, k := range kinds {
			parts[i] = fmt.Sprintf("%d %s", res.AnomalyCounts[k], k)
		}
		res.Summary = fmt.Sprintf("bank: %d transfers, %d reads: %s", res.Counts["transfers"], res.Counts["read-ok"], strings.Join(parts, ", "))
	case final == nil:
		return unknown("no final state of the participants was recorded (final op %s), so no transfer's outcome is known",
			outcomeWord(res.Counts))
	case whole == 0:
		return unknown("no transfer committed on all its participants: nothing was shown")
	default:
		res.Valid = checkers.Valid
		res.Summary = fmt.Sprintf("bank: %d transfers (%d committed on every participant), %d reads each summing to %d; no split, in-doubt or lost transfer after recovery",
			res.Counts["transfers"], whole, res.Counts["read-ok"], total)
	}
	return res
}

func outcomeWord(counts map[string]int64) string {
	switch {
	case counts["final-fail"] > 0:
		return "failed"
	case counts["final-info"] > 0:
		return "indeterminate"
	}
	return "missing"
}

// checkRead checks one ok read of all accounts.
func (c *Checker) checkRead(res *checkers.Result, p *history.Pair, bal map[int]int64, total int64, faults *history.FaultIndex, pairs []history.Pair) {
	var missing []int
	var sum int64
	for a := 0; a < c.Accounts; a++ {
		v, ok := bal[a]
		if !ok {
			missing = append(missing, a)
		}
		sum += v
	}
	extra := 0
	for a := range bal {
		if a < 0 || a >= c.Accounts {
			extra++
		}
	}
	if len(missing) > 0 || extra > 0 {
		res.AddAnomaly(checkers.Anomaly{Kind: KindIncompleteRead,
			Message: fmt.Sprintf("read by process %d at %.3fs does not name exactly accounts 0..%d: missing %v, %d outside that range",
				p.Invoke.Process, seconds(p.Complete.Time), c.Accounts-1, missing, extra),
			Ops: []history.Op{p.Invoke, p.Complete}, Processes: []int{p.Invoke.Process}, Nodes: nodesOf(p.Invoke.Node),
			Fault: faults.Before(p.Complete.Time, p.Invoke.Node)})
		return
	}
	if sum == total {
		return
	}
	// The witness: the transfers that were in flight while the read ran,
	// one of which it saw half applied.
	var during []string
	for i := range pairs {
		q := &pairs[i]
		if q.Invoke.F != FTransfer || q.Invoke.Time > p.Complete.Time || (q.Completed() && q.Complete.Time < p.Invoke.Time) {
			continue
		}
		if len(during) == 8 {
			during = append(during, "...")
			break
		}
		during = append(during, fmt.Sprintf("%s (%s)", q.Invoke.Value, q.Outcome()))
	}
	msg := fmt.Sprintf("read by process %d at %.3fs sums to %d, not %d (off by %+d): %s; transfers in flight meanwhile: %s",
		p.Invoke.Process, seconds(p.Complete.Time), sum, total, sum-total, p.Complete.Value, orNone(during))
	res.AddAnomaly(checkers.Anomaly{Kind: KindWrongTotal, Message: msg, Ops: []history.Op{p.Invoke, p.Complete},
		Processes: []int{p.Invoke.Process}, Nodes: nodesOf(p.Invoke.Node), Fault: faults.Before(p.Complete.Time, p.Invoke.Node),
		Data: map[string]int64{"sum": sum, "total": total}})
}

// checkFinal judges each transfer's outcome against the final state and
// returns how many transfers committed on all their participants.
func (c *Checker) checkFinal(res *checkers.Result, f *Final, fp history.Pair, transfers map[int64]*transfer, order []*transfer,
	total int64, faults *history.FaultIndex, faultOps []history.Op, end int64) (int, error) {
	holder := map[int]string{}
	state := map[string]map[int64]status{}
	var names []string
	for _, p := range f.Participants {
		if p.Name == "" {
			return 0, fmt.Errorf("final state: a participant without a name")
		}
		if _, dup := state[p.Name]; dup {
			return 0, fmt.Errorf("final state: participant %s listed twice", p.Name)
		}
		names = append(names, p.Name)
		st := map[int64]status{}
		for _, id := range p.Committed {
			if st[id] == committed {
				return 0, fmt.Errorf("final state: participant %s lists transfer %d as committed twice", p.Name, id)
			}
			st[id] = committed
		}
		for _, id := range p.Prepared {
			if st[id] != absent {
				return 0, fmt.Errorf("final state: participant %s lists transfer %d as both committed and prepared", p.Name, id)
			}
			st[id] = prepared
		}
		state[p.Name] = st
		for a := range p.Balances {
			if other, dup := holder[a]; dup {
				return 0, fmt.Errorf("final state: account %d held by both %s and %s", a, other, p.Name)
			}
			holder[a] = p.Name
		}
	}
	sort.Strings(names)
	for a := 0; a < c.Accounts; a++ {
		if _, ok := holder[a]; !ok {
			return 0, fmt.Errorf("final state: no participant holds account %d", a)
		}
	}
	finalOps := []history.Op{fp.Invoke, fp.Complete}
	whole := 0
	for _, t := range order {
		parts := participantsOf(holder, t.Transfer)
		sts := make([]status, len(parts))
		var nc, np int
		for i, p := range parts {
			sts[i] = state[p][t.ID]
			switch sts[i] {
			case committed:
				nc++
			case prepared:
				np++
			}
		}
		outcome := t.pair.Outcome()
		at := t.pair.End(end)
		// The fault that struck while the transfer ran, else the last one
		// before it ended.
		during := faultsBetween(faultOps, t.pair.Invoke.Time, at)
		fault := faults.Before(at, t.pair.Invoke.Node)
		if len(during) > 0 {
			fault = &during[0]
		}
		describe := func() string {
			var b strings.Builder
			fmt.Fprintf(&b, "transfer %d (%d from account %d to %d, reported %s", t.ID, t.Amount, t.From, t.To, outcome)
			if t.pair.Complete.Error != "" {
				fmt.Fprintf(&b, ": %q", t.pair.Complete.Error)
			}
			b.WriteString("): ")
			for i, p := range parts {
				if i > 0 {
					b.WriteString("; ")
				}
				fmt.Fprintf(&b, "on %s %s", p, sts[i])
			}
			switch {
			case len(during) > 0:
				words := make([]string, len(during))
				for i := range during {
					words[i] = faultWord(&during[i])
				}
				fmt.Fprintf(&b, "; faults while it ran: %s", strings.Join(words, ", "))
			case fault != nil:
				fmt.Fprintf(&b, "; the fault before: %s", faultWord(fault))
			}
			return b.String()
		}
		add := func(kind, why string) {
			if res.Full() {
				res.Count(kind)
				return
			}
			ops := append([]history.Op{t.pair.Invoke}, finalOps...)
			if t.pair.Completed() {
				ops = []history.Op{t.pair.Invoke, t.pair.Complete, fp.Complete}
			}
			res.AddAnomaly(checkers.Anomaly{Kind: kind, Message: describe() + ": " + why, Ops: ops,
				Processes: []int{t.pair.Invoke.Process}, Nodes: parts, Fault: fault,
				Data: map[string]any{"transfer": t.ID, "participants": parts, "states": statusWords(sts)}})
		}
		switch {
		case np > 0:
			add(KindInDoubt, "after recovery it is still in doubt, its participants hold its locks and nothing will resolve it")
		case nc > 0 && nc < len(parts):
			add(KindSplit, "committed on one participant and not on another, so the money was created or destroyed")
		case nc == len(parts):
			whole++
			if outcome == history.Fail {
				add(KindFailedCommit, "reported failed, yet committed")
			}
		case outcome == history.OK:
			add(KindLost, "acknowledged, yet committed nowhere")
		}
	}
	// Ids committed or prepared that no transfer of the history invoked.
	for _, p := range names {
		ids := make([]int64, 0, len(state[p]))
		for id := range state[p] {
			if transfers[id] == nil {
				ids = append(ids, id)
			}
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			res.AddAnomaly(checkers.Anomaly{Kind: KindPhantom,
				Message: fmt.Sprintf("participant %s lists transfer %d as %s, but no transfer %d was invoked", p, id, state[p][id], id),
				Ops:     finalOps, Nodes: []string{p}})
		}
	}
	// Conservation: each participant's balances follow from the transfers
	// it committed.
	want := map[int]int64{}
	for a := 0; a < c.Accounts; a++ {
		want[a] = c.Balance
	}
	for _, t := range order {
		if state[holder[t.From]][t.ID] == committed {
			want[t.From] -= t.Amount
		}
		if state[holder[t.To]][t.ID] == committed {
			want[t.To] += t.Amount
		}
	}
	var sum int64
	for _, p := range f.Participants {
		accts := make([]int, 0, len(p.Balances))
		for a := range p.Balances {
			accts = append(accts, a)
		}
		sort.Ints(accts)
		for _, a := range accts {
			got := p.Balances[a]
			sum += got
			if a < 0 || a >= c.Accounts {
				res.AddAnomaly(checkers.Anomaly{Kind: KindIncompleteRead,
					Message: fmt.Sprintf("final state: participant %s holds account %d, outside 0..%d", p.Name, a, c.Accounts-1),
					Ops:     finalOps, Nodes: []string{p.Name}})
				continue
			}
			if got != want[a] {
				res.AddAnomaly(checkers.Anomaly{Kind: KindMismatch,
					Message: fmt.Sprintf("final state: account %d on %s holds %d, but its initial %d plus the transfers %s committed make %d",
						a, p.Name, got, c.Balance, p.Name, want[a]),
					Ops: finalOps, Nodes: []string{p.Name}, Data: map[string]int64{"account": int64(a), "balance": got, "expected": want[a]}})
			}
		}
	}
	if sum != total {
		res.AddAnomaly(checkers.Anomaly{Kind: KindWrongTotal,
			Message: fmt.Sprintf("final state: the balances sum to %d, not %d (off by %+d)", sum, total, sum-total),
			Ops:     finalOps, Nodes: names, Fault: faults.Before(fp.Invoke.Time, ""), Data: map[string]int64{"sum": sum, "total": total}})
	}
	return whole, nil
}

// participantsOf lists the participants holding a transfer's accounts,
// sorted, each once.
func participantsOf(holder map[int]string, t Transfer) []string {
	a, b := holder[t.From], holder[t.To]
	switch {
	case a == b:
		return []string{a}
	case a < b:
		return []string{a, b}
	}
	return []string{b, a}
}

// faultsBetween lists the faults that began in [from, to], at most four.
func faultsBetween(fs []history.Op, from, to int64) []history.Op {
	i := sort.Search(len(fs), func(i int) bool { return fs[i].Time >= from })
	var out []history.Op
	for ; i < len(fs) && fs[i].Time <= to && len(out) < 4; i++ {
		out = append(out, fs[i])
	}
	return out
}

func statusWords(sts []status) []string {
	out := make([]string, len(sts))
	for i, s := range sts {
		out[i] = map[status]string{absent: "absent", committed: "committed", prepared: "prepared"}[s]
	}
	return out
}

func faultWord(f *history.Op) string {
	s := f.F
	if f.Node != "" {
		s += " on " + f.Node
	}
	return s + fmt.Sprintf(" at %.3fs", seconds(f.Time))
}

func seconds(t int64) float64 { return float64(t) / 1e9 }

func nodesOf(n string) []string {
	if n == "" {
		return nil
	}
	return []string{n}
}

func orNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

// decodeStrict decodes a JSON value, refusing unknown fields and trailing
// data, so a value that breaks the contract is named rather than read as
// zeros.
func decodeStrict(b json.RawMessage, v any) error {
	if len(b) == 0 || string(b) == "null" {
		return fmt.Errorf("no value")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data after the value")
	}
	return nil
}
