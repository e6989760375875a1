package core

import (
	"sync"
	"testing"
)

// scopedKey keys the test's run-scoped value.
type scopedKey struct{}

type scopedTarget struct {
	fakeTarget
	shared *int
}

type scopedNemesis struct {
	fakeNemesis
	shared *int
}

// TestRunValueIsSharedWithinARunOnly: the target and the nemesis of one run
// get the same run-scoped value; runs prepared at once from one registry
// (matrix cells side by side) each get their own.
func TestRunValueIsSharedWithinARunOnly(t *testing.T) {
	r := fakeRegistry(fakeTarget{}, fakeWorkload{})
	shared := func() *int { return r.RunValue(scopedKey{}, func() any { return new(int) }).(*int) }
	r.AddTarget(TargetInfo{Name: "scoped", Workloads: []string{"noop"},
		New: func(Params) (Target, error) { return scopedTarget{shared: shared()}, nil }})
	r.AddNemesis(NemesisInfo{Name: "scoped", New: func(Params) (Nemesis, error) { return scopedNemesis{shared: shared()}, nil }})

	const runs = 16
	prepared := make([]*Prepared, runs)
	errs := make([]error, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := fakeConfig(t, &fakeRuntime{})
			cfg.Target, cfg.Nemeses = "scoped", []string{"scoped"}
			prepared[i], errs[i] = Prepare(r, cfg)
		}()
	}
	wg.Wait()
	seen := map[*int]int{}
	for i, p := range prepared {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		tv, nv := p.Target.(scopedTarget).shared, p.Nemeses[0].(scopedNemesis).shared
		if tv != nv {
			t.Fatalf("run %d: its target and its nemesis got different run values", i)
		}
		if j, ok := seen[tv]; ok {
			t.Fatalf("runs %d and %d share a run value", j, i)
		}
		seen[tv] = i
	}
	if a, b := shared(), shared(); a == b {
		t.Error("outside Prepare, two calls shared a value; each should get its own")
	}
}
