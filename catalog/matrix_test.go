package catalog

import (
	"testing"

	"github.com/chaostest/chaos/core"
)

// Every cell a row says applies must be a run the registry accepts, and
// every row must name a real matrix and explain itself.
func TestMatrixCellsPrepare(t *testing.T) {
	reg := New()
	for _, m := range []string{core.MatrixLocks, core.MatrixIDs} {
		rows := reg.MatrixRows(m)
		if len(rows) == 0 {
			t.Fatalf("matrix %s has no rows", m)
		}
		for _, row := range rows {
			if row.Doc == "" || row.Cell == nil {
				t.Errorf("%s/%s: no Doc or no Cell", m, row.Name)
				continue
			}
			applies := 0
			for _, f := range core.MatrixFaults() {
				for _, rt := range []string{"local", "docker"} {
					cfg, ok := row.Cell(f, rt)
					if !ok {
						continue
					}
					applies++
					cfg.Store = t.TempDir()
					cfg.NewRuntime = func() (core.Runtime, error) { return nil, nil }
					if _, err := core.Prepare(reg, cfg); err != nil {
						t.Errorf("%s/%s, %s on %s: %v", m, row.Name, f, rt, err)
					}
				}
			}
			if applies == 0 {
				t.Errorf("%s/%s: no cell applies", m, row.Name)
			}
		}
	}
}
