package lock_test

import (
	"context"
	"testing"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/lock"
)

// boardTarget is a lock target whose clients stop at the run's pause board.
type boardTarget struct{ board *lock.Pauses }

func (boardTarget) Nodes(names []string, _ core.Params) ([]core.NodeSpec, error) { return nil, nil }

func (b boardTarget) NewClient(_ context.Context, workload string, cfg core.ClientConfig) (core.Client, error) {
	held, fence := false, int64(0)
	return lock.NewClient(fakeLocker{&held, &fence}, workload, cfg.Endpoint, lock.WithPauses(b.board)), nil
}

// TestPauseBoardIsPerRun: two runs prepared from one registry (matrix cells
// side by side) have their own pause boards. A pause armed by one run's
// fault for its client c0 stops that run's c0 and never the other run's c0,
// so neither records a pause that happened elsewhere.
func TestPauseBoardIsPerRun(t *testing.T) {
	r := core.NewRegistry()
	lock.Register(r)
	r.AddTarget(core.TargetInfo{Name: "board", Workloads: []string{"lock"},
		New: func(core.Params) (core.Target, error) { return boardTarget{lock.PausesOf(r)}, nil }})
	prepare := func() *core.Prepared {
		cfg := core.DefaultConfig()
		cfg.Target, cfg.Nemeses, cfg.Store = "board", []string{"client-pause"}, t.TempDir()
		cfg.NewRuntime = func() (core.Runtime, error) { return nil, nil }
		p, err := core.Prepare(r, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := prepare(), prepare()
	boardA := a.Nemeses[0].(*lock.PauseNemesis).Board()
	if boardA != a.Target.(boardTarget).board {
		t.Fatal("a run's fault and its target's clients have different pause boards")
	}
	if boardA == b.Target.(boardTarget).board {
		t.Fatal("two runs share a pause board")
	}

	ctx := context.Background()
	cfg := core.ClientConfig{Process: 0, Endpoint: "c0", Node: "n1"}
	ca, _ := a.Target.NewClient(ctx, "lock", cfg)
	cb, _ := b.Target.NewClient(ctx, "lock", cfg)
	started, cancel := boardA.Arm("c0", time.Hour)
	defer cancel()
	acquire := history.Op{F: "acquire", Key: "k", Value: history.JSON(lock.AcquireArgs{})}
	if r := cb.Invoke(ctx, acquire); r.Type != history.OK {
		t.Fatalf("the other run's c0 did not acquire: %v", r)
	}
	select {
	case <-started:
		t.Fatal("run a's pause began at the other run's client")
	default:
	}
	actx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); ca.Invoke(actx, acquire) }()
	select {
	case <-started:
	case <-time.After(time.Minute):
		t.Fatal("run a's c0 never met its pause")
	}
	stop()
	<-done
}
