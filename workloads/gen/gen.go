// Package gen builds the operation streams that workers perform. A generator
// belongs to one worker and is driven by that worker alone, with the worker's
// own seeded random source, so the same seed yields the same operations in
// every run whatever the timing of other workers.
package gen

import (
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/chaostest/chaos/history"
)

// Context is what a generator may look at when asked for the next operation.
type Context struct {
	// Rand is this worker's random source, derived from the run's seed.
	Rand *rand.Rand
	// Worker is the worker's number, from 0; it never changes.
	Worker int
	// Process is the worker's current process id; it changes after an
	// indeterminate operation.
	Process int
	// Node is the node this worker talks to unless an op names another.
	Node  string
	Nodes []string
	// Elapsed is the time since the phase began.
	Elapsed time.Duration
}

// Generator yields invocations: F, Key, Value and optionally Node (an op that
// names a node is sent there). ok is false when the generator is exhausted.
// A generator is used by one goroutine only.
type Generator interface {
	Next(c *Context) (op history.Op, ok bool)
}

// Func adapts a function to a Generator.
type Func func(c *Context) (history.Op, bool)

// Next calls f.
func (f Func) Next(c *Context) (history.Op, bool) { return f(c) }

// Repeat yields op forever.
func Repeat(op history.Op) Generator {
	return Func(func(*Context) (history.Op, bool) { return op, true })
}

// Ops yields the given ops once each, in order.
func Ops(ops ...history.Op) Generator {
	i := 0
	return Func(func(*Context) (history.Op, bool) {
		if i >= len(ops) {
			return history.Op{}, false
		}
		i++
		return ops[i-1], true
	})
}

// Limit stops g after n operations.
func Limit(n int, g Generator) Generator {
	return Func(func(c *Context) (history.Op, bool) {
		if n <= 0 {
			return history.Op{}, false
		}
		n--
		return g.Next(c)
	})
}

// TimeLimit stops g once the phase has run for d.
func TimeLimit(d time.Duration, g Generator) Generator {
	return Func(func(c *Context) (history.Op, bool) {
		if c.Elapsed >= d {
			return history.Op{}, false
		}
		return g.Next(c)
	})
}

// Seq runs each generator until it is exhausted, then the next.
func Seq(gs ...Generator) Generator {
	return Func(func(c *Context) (history.Op, bool) {
		for len(gs) > 0 {
			if op, ok := gs[0].Next(c); ok {
				return op, true
			}
			gs = gs[1:]
		}
		return history.Op{}, false
	})
}

// Weighted pairs a generator with its relative weight in a Mix.
type Weighted struct {
	Weight int
	Gen    Generator
}

// Mix picks one of its generators at random for every operation, in
// proportion to the weights; exhausted generators drop out.
func Mix(ws ...Weighted) Generator {
	ws = append([]Weighted(nil), ws...)
	return Func(func(c *Context) (history.Op, bool) {
		for {
			total := 0
			for _, w := range ws {
				total += w.Weight
			}
			if total <= 0 {
				return history.Op{}, false
			}
			r := c.Rand.IntN(total)
			for i, w := range ws {
				if r < w.Weight {
					if op, ok := w.Gen.Next(c); ok {
						return op, true
					}
					ws = append(ws[:i], ws[i+1:]...)
					break
				}
				r -= w.Weight
			}
		}
	})
}

// NewRand derives an independent random source for one component of a run.
// Every component that needs randomness gets its own stream of the run's
// seed, so adding randomness in one place never shifts another's choices.
func NewRand(seed int64, component string, index int) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(component))
	stream := h.Sum64() ^ (uint64(index) * 0x9e3779b97f4a7c15)
	return rand.New(rand.NewPCG(uint64(seed), stream))
}
