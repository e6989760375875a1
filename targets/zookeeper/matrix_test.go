package zookeeper_test

import (
	"strings"
	"testing"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
	"github.com/chaostest/chaos/targets/zookeeper"
)

// Every cell the ZooKeeper rows run is a configuration Prepare accepts (the
// parameters are known and valid, the faults offered), and only the clock
// and failover columns are n/a; on docker the rows say they cannot run.
func TestMatrixCellsPrepare(t *testing.T) {
	needZooKeeper(t)
	reg := builtin.New(zookeeper.Register)
	for _, row := range zookeeper.MatrixRows() {
		if _, err := reg.MatrixRow(row.Matrix, row.Name); err != nil {
			t.Errorf("not registered: %v", err)
		}
		if row.Doc == "" {
			t.Errorf("%s/%s has no doc", row.Matrix, row.Name)
		}
		if row.NotOn == nil || row.NotOn("local") != "" || !strings.Contains(row.NotOn("docker"), "JVM") {
			t.Errorf("%s/%s: the matrix is not told it runs on the local runtime only, and why", row.Matrix, row.Name)
		}
		for _, fault := range core.MatrixFaults() {
			cfg, ok := row.Cell(fault, "local")
			want := fault != core.FaultClock && fault != core.FaultFailover
			if ok != want {
				t.Errorf("%s/%s %s: applies %t, want %t", row.Matrix, row.Name, fault, ok, want)
			}
			if _, dok := row.Cell(fault, "docker"); dok {
				t.Errorf("%s/%s %s: runs on docker, where no JVM is", row.Matrix, row.Name, fault)
			}
			if !ok {
				continue
			}
			cfg.Store = t.TempDir()
			cfg.NewRuntime = func() (core.Runtime, error) { return local.New() }
			if _, err := core.Prepare(reg, cfg); err != nil {
				t.Errorf("%s/%s %s: %v", row.Matrix, row.Name, fault, err)
			}
		}
	}
}
