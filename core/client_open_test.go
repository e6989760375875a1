package core

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/history"
)

// slowTarget's clients take longer to open than the whole main phase.
type slowTarget struct{ fakeTarget }

func (t slowTarget) NewClient(ctx context.Context, w string, cfg ClientConfig) (Client, error) {
	time.Sleep(400 * time.Millisecond)
	return t.fakeTarget.NewClient(ctx, w, cfg)
}

// Clients are opened before the main phase's clock starts: a client that
// is slow to start does not spend the time the workload and faults have.
func TestClientsOpenBeforeTheMainPhase(t *testing.T) {
	rt := &fakeRuntime{}
	cfg := fakeConfig(t, rt)
	reg := fakeRegistry(fakeTarget{}, fakeWorkload{})
	reg.AddTarget(TargetInfo{Name: "fake", Workloads: []string{"noop"},
		New: func(Params) (Target, error) { return slowTarget{}, nil }})
	p, err := Prepare(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Execute(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if n := out.Stats.Invoked; n <= int64(2*cfg.Concurrency) {
		t.Fatalf("%d ops in a 300ms main phase: the clients' opening ate it", n)
	}
}

// brokenClient answers info and says it cannot go on.
type brokenClient struct{ fakeClient }

func (brokenClient) Invoke(_ context.Context, op history.Op) history.Op {
	op.Type, op.Error = history.Info, "garbage"
	return op
}
func (brokenClient) Broken() error { return errors.New("the client printed garbage") }

type brokenTarget struct{ fakeTarget }

func (brokenTarget) NewClient(context.Context, string, ClientConfig) (Client, error) {
	return brokenClient{}, nil
}

// A client that says it is broken ends the run as a harness failure: no
// verdict is given on what it could not do.
func TestBrokenClientEndsTheRun(t *testing.T) {
	rt := &fakeRuntime{}
	cfg := fakeConfig(t, rt)
	cfg.TimeLimit = time.Minute
	reg := fakeRegistry(fakeTarget{}, fakeWorkload{})
	reg.AddTarget(TargetInfo{Name: "fake", Workloads: []string{"noop"},
		New: func(Params) (Target, error) { return brokenTarget{}, nil }})
	p, err := Prepare(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Execute(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "client of fake: the client printed garbage") {
		t.Fatalf("err = %v, results %+v", err, out)
	}
	if !rt.tornDown.Load() {
		t.Fatal("the run was not torn down")
	}
}
