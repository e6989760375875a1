package bank

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// builder assembles a history record by record, each 1 ms after the last.
type builder struct {
	ops []history.Op
}

func (b *builder) add(op history.Op) {
	op.Index = int64(len(b.ops))
	op.Time = int64(len(b.ops)+1) * 1e6
	b.ops = append(b.ops, op)
}

func (b *builder) transfer(p int, t Transfer, out history.Type) {
	v := history.JSON(t)
	b.add(history.Op{Process: p, Type: history.Invoke, F: FTransfer, Value: v, Node: "n1"})
	b.add(history.Op{Process: p, Type: out, F: FTransfer, Value: v, Node: "n1"})
}

func (b *builder) read(p int, bal map[int]int64, out history.Type) {
	b.add(history.Op{Process: p, Type: history.Invoke, F: FRead, Node: "n1"})
	var v []byte
	if out == history.OK {
		v = history.JSON(bal)
	}
	b.add(history.Op{Process: p, Type: out, F: FRead, Value: v, Node: "n1"})
}

func (b *builder) fault(f, node string) {
	b.add(history.Op{Process: history.NemesisProcess, Type: history.Invoke, F: f, Node: node})
	b.add(history.Op{Process: history.NemesisProcess, Type: history.OK, F: f, Node: node})
}

func (b *builder) final(ps ...Participant) {
	b.add(history.Op{Process: 0, Type: history.Invoke, F: FFinal, Node: "n1"})
	b.add(history.Op{Process: 0, Type: history.OK, F: FFinal, Value: history.JSON(Final{Participants: ps}), Node: "n1"})
}

func (b *builder) file() *history.File {
	return &history.File{Header: history.Header{Target: "twopc", Workload: "bank"}, Ops: b.ops}
}

func check(t *testing.T, accounts int, balance int64, b *builder) checkers.Result {
	t.Helper()
	return New(accounts, balance).Check(context.Background(), b.file())
}

// Two participants: p1 holds accounts 0 and 2, p2 holds 1 and 3.
func bal(vs ...int64) map[int]int64 {
	m := map[int]int64{}
	for i, v := range vs {
		m[i] = v
	}
	return m
}

