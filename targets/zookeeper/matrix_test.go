package zookeeper_test

import (
	"context"
	"errors"
	"testing"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
	"github.com/chaostest/chaos/targets/zookeeper"
)

// Every cell the ZooKeeper rows run is a configuration Prepare accepts (the
// parameters are known and valid, the faults offered), only the clock and
// failover columns are n/a, and a runtime that does not provide the host's
// software (docker: images built FROM scratch, no JVM) is refused by the
// target's Needs before anything starts.
func TestMatrixCellsPrepare(t *testing.T) {
	needZooKeeper(t)
	reg := builtin.New(zookeeper.Register)
	reg.AddRuntime(core.RuntimeInfo{Name: "scratch", New: func(context.Context) (core.Runtime, error) { return local.New() }})
	for _, row := range zookeeper.MatrixRows() {
		if _, err := reg.MatrixRow(row.Matrix, row.Name); err != nil {
			t.Errorf("not registered: %v", err)
		}
		if row.Doc == "" {
			t.Errorf("%s/%s has no doc", row.Matrix, row.Name)
		}
		for _, fault := range core.MatrixFaults() {
			cfg, ok := row.Cell(fault, "local")
			want := fault != core.FaultClock && fault != core.FaultFailover
			if ok != want {
				t.Errorf("%s/%s %s: applies %t, want %t", row.Matrix, row.Name, fault, ok, want)
			}
			if !ok {
				continue
			}
			scratch := cfg
			scratch.Store, scratch.Runtime = t.TempDir(), "scratch"
			scratch.NewRuntime = func() (core.Runtime, error) { return local.New() }
			if _, err := core.Prepare(reg, scratch); !errors.Is(err, core.ErrRuntimeLacks) {
				t.Errorf("%s/%s %s on a runtime without the host's software: %v, want it refused", row.Matrix, row.Name, fault, err)
			}
			cfg.Runtime = "local"
			cfg.Store = t.TempDir()
			cfg.NewRuntime = func() (core.Runtime, error) { return local.New() }
			if _, err := core.Prepare(reg, cfg); err != nil {
				t.Errorf("%s/%s %s: %v", row.Matrix, row.Name, fault, err)
			}
		}
	}
}
