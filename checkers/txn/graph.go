package txn

import (
	"context"
	"errors"

	"github.com/chaostest/chaos/checkers"
)

// Edge kinds, as bits so that a search can take a set of them.
const (
	ww uint8 = 1 << iota // write-write: the next version
	wr                   // write-read: read what was written
	rw                   // read-write: overwrote what was read
	rt                   // real time: completed before the other began
)

func kindName(k uint8) string {
	switch k {
	case ww:
		return "ww"
	case wr:
		return "wr"
	case rw:
		return "rw"
	}
	return "rt"
}

// edge is a dependency from one transaction to another. w says why, for
// the explanation: the index of the write the edge turns on (ww: the earlier
// append; wr: the value read; rw: the later append), -1 for rt. Twelve
// bytes, since a history of a million transactions has tens of millions.
type edge struct {
	to   int32
	w    int32
	kind uint8
}

// graph is the dependency graph over transactions (indices into the
// analysis's txns; transactions outside the graph have no edges). Edges are
// gathered flat and then laid out once, by a counting sort on their tails,
// so a graph of millions of edges costs two allocations, not millions.
type graph struct {
	n       int
	pending []pendingEdge
	adj     [][]edge
}

type pendingEdge struct {
	from int32
	e    edge
}

func newGraph(n, edges int) *graph { return &graph{n: n, pending: make([]pendingEdge, 0, edges)} }

func (g *graph) add(from, to int32, kind uint8, w int32) {
	if from == to {
		return
	}
	g.pending = append(g.pending, pendingEdge{from, edge{to: to, w: w, kind: kind}})
}

// finish lays the edges out by tail. Edges of one tail keep the order they
// were added in, so searches and witnesses are deterministic.
func (g *graph) finish() {
	counts := make([]int32, g.n+1)
	for _, p := range g.pending {
		counts[p.from+1]++
	}
	for i := 1; i <= g.n; i++ {
		counts[i] += counts[i-1]
	}
	flat := make([]edge, len(g.pending))
	fill := append([]int32(nil), counts[:g.n]...)
	for _, p := range g.pending {
		flat[fill[p.from]] = p.e
		fill[p.from]++
	}
	g.pending = nil
	g.adj = make([][]edge, g.n)
	for i := range g.n {
		g.adj[i] = flat[counts[i]:counts[i+1]:counts[i+1]]
	}
}

func (g *graph) edgeCount() int {
	n := 0
	for _, es := range g.adj {
		n += len(es)
	}
	return n
}

// scc labels each node with its strongly connected component in the
// subgraph of the edge kinds in mask (iterative Tarjan, so a long chain
// cannot overflow the stack). comp[i] is -1 for a node in a component of
// its own with no self loop, which cannot be on a cycle; other components
// are numbered from 0.
func (g *graph) scc(mask uint8) []int32 {
	n := len(g.adj)
	index := make([]int32, n)
	low := make([]int32, n)
	comp := make([]int32, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
		comp[i] = -1
	}
	var stack []int32
	type frame struct {
		v int32
		e int
	}
	var call []frame
	var next, ncomp int32
	for root := range n {
		if index[root] >= 0 || len(g.adj[root]) == 0 {
			continue
		}
		call = append(call[:0], frame{v: int32(root)})
		index[root], low[root] = next, next
		next++
		stack = append(stack, int32(root))
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			v := f.v
			es := g.adj[v]
			descended := false
			for f.e < len(es) {
				e := es[f.e]
				f.e++
				if e.kind&mask == 0 {
					continue
				}
				w := e.to
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{v: w})
					descended = true
					break
				}
				if onStack[w] && index[w] < low[v] {
					low[v] = index[w]
				}
			}
			if descended {
				continue
			}
			if low[v] == index[v] {
				// Pop the component; a singleton stays -1.
				top := len(stack) - 1
				if stack[top] == v {
					stack = stack[:top]
					onStack[v] = false
				} else {
					for {
						w := stack[len(stack)-1]
						stack = stack[:len(stack)-1]
						onStack[w] = false
						comp[w] = ncomp
						if w == v {
							break
						}
					}
					ncomp++
				}
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				u := call[len(call)-1].v
				if low[v] < low[u] {
					low[u] = low[v]
				}
			}
		}
	}
	return comp
}

// errBudget says a search stopped at its budget.
var errBudget = errors.New("search budget exhausted")

// errMemory says a search stopped at the check's memory budget.
var errMemory = errors.New("the cycle search reached the check's memory budget (raise --check-memory)")

// searcher finds shortest paths by breadth-first search, reusing its
// buffers across searches, and charges every edge it looks at to a shared
// budget.
type searcher struct {
	g         *graph
	stamp     []int32
	parent    []int32 // node the search came from
	pedge     []int32 // index of that edge in parent's adjacency
	queue     []int32
	round     int32
	budget    *int64
	memBudget int64
	ctx       context.Context
}

func newSearcher(ctx context.Context, g *graph, budget *int64) *searcher {
	n := len(g.adj)
	return &searcher{g: g, stamp: make([]int32, n), parent: make([]int32, n), pedge: make([]int32, n), budget: budget, ctx: ctx}
}

// step is one edge of a path.
type step struct {
	from int32
	e    edge
}

// path returns the shortest path from src to dst over edges in mask whose
// both ends lie in component c of comp, or nil when there is none.
func (s *searcher) path(src, dst int32, mask uint8, comp []int32, c int32) ([]step, error) {
	s.round++
	if s.round == 0 { // wrapped: clear the stamps
		clear(s.stamp)
		s.round = 1
	}
	s.queue = append(s.queue[:0], src)
	s.stamp[src] = s.round
	for qi := 0; qi < len(s.queue); qi++ {
		v := s.queue[qi]
		es := s.g.adj[v]
		*s.budget -= int64(len(es)) + 1
		if *s.budget < 0 {
			return nil, errBudget
		}
		if qi&1023 == 0 {
			if err := s.ctx.Err(); err != nil {
				return nil, err
			}
			if s.memBudget > 0 && qi&(1<<16-1) == 0 && checkers.HeapBytes() > s.memBudget {
				return nil, errMemory
			}
		}
		for i, e := range es {
			if e.kind&mask == 0 || comp[e.to] != c || s.stamp[e.to] == s.round {
				continue
			}
			s.stamp[e.to] = s.round
			s.parent[e.to] = v
			s.pedge[e.to] = int32(i)
			if e.to == dst {
				var p []step
				for w := dst; w != src; w = s.parent[w] {
					u := s.parent[w]
					p = append(p, step{from: u, e: s.g.adj[u][s.pedge[w]]})
				}
				for i, j := 0, len(p)-1; i < j; i, j = i+1, j-1 {
					p[i], p[j] = p[j], p[i]
				}
				return p, nil
			}
			s.queue = append(s.queue, e.to)
		}
	}
	return nil, nil
}
