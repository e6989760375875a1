package docker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/matrix"
	"github.com/chaostest/chaos/runtime/docker"
	"github.com/chaostest/chaos/targets/postgres"
)

// TestPostgresMatrixOnDocker runs PostgreSQL matrix cells in containers,
// the way `chaos matrix --runtime docker` does: the servers' programs go
// into FROM scratch images as host files, a lock holder paused past its
// expiry breaks the unfenced row lock and not the fenced one, three
// independent auto-increment servers and segment allocation (the database
// on a primary and its standby, ID servers beside it) hand out unique IDs
// under kills and the scripted failover. Only this test's own runs count
// when looking for leftovers.
func TestPostgresMatrixOnDocker(t *testing.T) {
	needDocker(t)
	reg := builtin.New(docker.Register, postgres.Register)
	cells := []struct {
		matrix, row, fault string
		want               string
	}{
		{core.MatrixLocks, "postgres-row-lock", core.FaultPause, "invalid"},
		{core.MatrixLocks, "postgres-row-lock-fenced", core.FaultPause, "valid"},
		{core.MatrixIDs, "postgres-autoinc", core.FaultKill, "valid"},
		{core.MatrixIDs, "postgres-segment", core.FaultFailover, "invalid"},
	}
	for _, c := range cells {
		t.Run(c.row+"-"+c.fault, func(t *testing.T) {
			res, err := matrix.Run(context.Background(), reg, matrix.Options{Matrix: c.matrix,
				Rows: []string{c.row}, Faults: []string{c.fault}, Runtimes: []string{"docker"},
				Store: t.TempDir(), Parallel: 1,
				NewRuntime: func(name string) (func() (core.Runtime, error), error) {
					if name != "docker" {
						return nil, fmt.Errorf("runtime %s", name)
					}
					return func() (core.Runtime, error) { return docker.New(context.Background()) }, nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			cell, ok := res.Cell(c.row, c.fault, "docker")
			if !ok {
				t.Fatalf("no cell: %+v", res.Cells)
			}
			if cell.Dir != "" {
				if left := leftoversOf(t, runOf(cell.Dir)); len(left) > 0 {
					t.Errorf("run %s left %v", runOf(cell.Dir), left)
				}
			}
			switch {
			case cell.Verdict == matrix.NA || cell.Verdict == matrix.Error:
				t.Fatalf("%s on docker: %s: %s", c.row, cell.Verdict, cell.Witness)
			case c.want != "" && cell.Verdict != c.want:
				t.Errorf("%s × %s on docker: %s (%s), want %s; run %s", c.row, c.fault, cell.Verdict,
					strings.Join(cell.Kinds, ", "), c.want, cell.Dir)
			}
			if cell.Faults == 0 {
				t.Errorf("no fault was applied: %+v", cell)
			}
			if cell.Ops == 0 {
				t.Errorf("no operation: %+v", cell)
			}
			t.Logf("%s × %s on docker: %s %v in %.1fs, %d ops, %d faults", c.row, c.fault, cell.Verdict, cell.Kinds,
				cell.ElapsedS, cell.Ops, cell.Faults)
		})
	}
}