func TestHandBuilt(t *testing.T) {
	t12 := Transfer{ID: 12, From: 0, To: 1, Amount: 5}
	t13 := Transfer{ID: 13, From: 3, To: 2, Amount: 2}
	cases := []struct {
		name  string
		build func(b *builder)
		want  checkers.Validity
		kind  string
		words []string // the witness must say these
	}{
		{"atomic", func(b *builder) {
			b.transfer(1, t12, history.OK)
			b.read(2, bal(95, 105, 100, 100), history.OK)
			b.transfer(1, t13, history.Fail)
			b.final(Participant{Name: "p1", Balances: map[int]int64{0: 95, 2: 100}, Committed: []int64{12}},
				Participant{Name: "p2", Balances: map[int]int64{1: 105, 3: 100}, Committed: []int64{12}})
		}, checkers.Valid, "", nil},
		{"overlapping faults", func(b *builder) {
			// A triggered fault and a clock-planned one run side by side.
			b.add(history.Op{Process: history.NemesisProcess, Type: history.Invoke, F: "coordinator-restart", Node: "n1"})
			b.add(history.Op{Process: history.NemesisProcess, Type: history.Invoke, F: "partition"})
			b.transfer(1, t12, history.OK)
			b.add(history.Op{Process: history.NemesisProcess, Type: history.OK, F: "partition"})
			b.add(history.Op{Process: history.NemesisProcess, Type: history.OK, F: "coordinator-restart", Node: "n1"})
			b.final(Participant{Name: "p1", Balances: map[int]int64{0: 95, 2: 100}, Committed: []int64{12}},
				Participant{Name: "p2", Balances: map[int]int64{1: 105, 3: 100}, Committed: []int64{12}})
		}, checkers.Valid, "", nil},
		{"info committed", func(b *builder) {
			b.transfer(1, t12, history.Info)
			b.final(Participant{Name: "p1", Balances: map[int]int64{0: 95, 2: 100}, Committed: []int64{12}},
				Participant{Name: "p2", Balances: map[int]int64{1: 105, 3: 100}, Committed: []int64{12}})
		}, checkers.Valid, "", nil},
		{"in doubt after a crash", func(b *builder) {
			b.transfer(1, t13, history.OK)
			b.add(history.Op{Process: 1, Type: history.Invoke, F: FTransfer, Value: history.JSON(t12), Node: "n1"})
			b.fault("coordinator-crash", "n1")
			b.add(history.Op{Process: 1, Type: history.Info, F: FTransfer, Value: history.JSON(t12), Node: "n1", Error: "connection reset"})
			b.final(Participant{Name: "p1", Balances: map[int]int64{0: 95, 2: 102}, Committed: []int64{12, 13}},
				Participant{Name: "p2", Balances: map[int]int64{1: 100, 3: 98}, Committed: []int64{13}, Prepared: []int64{12}})
		}, checkers.Invalid, KindInDoubt, []string{"transfer 12", "on p1 committed", "on p2 still prepared", "coordinator-crash on n1"}},
		{"split", func(b *builder) {
			b.transfer(1, t12, history.Info)
			b.final(Participant{Name: "p1", Balances: map[int]int64{0: 95, 2: 100}, Committed: []int64{12}},
				Participant{Name: "p2", Balances: map[int]int64{1: 100, 3: 100}})
		}, checkers.Invalid, KindSplit, []string{"on p1 committed", "on p2 neither committed nor prepared"}},
		{"lost", func(b *builder) {
			b.transfer(1, t13, history.OK)
			b.transfer(1, t12, history.OK)
			b.final(Participant{Name: "p1", Balances: map[int]int64{0: 100, 2: 102}, Committed: []int64{13}},
				Participant{Name: "p2", Balances: map[int]int64{1: 100, 3: 98}, Committed: []int64{13}})
		}, checkers.Invalid, KindLost, []string{"transfer 12", "acknowledged"}},
		{"failed committed", func(b *builder) {
			b.transfer(1, t12, history.Fail)
			b.final(Participant{Name: "p1", Balances: map[int]int64{0: 95, 2: 100}, Committed: []int64{12}},
				Participant{Name: "p2", Balances: map[int]int64{1: 105, 3: 100}, Committed: []int64{12}})
		}, checkers.Invalid, KindFailedCommit, []string{"reported fail"}},
		{"half-applied read", func(b *builder) {
			b.add(history.Op{Process: 1, Type: history.Invoke, F: FTransfer, Value: history.JSON(t12), Node: "n1"})
			b.read(2, bal(95, 100, 100, 100), history.OK)
			b.add(history.Op{Process: 1, Type: history.OK, F: FTransfer, Value: history.JSON(t12), Node: "n1"})
			b.final(Participant{Name: "p1", Balances: map[int]int64{0: 95, 2: 100}, Committed: []int64{12}},
				Participant{Name: "p2", Balances: map[int]int64{1: 105, 3: 100}, Committed: []int64{12}})
		}, checkers.Invalid, KindWrongTotal, []string{"sums to 395, not 400", `"id":12`}},
		{"incomplete read", func(b *builder) {
			b.transfer(1, t12, history.OK)
			b.read(2, map[int]int64{0: 95, 1: 105, 2: 100}, history.OK)
			b.final(Participant{Name: "p1", Balances: map[int]int64{0: 95, 2: 100}, Committed: []int64{12}},
				Participant{Name: "p2", Balances: map[int]int64{1: 105, 3: 100}, Committed: []int64{12}})
		}, checkers.Invalid, KindIncompleteRead, []string{"missing [3]"}},
		{"balance mismatch", func(b *builder) {
			b.transfer(1, t12, history.OK)
			b.final(Participant{Name: "p1", Balances: map[int]int64{0: 95, 2: 100}, Committed: []int64{12}},
				Participant{Name: "p2", Balances: map[int]int64{1: 100, 3: 105}, Committed: []int64{12}})
		}, checkers.Invalid, KindMismatch, []string{"account 1 on p2 holds 100", "make 105"}},
		{"phantom", func(b *builder) {
			b.transfer(1, t12, history.OK)
			b.final(Participant{Name: "p1", Balances: map[int]int64{0: 95, 2: 100}, Committed: []int64{12, 99}},
				Participant{Name: "p2", Balances: map[int]int64{1: 105, 3: 100}, Committed: []int64{12}})
		}, checkers.Invalid, KindPhantom, []string{"transfer 99"}},
		{"empty", func(b *builder) {}, checkers.Unknown, "", []string{"no final state"}},
		{"no final state", func(b *builder) {
			b.transfer(1, t12, history.OK)
			b.read(2, bal(95, 105, 100, 100), history.OK)
			b.add(history.Op{Process: 0, Type: history.Invoke, F: FFinal, Node: "n1"})
			b.add(history.Op{Process: 0, Type: history.Info, F: FFinal, Node: "n1"})
		}, checkers.Unknown, "", []string{"indeterminate"}},
		{"nothing committed", func(b *builder) {
			b.transfer(1, t12, history.Fail)
			b.final(Participant{Name: "p1", Balances: map[int]int64{0: 100, 2: 100}},
				Participant{Name: "p2", Balances: map[int]int64{1: 100, 3: 100}})
		}, checkers.Unknown, "", []string{"nothing was shown"}},
		{"bad transfer value", func(b *builder) {
			b.add(history.Op{Process: 1, Type: history.Invoke, F: FTransfer, Value: []byte(`{"id":1,"form":0}`)})
			b.add(history.Op{Process: 1, Type: history.OK, F: FTransfer})
		}, checkers.Unknown, "", []string{"record 0", "unknown field"}},
		{"id twice", func(b *builder) {
			b.transfer(1, t12, history.OK)
			b.transfer(1, t12, history.OK)
		}, checkers.Unknown, "", []string{"used twice"}},
		{"account nobody holds", func(b *builder) {
			b.transfer(1, t12, history.OK)
			b.final(Participant{Name: "p1", Balances: map[int]int64{0: 95, 2: 100}, Committed: []int64{12}},
				Participant{Name: "p2", Balances: map[int]int64{1: 105}, Committed: []int64{12}})
		}, checkers.Unknown, "", []string{"no participant holds account 3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b builder
			c.build(&b)
			r := check(t, 4, 100, &b)
			if r.Valid != c.want {
				t.Fatalf("verdict %s, want %s: %s %s", r.Valid, c.want, r.Summary, r.Error)
			}
			text := r.Error
			if c.kind != "" {
				if r.AnomalyCounts[c.kind] == 0 {
					t.Fatalf("no %s: %v %s", c.kind, r.AnomalyCounts, r.Summary)
				}
				for _, a := range r.Anomalies {
					if a.Kind == c.kind {
						text = a.Message
						if len(a.Ops) == 0 {
							t.Fatalf("witness without ops: %+v", a)
						}
						break
					}
				}
			}
			for _, w := range c.words {
				if !strings.Contains(text, w) {
					t.Fatalf("witness %q lacks %q", text, w)
				}
			}
		})
	}
}

