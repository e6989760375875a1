package postgres_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
	"github.com/chaostest/chaos/targets/postgres"
)

// TestMatrixRows: every cell of this package's matrix rows prepares on the
// local runtime (targets, workloads, nemeses and parameters all fit), the
// Docker runtime has the same cells, and every PostgreSQL server among
// their nodes names the host files its image needs (without them a FROM
// scratch container has no initdb). With CHAOS_MATRIX_RUN set each cell
// also runs, and its verdicts are logged (for the docs' table).
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
				_, dok := row.Cell(fault, "docker")
				cfg, ok := row.Cell(fault, "local")
				if dok != ok {
					t.Errorf("%s/%s: a cell on docker %v, on local %v: PostgreSQL runs on both", row.Name, fault, dok, ok)
				}
				if row.NotOn != nil && row.NotOn("docker") != "" {
					t.Errorf("%s: not on docker: %s", row.Name, row.NotOn("docker"))
				}
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
				specs, err := p.Target.Nodes(p.Nodes, p.Config.Params)
				if err != nil {
					t.Fatalf("%s/%s: nodes: %v", row.Name, fault, err)
				}
				servers := 0
				for _, s := range specs {
					if s.Kind != postgres.Name {
						continue
					}
					servers++
					bin, _ := postgres.FindBin("")
					if !slices.Contains(s.HostFiles, bin) || !slices.Contains(s.HostFiles, "/bin/sh") {
						t.Errorf("%s/%s: server %s ships %v, not the programs in %s and the shell", row.Name, fault, s.Name, s.HostFiles, bin)
					}
				}
				if servers == 0 {
					t.Errorf("%s/%s: no PostgreSQL server among %d nodes", row.Name, fault, len(specs))
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
