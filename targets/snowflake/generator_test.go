package snowflake

import (
	"errors"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers/ids"
)

// fakeClock is a settable clock whose sleep advances it.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time        { return c.t }
func (c *fakeClock) sleep(d time.Duration) { c.t = c.t.Add(d) }
func (c *fakeClock) move(d time.Duration)  { c.t = c.t.Add(d) }
func newFake() *fakeClock                  { return &fakeClock{t: ids.DefaultEpoch.Add(1000 * time.Hour)} }
func (c *fakeClock) opts() []GenOption     { return []GenOption{WithClock(c.now), WithSleep(c.sleep)} }
func layout() ids.Layout                   { return ids.Snowflake(ids.DefaultEpoch) }

type memHW struct{ mark int64 }

func (m *memHW) Load() (int64, error) { return m.mark, nil }
func (m *memHW) Store(ms int64) error { m.mark = ms; return nil }

func issue(t *testing.T, g *Generator, n int) []uint64 {
	t.Helper()
	out := make([]uint64, 0, n)
	for i := 0; i < n; i++ {
		id, err := g.Next()
		if err != nil {
			t.Fatalf("id %d: %v", i, err)
		}
		out = append(out, id)
	}
	return out
}

func TestNaiveDuplicatesAfterRollback(t *testing.T) {
	c := newFake()
	g, _ := NewGenerator(layout(), Naive, 1, c.opts()...)
	before := issue(t, g, 3)
	c.move(-time.Second)
	issue(t, g, 1) // a second behind: naive issues at the earlier time
	c.move(time.Second)
	again := issue(t, g, 1) // the first millisecond again, sequence from 0
	if again[0] != before[0] {
		t.Fatalf("naive mode should reissue %d after the clock came back, got %d", before[0], again[0])
	}
}

func TestGuardedWaitsOutSmallRollbackAndRefusesLarge(t *testing.T) {
	c := newFake()
	g, _ := NewGenerator(layout(), Guarded, 1, c.opts()...)
	first := issue(t, g, 1)[0]
	c.move(-3 * time.Millisecond)
	second := issue(t, g, 1)[0]
	if second <= first {
		t.Fatalf("guarded issued %d after %d", second, first)
	}
	c.move(-time.Second)
	if _, err := g.Next(); !errors.Is(err, ErrClockBack) {
		t.Fatalf("a 1s rollback must be refused, got %v", err)
	}
	c.move(2 * time.Second)
	if id := issue(t, g, 1)[0]; id <= second {
		t.Fatalf("after the clock caught up: %d <= %d", id, second)
	}
}

func TestMonotonicBorrowsAndNeverRepeats(t *testing.T) {
	c := newFake()
	g, _ := NewGenerator(layout(), Monotonic, 1, c.opts()...)
	var all []uint64
	all = append(all, issue(t, g, 5000)...) // more than one millisecond's sequence
	c.move(-2 * time.Second)
	all = append(all, issue(t, g, 5000)...)
	for i := 1; i < len(all); i++ {
		if all[i] <= all[i-1] {
			t.Fatalf("id %d: %d after %d", i, all[i], all[i-1])
		}
	}
}

func TestSafeModesSurviveRestartBehindTheClock(t *testing.T) {
	for _, mode := range []Mode{Guarded, Monotonic} {
		c := newFake()
		hw := &memHW{}
		g, _ := NewGenerator(layout(), mode, 1, append(c.opts(), WithHighWater(hw, 200*time.Millisecond))...)
		before := issue(t, g, 100)
		// Crash, and come back with the clock 2 s behind.
		c.move(-2 * time.Second)
		g2, err := NewGenerator(layout(), mode, 1, append(c.opts(), WithHighWater(hw, 200*time.Millisecond))...)
		if err != nil {
			t.Fatal(err)
		}
		id, err := g2.Next()
		switch {
		case mode == Guarded && !errors.Is(err, ErrClockBack):
			t.Fatalf("guarded restarted behind its mark issued %d (%v)", id, err)
		case mode == Monotonic && (err != nil || id <= before[len(before)-1]):
			t.Fatalf("monotonic restarted behind its mark issued %d after %d (%v)", id, before[len(before)-1], err)
		}
	}
}

func TestNaiveRestartBehindTheClockRepeats(t *testing.T) {
	c := newFake()
	g, _ := NewGenerator(layout(), Naive, 1, append(c.opts(), WithHighWater(&memHW{}, time.Second))...)
	first := issue(t, g, 1)[0]
	g2, _ := NewGenerator(layout(), Naive, 1, append(c.opts(), WithHighWater(&memHW{}, time.Second))...)
	if again := issue(t, g2, 1)[0]; again != first {
		t.Fatalf("naive keeps no mark; want %d again, got %d", first, again)
	}
}

func TestMachineIDRange(t *testing.T) {
	if _, err := NewGenerator(layout(), Naive, 1024); err == nil {
		t.Fatal("machine id 1024 accepted")
	}
}

func TestNodeFlags(t *testing.T) {
	if _, err := parseNodeFlags([]string{"--control", "0.0.0.0:9"}); err == nil {
		t.Fatal("control endpoint off loopback accepted")
	}
	if _, err := parseNodeFlags([]string{"--bogus"}); err == nil {
		t.Fatal("unknown flag accepted")
	}
}