// truth is how a random execution really went: per transfer, its state on
// each of its participants, what the client was told, and any corruption
// planted in the records.
type truth struct {
	accounts, parts int
	transfers       []Transfer
	states          [][]status // per transfer, per participant of it (sorted)
	told            []history.Type
	readAt          []int   // per read, how many transfers came before it
	readErr         []int64 // per read, how far its sum is off
	balErr          int64   // added to account 0's final balance
	hasFinal        bool
}

func holderOf(a, parts int) string { return fmt.Sprintf("p%d", a%parts+1) }

func (tr *truth) partsOf(t Transfer) []string {
	a, b := holderOf(t.From, tr.parts), holderOf(t.To, tr.parts)
	switch {
	case a == b:
		return []string{a}
	case a < b:
		return []string{a, b}
	}
	return []string{b, a}
}

// randomTruth draws an execution: mostly atomic transfers told truthfully,
// sometimes a broken one (split, prepared, a lie to the client), a read
// that sees a half-applied transfer, or a corrupted balance.
func randomTruth(r *rand.Rand) *truth {
	tr := &truth{accounts: 2 + r.IntN(5), parts: 1 + r.IntN(3), hasFinal: r.IntN(10) > 0}
	n := r.IntN(7)
	for i := 0; i < n; i++ {
		from := r.IntN(tr.accounts)
		to := (from + 1 + r.IntN(tr.accounts-1)) % tr.accounts
		t := Transfer{ID: int64(i + 1), From: from, To: to, Amount: int64(1 + r.IntN(5))}
		tr.transfers = append(tr.transfers, t)
		ps := tr.partsOf(t)
		st := make([]status, len(ps))
		commit := r.IntN(2) == 0
		for j := range st {
			if commit {
				st[j] = committed
			}
		}
		if r.IntN(6) == 0 { // break atomicity on one participant
			st[r.IntN(len(st))] = status(r.IntN(3))
		}
		tr.states = append(tr.states, st)
		var told history.Type
		switch {
		case r.IntN(4) == 0:
			told = history.Info
		case r.IntN(8) == 0: // a lie
			told = map[bool]history.Type{true: history.Fail, false: history.OK}[commit]
		case commit:
			told = history.OK
		default:
			told = history.Fail
		}
		tr.told = append(tr.told, told)
	}
	at := 0
	for i := r.IntN(3); i > 0; i-- {
		e := int64(0)
		if r.IntN(6) == 0 {
			e = int64(1 + r.IntN(3))
		}
		at += r.IntN(n - at + 1)
		tr.readAt = append(tr.readAt, at)
		tr.readErr = append(tr.readErr, e)
	}
	if r.IntN(8) == 0 {
		tr.balErr = int64(1 + r.IntN(3))
	}
	return tr
}

