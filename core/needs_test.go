package core

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// A target's Needs decide where it runs: Prepare refuses a runtime that does
// not provide one, before the target is built or any node starts, and says
// what is missing, why, and which runtimes would run it.
func TestTargetNeedsRefuseARuntimeBeforeAnythingStarts(t *testing.T) {
	built := false
	reg := NewRegistry()
	reg.AddTarget(TargetInfo{Name: "jvmkv", Workloads: []string{"w"},
		Needs: []Need{{Capability: HostSoftware, Why: "each node is a JVM"}},
		New:   func(Params) (Target, error) { built = true; return nil, errors.New("not built in this test") }})
	reg.AddWorkload(WorkloadInfo{Name: "w", New: func(Params) (Workload, error) { return nil, errors.New("not built") }})
	newRT := func(context.Context) (Runtime, error) { return nil, errors.New("never made") }
	reg.AddRuntime(RuntimeInfo{Name: "host", New: newRT, Provides: []Capability{HostSoftware}})
	reg.AddRuntime(RuntimeInfo{Name: "scratch", New: newRT})
	ti, _ := reg.Target("jvmkv")

	if err := reg.CanRun("host", ti); err != nil {
		t.Fatalf("host: %v", err)
	}
	err := reg.CanRun("scratch", ti)
	var le *LacksError
	if !errors.As(err, &le) || !errors.Is(err, ErrRuntimeLacks) {
		t.Fatalf("scratch: %v, want a LacksError", err)
	}
	for _, want := range []string{"--runtime scratch", "jvmkv", "host-software", "each node is a JVM", "--runtime host"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := reg.CanRun("nowhere", ti); err == nil || errors.Is(err, ErrRuntimeLacks) {
		t.Errorf("unknown runtime: %v", err)
	}

	cfg := Config{Target: "jvmkv", Store: t.TempDir(), Runtime: "scratch",
		NewRuntime: func() (Runtime, error) { return nil, errors.New("never made") }}
	if _, err := Prepare(reg, cfg); !errors.Is(err, ErrRuntimeLacks) {
		t.Fatalf("Prepare on scratch: %v", err)
	}
	if built {
		t.Error("the target was built before the runtime was refused")
	}
	// Without a name the runtime is not checked (a runtime made by hand).
	cfg.Runtime = ""
	if _, err := Prepare(reg, cfg); errors.Is(err, ErrRuntimeLacks) {
		t.Fatalf("Prepare without a runtime name: %v", err)
	}
	// A target that needs nothing runs anywhere.
	if err := reg.CanRun("scratch", TargetInfo{Name: "plain"}); err != nil {
		t.Errorf("plain target: %v", err)
	}
}
