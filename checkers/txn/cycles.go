package txn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxCyclesPerClass bounds the witnesses searched for per anomaly class;
// whether a class occurs at all is always decided (or reported undecided).
const maxCyclesPerClass = 8

// cycles finds the cycle anomalies of the graph. Existence is decided
// exactly with strongly connected components, Elle's way: a cycle of edge
// kinds K exists exactly when some edge of K has both ends in one component
// of the K-subgraph. Only G-single needs a search beyond that (is there a
// ww/wr path back across an rw edge?); it runs on the budget, and an
// unfinished search leaves the class undecided rather than absent.
func (a *analysis) cycles(ctx context.Context, _ bool) error {
	g := a.g
	budget := a.c.budget
	s := newSearcher(ctx, g, &budget)
	cWW := g.scc(ww)
	cWWWR := g.scc(ww | wr)
	cAll := g.scc(ww | wr | rw)
	cRT := g.scc(ww | wr | rw | rt)

	report := func(class string, cyc []step) {
		a.anomaly(class, a.explainCycle(class, cyc), cycleData(a, cyc), cycleTxns(cyc)...)
	}
	// classOf names a cycle by its edges.
	classOf := func(cyc []step) string {
		var rws, wrs, rts int
		for _, st := range cyc {
			switch st.e.kind {
			case rw:
				rws++
			case wr:
				wrs++
			case rt:
				rts++
			}
		}
		c := G0
		switch {
		case rws >= 2:
			c = G2Item
		case rws == 1:
			c = GSingle
		case wrs > 0:
			c = G1c
		}
		if rts > 0 {
			c += "-realtime"
		}
		return c
	}
	// closeCycle turns the edge from→e.to and a path back into a cycle.
	closeCycle := func(from int32, e edge, mask uint8, comp []int32) ([]step, error) {
		back, err := s.path(e.to, from, mask, comp, comp[from])
		if err != nil || back == nil {
			return nil, err
		}
		return append([]step{{from: from, e: e}}, back...), nil
	}

	n := int32(len(g.adj))
	counts := map[string]int{}
	// Components already explained by a cycle without rw, or with one:
	// a G2-item witness is looked for only where nothing weaker was seen.
	explained := map[int32]bool{}
	for _, spec := range []struct {
		kind  uint8
		mask  uint8
		comp  []int32
		class string
	}{
		{ww, ww, cWW, G0},
		{wr, ww | wr, cWWWR, G1c},
	} {
		for v := int32(0); v < n; v++ {
			if spec.comp[v] < 0 {
				continue
			}
			for _, e := range g.adj[v] {
				if e.kind != spec.kind || spec.comp[e.to] != spec.comp[v] {
					continue
				}
				explained[cAll[v]] = true
				a.found[spec.class] = true
				if counts[spec.class] >= maxCyclesPerClass {
					break
				}
				cyc, err := closeCycle(v, e, spec.mask, spec.comp)
				if err != nil {
					return a.budgetErr(err)
				}
				if cyc != nil {
					counts[spec.class]++
					report(spec.class, cyc)
				}
			}
		}
	}
	// G-single: an rw edge whose head reaches its tail over ww and wr.
gsingle:
	for v := int32(0); v < n; v++ {
		if cAll[v] < 0 {
			continue
		}
		for _, e := range g.adj[v] {
			if e.kind != rw || cAll[e.to] != cAll[v] {
				continue
			}
			if a.found[GSingle] && counts[GSingle] >= maxCyclesPerClass {
				break gsingle // existence is settled; more witnesses only cost
			}
			// Within one ww/wr component the path back surely exists;
			// otherwise it may still run through several of them.
			mask, comp := uint8(ww|wr), cAll
			if cWWWR[v] >= 0 && cWWWR[v] == cWWWR[e.to] {
				comp = cWWWR
			}
			back, err := s.path(e.to, v, mask, comp, comp[v])
			if errors.Is(err, errBudget) {
				a.undecided[GSingle] = true
				budget = a.c.budget / 4 // one more allowance, for the witnesses below
				break gsingle
			}
			if err != nil {
				return err
			}
			if back != nil {
				a.found[GSingle] = true
				explained[cAll[v]] = true
				counts[GSingle]++
				report(GSingle, append([]step{{from: v, e: e}}, back...))
			}
		}
	}
	if a.found[GSingle] {
		delete(a.undecided, GSingle)
	}
	// G2-item: a component with a cycle, none of which is weaker.
	witnessed := map[int32]bool{}
	for v := int32(0); v < n; v++ {
		c := cAll[v]
		if c < 0 || witnessed[c] || explained[c] {
			continue
		}
		for _, e := range g.adj[v] {
			if e.kind != rw || cAll[e.to] != c {
				continue
			}
			witnessed[c] = true
			// A cycle through this edge exists; with G-single ruled out it
			// has two or more rw edges. Undecided, it is at least G2.
			if a.undecided[GSingle] {
				a.found[G2] = true
			} else {
				a.found[G2Item] = true
			}
			if counts[G2Item] >= maxCyclesPerClass {
				break
			}
			cyc, err := closeCycle(v, e, ww|wr|rw, cAll)
			if err != nil {
				return a.budgetErr(err)
			}
			if cyc != nil {
				cl := classOf(cyc)
				counts[cl]++
				a.found[cl] = true
				report(cl, cyc)
			}
			break
		}
	}
	// Real-time cycles: an rt edge inside a component of the full graph.
	rtWitnessed := map[int32]bool{}
	for v := int32(0); v < n; v++ {
		if cRT[v] < 0 {
			continue
		}
		for _, e := range g.adj[v] {
			if e.kind != rt || cRT[e.to] != cRT[v] {
				continue
			}
			if rtWitnessed[cRT[v]] {
				break
			}
			rtWitnessed[cRT[v]] = true
			cyc, err := closeCycle(v, e, ww|wr|rw|rt, cRT)
			if err != nil {
				return a.budgetErr(err)
			}
			if cyc != nil {
				cl := classOf(cyc)
				a.found[cl] = true
				if counts[cl] < maxCyclesPerClass {
					counts[cl]++
					report(cl, cyc)
				}
			}
			break
		}
	}
	a.res.Counts["search_edges_visited"] = a.c.budget - budget
	return nil
}