// history renders the execution: transfers in order, reads between them
// (each seeing the state after the transfers so far, plus its planted
// error), then the final state of every participant.
func (tr *truth) history(r *rand.Rand) *builder {
	var b builder
	cur := map[int]int64{}
	for a := 0; a < tr.accounts; a++ {
		cur[a] = 100
	}
	next := 0 // the next read to emit
	emitReads := func(done int) {
		for next < len(tr.readAt) && tr.readAt[next] == done {
			tr.emitRead(&b, cur, tr.readErr[next])
			next++
		}
	}
	emitReads(0)
	for i, t := range tr.transfers {
		b.transfer(1+i%3, t, tr.told[i])
		ps := tr.partsOf(t)
		for j, p := range ps {
			if tr.states[i][j] != committed {
				continue
			}
			if holderOf(t.From, tr.parts) == p {
				cur[t.From] -= t.Amount
			}
			if holderOf(t.To, tr.parts) == p {
				cur[t.To] += t.Amount
			}
		}
		emitReads(i + 1)
	}
	if !tr.hasFinal {
		return &b
	}
	byName := map[string]*Participant{}
	var names []string
	for p := 0; p < tr.parts; p++ {
		n := fmt.Sprintf("p%d", p+1)
		names = append(names, n)
		byName[n] = &Participant{Name: n, Balances: map[int]int64{}}
	}
	for a := 0; a < tr.accounts; a++ {
		v := cur[a]
		if a == 0 {
			v += tr.balErr
		}
		byName[holderOf(a, tr.parts)].Balances[a] = v
	}
	for i, t := range tr.transfers {
		for j, p := range tr.partsOf(t) {
			switch tr.states[i][j] {
			case committed:
				byName[p].Committed = append(byName[p].Committed, t.ID)
			case prepared:
				byName[p].Prepared = append(byName[p].Prepared, t.ID)
			}
		}
	}
	// The order of participants in the final state means nothing.
	r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	var ps []Participant
	for _, n := range names {
		ps = append(ps, *byName[n])
	}
	b.final(ps...)
	return &b
}

// emitRead records a read of the current balances, off by e.
func (tr *truth) emitRead(b *builder, cur map[int]int64, e int64) {
	m := map[int]int64{}
	for a, v := range cur {
		m[a] = v
	}
	m[0] += e
	b.read(9, m, history.OK)
}

// oracle judges the execution from the truth, by replaying it: it never
// looks at the records the checker reads.
func (tr *truth) oracle() (checkers.Validity, map[string]bool) {
	kinds := map[string]bool{}
	total := int64(tr.accounts) * 100
	sum := total
	whole := 0
	sumAfter := []int64{sum} // the sum after the first i transfers
	for i, t := range tr.transfers {
		st := tr.states[i]
		all := func(s status) bool {
			for _, x := range st {
				if x != s {
					return false
				}
			}
			return true
		}
		anyPrepared := false
		for _, x := range st {
			anyPrepared = anyPrepared || x == prepared
		}
		ps := tr.partsOf(t)
		for j, p := range ps {
			if st[j] == committed {
				if holderOf(t.From, tr.parts) == p {
					sum -= t.Amount
				}
				if holderOf(t.To, tr.parts) == p {
					sum += t.Amount
				}
			}
		}
		sumAfter = append(sumAfter, sum)
		switch {
		case anyPrepared:
			kinds[KindInDoubt] = true
		case all(committed):
			whole++
			if tr.told[i] == history.Fail {
				kinds[KindFailedCommit] = true
			}
		case all(absent):
			if tr.told[i] == history.OK {
				kinds[KindLost] = true
			}
		default:
			kinds[KindSplit] = true
		}
	}
	// A read sees the sum after the transfers before it, plus its error.
	for k, at := range tr.readAt {
		if sumAfter[at]+tr.readErr[k] != total {
			kinds[KindWrongTotal] = true
		}
	}
	if !tr.hasFinal {
		if len(kinds) > 0 && kinds[KindWrongTotal] {
			return checkers.Invalid, map[string]bool{KindWrongTotal: true}
		}
		return checkers.Unknown, nil
	}
	if tr.balErr != 0 {
		kinds[KindMismatch] = true
	}
	if sum+tr.balErr != total {
		kinds[KindWrongTotal] = true
	}
	if len(kinds) > 0 {
		return checkers.Invalid, kinds
	}
	if whole == 0 {
		return checkers.Unknown, nil
	}
	return checkers.Valid, kinds
}

