package ids

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/internal/oracletest"
)

// Two servers handing out leased ranges: n1 from 1, n2 from 1001. Every ID
// is unique and each node's grow, but n1's 3 comes after n2's 1001.
func rangesHistory() *builder {
	var b builder
	b.gen(0, "n1", 0.1, 0.2, history.OK, 1)
	b.gen(1, "n2", 0.3, 0.4, history.OK, 1001)
	b.gen(0, "n1", 0.5, 0.6, history.OK, 3)
	b.gen(1, "n2", 0.7, 0.8, history.OK, 1002)
	return &b
}

func TestPlainIDsNeedNoTimestamp(t *testing.T) {
	r := New(Counter()).Check(context.Background(), rangesHistory().file())
	if r.Valid != checkers.Valid {
		t.Fatalf("plain IDs, per-node order: %s %s", r.Valid, r.Summary)
	}
	if r.Counts["global-order-inversions"] != 1 || !strings.Contains(r.Summary, "not globally ordered") {
		t.Fatalf("the inversion across nodes is not reported as such: %v %s", r.Counts, r.Summary)
	}
}

func TestGlobalOrderIsHeldWhenPromised(t *testing.T) {
	r := New(Counter(), WithOrder(OrderGlobal)).Check(context.Background(), rangesHistory().file())
	if r.Valid != checkers.Invalid || r.AnomalyCounts[KindNonMonotone] != 1 {
		t.Fatalf("global order promised, n1's 3 after n2's 1001: %s %v", r.Valid, r.AnomalyCounts)
	}
	a := r.Anomalies[0]
	if !strings.Contains(a.Message, "node n1 issued 3") || !strings.Contains(a.Message, "node n2 had issued the larger 1001") || len(a.Ops) != 3 {
		t.Fatalf("weak witness: %s", a.Message)
	}
}

func TestOrderNoneStillFindsDuplicates(t *testing.T) {
	b := rangesHistory()
	b.gen(2, "n3", 0.9, 1.0, history.OK, 1)
	r := New(Counter(), WithOrder(OrderNone)).Check(context.Background(), b.file())
	if r.Valid != checkers.Invalid || r.AnomalyCounts[KindDuplicate] != 1 || len(r.AnomalyCounts) != 1 {
		t.Fatalf("order none: %s %v", r.Valid, r.AnomalyCounts)
	}
	if !strings.Contains(r.Anomalies[0].Message, "ID 1 was issued 2 times") {
		t.Fatalf("witness: %s", r.Anomalies[0].Message)
	}
}

// orderOracle judges plain IDs by brute force over every pair: duplicates,
// inversions on one node, inversions across nodes; what is an anomaly
// depends on the order promised.
func orderOracle(h *history.File, o Order) (checkers.Validity, map[string]bool, int64) {
	type done struct{ inv, ok history.Op }
	var oks []done
	open := map[int]history.Op{}
	for _, op := range h.Ops {
		if op.Type == history.Invoke {
			open[op.Process] = op
			continue
		}
		inv := open[op.Process]
		delete(open, op.Process)
		if op.Type == history.OK {
			oks = append(oks, done{inv, op})
		}
	}
	kinds := map[string]bool{}
	var across int64
	id := func(d done) string { return string(d.ok.Value) }
	less := func(a, b done) bool { // a's number <= b's
		return len(id(a)) < len(id(b)) || len(id(a)) == len(id(b)) && id(a) <= id(b)
	}
	for i, b := range oks {
		sameNode, anyNode := false, false
		for j, a := range oks {
			if i == j {
				continue
			}
			if id(a) == id(b) {
				kinds[KindDuplicate] = true
			}
			if a.ok.Index < b.inv.Index && less(b, a) {
				anyNode = true
				sameNode = sameNode || a.ok.Node == b.ok.Node
			}
		}
		switch {
		case sameNode && o != OrderNone:
			kinds[KindNonMonotone] = true
		case anyNode && !sameNode && o == OrderGlobal:
			kinds[KindNonMonotone] = true
		case anyNode && !sameNode:
			across++
		}
	}
	switch {
	case len(kinds) > 0:
		return checkers.Invalid, kinds, across
	case len(oks) == 0:
		return checkers.Unknown, kinds, across
	}
	return checkers.Valid, kinds, across
}

// randomRanges is a history of a few nodes that each hand out a range,
// sometimes jumping to a fresh one, sometimes (on a broken service) one
// another node holds or an ID of their own again.
func randomRanges(r *rand.Rand) *history.File {
	var b builder
	nodes := []string{"n1", "n2", "n3"}
	next := map[string]uint64{"n1": 1, "n2": 101, "n3": 201}
	top := uint64(301)
	t := 0.0
	type worker struct {
		p    int
		node string
	}
	ws := make([]worker, 1+r.IntN(4))
	for i := range ws {
		ws[i] = worker{p: i, node: nodes[r.IntN(3)]}
	}
	for s := 0; s < 3+r.IntN(25); s++ {
		w := ws[r.IntN(len(ws))]
		t += 0.01
		var v uint64
		switch k := r.IntN(20); {
		case k == 0:
			v = next[nodes[r.IntN(3)]] // a range another node (or itself) serves
		case k == 1 && next[w.node] > 3:
			v = next[w.node] - 2
		case k < 5:
			next[w.node] = top
			top += 100
			v = next[w.node]
			next[w.node]++
		default:
			v = next[w.node]
			next[w.node]++
		}
		typ := history.OK
		if r.IntN(8) == 0 {
			typ = history.Fail
		}
		b.gen(w.p, w.node, t, t+0.005*float64(r.IntN(3)), typ, v)
		t += 0.01
	}
	return b.file()
}

func TestOrderAgreesWithBruteForceOracle(t *testing.T) {
	orders := []Order{OrderNode, OrderGlobal, OrderNone}
	oracletest.Run(t, 900, oracletest.Min{Valid: 30, Invalid: 30}, func(seed uint64) (string, checkers.Validity, error) {
		h := randomRanges(rand.New(rand.NewPCG(seed, 0x0d3)))
		o := orders[seed%3]
		res := New(Counter(), WithOrder(o)).Check(context.Background(), h)
		want, kinds, across := orderOracle(h, o)
		if got := oracletest.Kinds(res.AnomalyCounts); res.Valid != want || got != oracletest.Set(kinds) {
			return "", want, fmt.Errorf("seed %d order %s: checker %v %v, oracle %v %v", seed, o, res.Valid, got, want, oracletest.Set(kinds))
		}
		if o != OrderGlobal && res.Counts["global-order-inversions"] != across && res.Valid == checkers.Valid {
			return "", want, fmt.Errorf("seed %d order %s: checker counts %d inversions across nodes, oracle %d", seed, o, res.Counts["global-order-inversions"], across)
		}
		return oracletest.Set(kinds), want, nil
	})
}
