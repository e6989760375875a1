package matrix

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaostest/chaos/core"
)

// stallingRuntime is the local runtime whose first node start stalls:
// until the run is interrupted (ignoreCtx false), or until release closes
// whatever happens (ignoreCtx true), a start that hangs in a way no
// context reaches.
type stallingRuntime struct {
	core.Runtime
	ignoreCtx bool
	release   <-chan struct{}
	once      *sync.Once
	tornDown  chan<- struct{}
}

func (s stallingRuntime) Teardown(ctx context.Context) error {
	defer func() { s.tornDown <- struct{}{} }()
	return s.Runtime.Teardown(ctx)
}

func (s stallingRuntime) Start(ctx context.Context, node string) error {
	stall := false
	s.once.Do(func() { stall = true })
	if !stall {
		return s.Runtime.Start(ctx, node)
	}
	if s.ignoreCtx {
		<-s.release
		return context.Canceled
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestCellDeadline: a cell past its deadline is interrupted and reported
// as an error cell that names the deadline; one that does not end even
// then is abandoned after the wait, and the matrix goes on to the next
// cell, which runs as usual.
func TestCellDeadline(t *testing.T) {
	for _, ignoreCtx := range []bool{false, true} {
		name := map[bool]string{false: "interrupted", true: "abandoned"}[ignoreCtx]
		t.Run(name, func(t *testing.T) {
			reg := tinyRegistry()
			// A short final phase keeps the deadline short.
			row, err := reg.MatrixRow(core.MatrixIDs, "refkv-ok")
			if err != nil {
				t.Fatal(err)
			}
			cell := row.Cell
			row.Cell = func(fault, runtime string) (core.Config, bool) {
				cfg, ok := cell(fault, runtime)
				cfg.FinalTimeout = 2 * time.Second
				return cfg, ok
			}
			reg.AddMatrixRow(row)
			release := make(chan struct{})
			// Every run's teardown is counted, the abandoned one's too,
			// which ends only once release lets its start return.
			tornDown := make(chan struct{}, 8)
			var runs atomic.Int32
			defer func() {
				close(release)
				for range runs.Load() {
					<-tornDown
				}
			}()
			once := new(sync.Once)
			var o Options
			o = Options{Matrix: core.MatrixIDs, Rows: []string{"refkv-ok"}, Faults: []string{core.FaultNone, core.FaultKill},
				Runtimes: []string{"local"}, CellTime: time.Second, Store: t.TempDir(), Parallel: 1,
				CellAllowance: 2 * time.Second, AbandonWait: 2 * time.Second,
				NewRuntime: func(name string) (func() (core.Runtime, error), error) {
					info, err := reg.Runtime(name)
					if err != nil {
						return nil, err
					}
					return func() (core.Runtime, error) {
						rt, err := info.New(context.Background())
						if err != nil {
							return nil, err
						}
						runs.Add(1)
						return stallingRuntime{Runtime: rt, ignoreCtx: ignoreCtx, release: release, once: once, tornDown: tornDown}, nil
					}, nil
				}}
			res, err := Run(context.Background(), reg, o)
			if err != nil {
				t.Fatal(err)
			}
			stalled, _ := res.Cell("refkv-ok", core.FaultNone, "local")
			want := "exceeded its cell deadline of "
			if ignoreCtx {
				want = "did not end within 2s of being interrupted; abandoned"
			}
			if stalled.Verdict != Error || !strings.Contains(stalled.Witness, want) {
				t.Errorf("stalled cell: %s (%s), want an error with %q", stalled.Verdict, stalled.Witness, want)
			}
			// 1 s time limit + 2 s final timeout + 1 s op timeout + 2 s.
			if d := time.Duration(stalled.ElapsedS * float64(time.Second)); d < 6*time.Second {
				t.Errorf("the stalled cell ended after %s, before its deadline", d)
			}
			if next, _ := res.Cell("refkv-ok", core.FaultKill, "local"); next.Verdict != "valid" {
				t.Errorf("the cell after the stalled one: %s (%s), want valid", next.Verdict, next.Witness)
			}
			if res.Complete() {
				t.Error("a matrix with an error cell is complete")
			}
		})
	}
}