func TestAgainstOracle(t *testing.T) {
	const n = 3000
	r := rand.New(rand.NewPCG(7, 7))
	verdicts := map[checkers.Validity]int{}
	for i := 0; i < n; i++ {
		tr := randomTruth(r)
		b := tr.history(r)
		want, kinds := tr.oracle()
		got := New(tr.accounts, 100).Check(context.Background(), b.file())
		verdicts[got.Valid]++
		if got.Valid != want {
			t.Fatalf("history %d: checker %s, oracle %s (%v): %s %s\n%+v", i, got.Valid, want, kinds, got.Summary, got.Error, tr)
		}
		var gotKinds []string
		for k := range got.AnomalyCounts {
			if k != KindIncompleteRead && !kinds[k] {
				t.Fatalf("history %d: checker found %s, oracle did not (%v): %s", i, k, kinds, got.Summary)
			}
			gotKinds = append(gotKinds, k)
		}
		for k := range kinds {
			if got.AnomalyCounts[k] == 0 {
				sort.Strings(gotKinds)
				t.Fatalf("history %d: oracle expects %s, checker found %v: %s", i, k, gotKinds, got.Summary)
			}
		}
	}
	t.Logf("%d random histories: %d valid, %d invalid, %d unknown, all agreeing with the oracle",
		n, verdicts[checkers.Valid], verdicts[checkers.Invalid], verdicts[checkers.Unknown])
	if verdicts[checkers.Valid] < n/10 || verdicts[checkers.Invalid] < n/10 || verdicts[checkers.Unknown] < n/50 {
		t.Fatalf("the generator does not cover every verdict: %v", verdicts)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add(`{"id":1,"from":0,"to":1,"amount":3}`, `{"0":97,"1":103}`, `{"participants":[{"name":"p1","balances":{"0":97},"committed":[1]},{"name":"p2","balances":{"1":103},"committed":[1]}]}`)
	f.Add(`{"id":1}`, `[]`, `{"participants":[{"name":"p1","balances":{"0":100,"1":100},"prepared":[1]}]}`)
	f.Add(`null`, `{"0":1e99}`, `{"participants":null}`)
	f.Fuzz(func(t *testing.T, tv, rv, fv string) {
		var b builder
		b.add(history.Op{Process: 1, Type: history.Invoke, F: FTransfer, Value: []byte(tv)})
		b.add(history.Op{Process: 1, Type: history.OK, F: FTransfer, Value: []byte(tv)})
		b.add(history.Op{Process: 2, Type: history.Invoke, F: FRead})
		b.add(history.Op{Process: 2, Type: history.OK, F: FRead, Value: []byte(rv)})
		b.add(history.Op{Process: 0, Type: history.Invoke, F: FFinal})
		b.add(history.Op{Process: 0, Type: history.OK, F: FFinal, Value: []byte(fv)})
		r := New(2, 100).Check(context.Background(), b.file())
		if r.Valid == checkers.Valid {
			// Valid needs a decodable transfer committed on all its
			// participants and a final state that accounts for both.
			var fin Final
			if decodeStrict([]byte(fv), &fin) != nil || len(fin.Participants) == 0 {
				t.Fatalf("valid without a final state: %s", r.Summary)
			}
		}
		if r.Valid == checkers.Invalid && len(r.Anomalies) == 0 {
			t.Fatalf("invalid without a witness: %s", r.Summary)
		}
	})
}
