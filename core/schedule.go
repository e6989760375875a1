package core

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/gen"
)

// Clock is the harness's time source: the runner reads it for every record
// and sleeps on it between operations and faults.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx ends, whichever is first.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the host's clock.
type RealClock struct{}

// Now returns time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits for d or ctx.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// PlannedFault is one entry of a fault schedule.
type PlannedFault struct {
	// At is the earliest time since the run's start to apply the fault.
	At      time.Duration
	Nemesis Nemesis
	Op      history.Op
}

// Schedule plans faults lazily but deterministically: the gaps and the choice
// of nemesis come from the seed alone, and each nemesis plans from the same
// stream, never from outcomes.
type Schedule struct {
	rng      *rand.Rand
	nemeses  []Nemesis
	nodes    []string
	interval time.Duration
	at       time.Duration
}

// NewSchedule plans faults among nemeses roughly every interval (uniformly
// between half and one and a half times it).
func NewSchedule(seed int64, nemeses []Nemesis, nodes []string, interval time.Duration) *Schedule {
	return &Schedule{rng: gen.NewRand(seed, "nemesis", 0), nemeses: nemeses, nodes: nodes, interval: interval}
}

// Next plans the next fault; ok is false when there are no nemeses.
func (s *Schedule) Next() (PlannedFault, bool) { return s.NextBefore(1<<63 - 1) }

// NextBefore plans the next fault if it falls before limit. A fault past the
// limit is not planned at all: nemeses keep state in their plans, and a plan
// that is never applied must not be made.
func (s *Schedule) NextBefore(limit time.Duration) (PlannedFault, bool) {
	if len(s.nemeses) == 0 || s.interval <= 0 {
		return PlannedFault{}, false
	}
	s.at += time.Duration(float64(s.interval) * (0.5 + s.rng.Float64()))
	if s.at >= limit {
		return PlannedFault{}, false
	}
	n := s.nemeses[s.rng.IntN(len(s.nemeses))]
	op := n.Next(s.rng, s.nodes)
	op.Process = history.NemesisProcess
	op.Type = history.Invoke
	return PlannedFault{At: s.at, Nemesis: n, Op: op}, true
}

// staggerDelay draws the pause before a worker's next operation so that all
// workers together average rate operations per second.
func staggerDelay(rng *rand.Rand, concurrency int, rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	mean := float64(concurrency) / rate * float64(time.Second)
	d := rng.Float64() * 2 * mean
	if d >= math.MaxInt64 || d != d {
		// Config.Validate refuses such rates; never let a conversion
		// overflow into a negative pause, which would mean no limit.
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(d)
}
