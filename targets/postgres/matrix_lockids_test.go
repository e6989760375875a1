package postgres_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
	"github.com/chaostest/chaos/targets/postgres"
)

// TestMatrixRows: every cell of this package's matrix rows prepares on the
// local runtime (targets, workloads, nemeses and parameters all fit), and
// the Docker runtime's are n/a. With CHAOS_MATRIX_RUN set each cell also
// runs, and its verdicts are logged (for the docs' table).
func TestMatrixRows(t *testing.T) {
	needPostgres(t)
	reg := builtin.New(postgres.Register)
	names := map[string]bool{}
	for _, m := range []string{core.MatrixLocks, core.MatrixIDs} {
		for _, row := range reg.MatrixRows(m) {
			if !strings.HasPrefix(row.Name, "postgres-") {
				continue
			}
			names[row.Name] = true
			for _, fault := range core.MatrixFaults() {
				if _, ok := row.Cell(fault, "docker"); ok {
					t.Errorf("%s/%s: a docker cell, but PostgreSQL runs under the local runtime only", row.Name, fault)
				}
				cfg, ok := row.Cell(fault, "local")
				if !ok {
					continue
				}
				cfg.Store = t.TempDir()
				cfg.NewRuntime = func() (core.Runtime, error) { return local.New() }
				p, err := core.Prepare(reg, cfg)
				if err != nil {
					t.Errorf("%s/%s: %v", row.Name, fault, err)
					continue
				}
				if os.Getenv("CHAOS_MATRIX_RUN") == "" {
					continue
				}
				out, err := core.Execute(context.Background(), p)
				if err != nil {
					t.Errorf("%s/%s: %v", row.Name, fault, err)
					continue
				}
				for _, n := range out.Results.Names() {
					r := out.Results.Checkers[n]
					t.Logf("%s | %s | %s %s | %s", row.Name, fault, n, r.Valid, r.Summary)
				}
			}
		}
	}
	for _, want := range []string{"postgres-row-lock", "postgres-row-lock-fenced", "postgres-row-lock-no-expiry", "postgres-autoinc", "postgres-segment"} {
		if !names[want] {
			t.Errorf("no matrix row %s", want)
		}
	}
}