// budgetErr turns an exhausted budget during witness search into nothing:
// the class's existence was already decided; only its witness is missing.
func (a *analysis) budgetErr(err error) error {
	if errors.Is(err, errBudget) {
		return nil
	}
	return err
}

func cycleTxns(cyc []step) []int32 {
	out := make([]int32, 0, len(cyc))
	for _, s := range cyc {
		out = append(out, s.from)
	}
	return out
}

// cycleStep is one edge of a witness cycle in results.json.
type cycleStep struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Kind        string `json:"kind"`
	Key         string `json:"key,omitempty"`
	Explanation string `json:"explanation"`
}

func cycleData(a *analysis, cyc []step) any {
	out := make([]cycleStep, len(cyc))
	for i, s := range cyc {
		cs := cycleStep{From: a.name(s.from), To: a.name(s.e.to), Kind: kindName(s.e.kind), Explanation: a.explainEdge(s)}
		if s.e.key >= 0 {
			cs.Key = a.keyName(s.e.key)
		}
		out[i] = cs
	}
	return map[string]any{"cycle": out}
}

// explainCycle renders a cycle as one paragraph: the chain, then each edge
// in words.
func (a *analysis) explainCycle(class string, cyc []step) string {
	var chain strings.Builder
	for _, s := range cyc {
		chain.WriteString(a.name(s.from))
		chain.WriteString(" -")
		chain.WriteString(kindName(s.e.kind))
		chain.WriteString("-> ")
	}
	chain.WriteString(a.name(cyc[0].from))
	parts := make([]string, len(cyc))
	for i, s := range cyc {
		parts[i] = a.explainEdge(s)
	}
	return fmt.Sprintf("%s cycle %s: %s; so no order of these transactions explains what they saw",
		class, chain.String(), strings.Join(parts, "; "))
}

// explainEdge says in words why an edge exists.
func (a *analysis) explainEdge(s step) string {
	from, to := a.name(s.from), a.name(s.e.to)
	if s.e.kind == rt {
		ft, tt := a.compOp(s.from).Time, a.invOp(s.e.to).Time
		return fmt.Sprintf("%s completed at %s, before %s began at %s", from, secs(ft), to, secs(tt))
	}
	k := a.keyName(s.e.key)
	verb := "appended"
	if a.c.kind == RWRegister {
		verb = "wrote"
	}
	switch s.e.kind {
	case ww:
		if a.c.kind == RWRegister {
			return fmt.Sprintf("%s wrote %d to %s, and %s overwrote it (it read %d and wrote %s)", from, s.e.val, k, to, s.e.val, k)
		}
		return fmt.Sprintf("%s appended %d to %s, and %s appended the next element", from, s.e.val, k, to)
	case wr:
		if a.c.kind == RWRegister {
			return fmt.Sprintf("%s wrote %d to %s, and %s read it", from, s.e.val, k, to)
		}
		return fmt.Sprintf("%s appended %d to %s, and %s read %s ending with it", from, s.e.val, k, to, k)
	}
	if a.c.kind == RWRegister {
		if prev, ok := a.prevOf[kv{s.e.key, s.e.val}]; ok {
			return fmt.Sprintf("%s read %s = %s, which %s overwrote with %d", from, k, prev, to, s.e.val)
		}
		return fmt.Sprintf("%s read %s before %s %s %d to it", from, k, to, verb, s.e.val)
	}
	return fmt.Sprintf("%s read %s without %d, which %s appended next", from, k, s.e.val, to)
}

func secs(ns int64) string { return fmt.Sprintf("%.3fs", time.Duration(ns).Seconds()) }
