package core

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
)

// TestPrepareChecksTheStoreLayout: a store whose latest is not our link, or
// whose target directory is a file, is refused before anything runs.
func TestPrepareChecksTheStoreLayout(t *testing.T) {
	for name, spoil := range map[string]func(store string) error{
		"latest is a directory": func(s string) error { return os.MkdirAll(filepath.Join(s, "fake", LatestLink), 0o755) },
		"latest is a file": func(s string) error {
			os.MkdirAll(filepath.Join(s, "fake"), 0o755)
			return os.WriteFile(filepath.Join(s, "fake", LatestLink), nil, 0o644)
		},
		"target is a file": func(s string) error { return os.WriteFile(filepath.Join(s, "fake"), nil, 0o644) },
	} {
		rt := &fakeRuntime{}
		cfg := fakeConfig(t, rt)
		if err := spoil(cfg.Store); err != nil {
			t.Fatal(err)
		}
		_, err := Prepare(fakeRegistry(fakeTarget{}, fakeWorkload{}), cfg)
		if err == nil || !strings.Contains(err.Error(), "--store") {
			t.Errorf("%s: Prepare = %v, want an error naming --store", name, err)
		}
		if len(rt.calls) > 0 {
			t.Errorf("%s: nodes were started", name)
		}
	}
}

// spoilingRuntime breaks the store's latest link while the run goes.
type spoilingRuntime struct {
	*fakeRuntime
	spoil func()
}

func (s spoilingRuntime) Setup(ctx context.Context, dir string, specs []NodeSpec) error {
	s.spoil()
	return s.fakeRuntime.Setup(ctx, dir, specs)
}

// TestVerdictSurvivesBookkeeping: when the latest link cannot be updated
// after the check, the verdict is still returned, with a warning.
func TestVerdictSurvivesBookkeeping(t *testing.T) {
	rt := &fakeRuntime{}
	cfg := fakeConfig(t, rt)
	latest := filepath.Join(cfg.Store, "fake", LatestLink)
	cfg.NewRuntime = func() (Runtime, error) {
		return spoilingRuntime{rt, func() { _ = os.MkdirAll(filepath.Join(latest, "x"), 0o755) }}, nil
	}
	p, err := Prepare(fakeRegistry(fakeTarget{}, fakeWorkload{}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Execute(context.Background(), p)
	if err != nil {
		t.Fatalf("Execute = %v: a bookkeeping error lost the verdict", err)
	}
	if out.Results.Valid != checkers.Valid || len(out.Warnings) != 1 || !strings.Contains(out.Warnings[0], "latest") {
		t.Fatalf("verdict %s, warnings %q; want valid and one warning about latest", out.Results.Valid, out.Warnings)
	}
	if _, err := os.Stat(filepath.Join(out.Dir, ResultsFile)); err != nil {
		t.Errorf("results.json not stored: %v", err)
	}
}

// blockingRuntime's nodes never get ready; Start waits for ctx.
type blockingRuntime struct{ *fakeRuntime }

func (b blockingRuntime) Start(ctx context.Context, n string) error {
	<-ctx.Done()
	return errors.New("node " + n + " not ready after 30s")
}

// TestInterruptedStartUpSaysSo: Ctrl-C during start-up gives an error that
// says the run was interrupted.
func TestInterruptedStartUpSaysSo(t *testing.T) {
	rt := &fakeRuntime{}
	cfg := fakeConfig(t, rt)
	cfg.NewRuntime = func() (Runtime, error) { return blockingRuntime{rt}, nil }
	p, err := Prepare(fakeRegistry(fakeTarget{}, fakeWorkload{}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = Execute(ctx, p)
	if err == nil || !strings.Contains(err.Error(), "interrupted") || strings.Contains(err.Error(), "not ready") {
		t.Fatalf("Execute = %v; want it to say it was interrupted", err)
	}
	if !rt.tornDown.Load() {
		t.Error("not torn down")
	}
}

// TestFailedStartLeavesNoEmptyRun: when the runtime cannot be made, the run
// directory just created is removed again.
func TestFailedStartLeavesNoEmptyRun(t *testing.T) {
	rt := &fakeRuntime{}
	cfg := fakeConfig(t, rt)
	cfg.NewRuntime = func() (Runtime, error) { return nil, errors.New("no docker here") }
	p, err := Prepare(fakeRegistry(fakeTarget{}, fakeWorkload{}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Execute(context.Background(), p); err == nil {
		t.Fatal("Execute without a runtime succeeded")
	}
	entries, _ := os.ReadDir(filepath.Join(cfg.Store, "fake"))
	if len(entries) != 0 {
		t.Fatalf("the store keeps %d entries after a run that never started", len(entries))
	}
}
