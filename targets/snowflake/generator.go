// Package snowflake is our own 64-bit ID service and its target: IDs are 41
// bits of milliseconds since a custom epoch, 10 bits of machine id and 12
// bits of sequence. Its modes show what a clock rollback does to such a
// service: naive trusts the wall clock and issues duplicates, guarded waits
// out a small rollback and refuses a larger one (Meituan Leaf's policy),
// monotonic never goes below the last timestamp it used.
package snowflake

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chaostest/chaos/checkers/ids"
)

// Mode is how the generator reacts to a clock that went back.
type Mode string

// The modes.
const (
	Naive     Mode = "naive"
	Guarded   Mode = "guarded"
	Monotonic Mode = "monotonic"
)

// ParseMode checks a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Naive, Guarded, Monotonic:
		return m, nil
	}
	return "", fmt.Errorf("mode %q: want naive, guarded or monotonic", s)
}

// ErrClockBack is returned by a guarded generator that refuses to issue
// while its clock is behind the last timestamp it used.
var ErrClockBack = errors.New("clock moved backwards")

// HighWater persists the timestamp below which every issued ID lies, so a
// restarted node never reuses one. The safe modes reserve ahead: they store a
// mark some time in the future and write again only when they reach it.
type HighWater interface {
	Load() (int64, error)
	Store(millis int64) error
}

// Generator issues IDs. It is safe for concurrent use.
type Generator struct {
	layout  ids.Layout
	mode    Mode
	machine int64
	now     func() time.Time
	sleep   func(time.Duration)
	maxWait time.Duration
	hw      HighWater
	reserve int64

	mu     sync.Mutex
	last   int64 // last timestamp used, ms since epoch
	seq    int64
	stored int64 // high-water mark on disk
}

// GenOption configures a Generator.
type GenOption func(*Generator)

// WithClock sets the time source (the node's clock, a fake in tests).
func WithClock(now func() time.Time) GenOption { return func(g *Generator) { g.now = now } }

// WithSleep sets how the generator waits (a fake in tests).
func WithSleep(sleep func(time.Duration)) GenOption { return func(g *Generator) { g.sleep = sleep } }

// WithMaxWait sets the largest rollback a guarded generator waits out.
func WithMaxWait(d time.Duration) GenOption { return func(g *Generator) { g.maxWait = d } }

// WithHighWater makes the safe modes persist their high-water mark,
// reserving the given span ahead.
func WithHighWater(hw HighWater, reserve time.Duration) GenOption {
	return func(g *Generator) { g.hw, g.reserve = hw, reserve.Milliseconds() }
}

// NewGenerator returns a generator for machine in the given mode. A safe
// mode with a high-water store starts at the stored mark, so IDs issued
// before a crash are never issued again, whatever the clock says.
func NewGenerator(l ids.Layout, mode Mode, machine int64, opts ...GenOption) (*Generator, error) {
	if machine < 0 || machine > l.MaxMachine() {
		return nil, fmt.Errorf("machine id %d out of range [0, %d]", machine, l.MaxMachine())
	}
	g := &Generator{layout: l, mode: mode, machine: machine, now: time.Now, sleep: time.Sleep,
		maxWait: 5 * time.Millisecond, last: -1}
	for _, o := range opts {
		o(g)
	}
	if g.hw != nil && mode != Naive {
		mark, err := g.hw.Load()
		if err != nil {
			return nil, fmt.Errorf("load high-water mark: %w", err)
		}
		// Every ID issued before lies below mark; start just under it so
		// the next ID is at mark or later.
		g.last, g.seq, g.stored = mark-1, l.MaxSequence(), mark
	}
	return g, nil
}

func (g *Generator) millis() int64 { return g.now().Sub(g.layout.Epoch).Milliseconds() }

// Next issues an ID.
func (g *Generator) Next() (uint64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := g.millis()
	if ms < g.last {
		switch g.mode {
		case Guarded:
			back := time.Duration(g.last-ms) * time.Millisecond
			if back > g.maxWait {
				return 0, fmt.Errorf("%w by %s (more than the %s this node waits out); refusing to issue", ErrClockBack, back, g.maxWait)
			}
			g.sleep(back)
			if ms = g.millis(); ms < g.last {
				return 0, fmt.Errorf("%w: still %s behind after waiting; refusing to issue", ErrClockBack, time.Duration(g.last-ms)*time.Millisecond)
			}
		case Monotonic:
			ms = g.last // borrow: keep using the last timestamp
		}
		// Naive goes on with the earlier timestamp.
	}
	switch {
	case ms == g.last:
		g.seq++
		if g.seq > g.layout.MaxSequence() {
			var err error
			if ms, err = g.nextMillis(); err != nil {
				return 0, err
			}
			g.seq = 0
		}
	default:
		g.seq = 0
	}
	if err := g.persist(ms); err != nil {
		return 0, err
	}
	g.last = ms
	return g.layout.Encode(ids.Parts{Millis: ms, Machine: g.machine, Sequence: g.seq})
}

// nextMillis moves past a millisecond whose sequence is used up: a
// monotonic generator borrows the next millisecond at once, the others wait
// for their clock to reach it.
func (g *Generator) nextMillis() (int64, error) {
	if g.mode == Monotonic {
		return g.last + 1, nil
	}
	for i := 0; ; i++ {
		ms := g.millis()
		if ms > g.last {
			return ms, nil
		}
		if g.mode == Guarded && i > 0 && time.Duration(g.last-ms)*time.Millisecond > g.maxWait {
			return 0, fmt.Errorf("%w while waiting for the next millisecond; refusing to issue", ErrClockBack)
		}
		g.sleep(100 * time.Microsecond)
	}
}

// persist moves the stored high-water mark ahead of ms when ms reaches it.
func (g *Generator) persist(ms int64) error {
	if g.hw == nil || g.mode == Naive || ms < g.stored {
		return nil
	}
	mark := ms + max(g.reserve, 1)
	if err := g.hw.Store(mark); err != nil {
		return fmt.Errorf("store high-water mark: %w", err)
	}
	g.stored = mark
	return nil
}
