package postgres_test

import (
	"strings"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
)

// TestRegisterIsolationLevels runs rw-register transactions at each level.
// Every write follows a read of its key, so the checker knows each key's
// version order where the database prevents lost updates: serializable
// holds; repeatable read holds snapshot isolation but lets write skew
// (G2-item) through; read committed lets through non-repeatable reads
// (G-single) and lost updates, after which no order of versions is known
// and even read committed is left undecided, never claimed. An info
// transaction whose write was read leaves its version's place unknown too,
// and then serializable (or, at repeatable read, snapshot isolation) is
// undecided rather than claimed.
func TestRegisterIsolationLevels(t *testing.T) {
	needPostgres(t)
	for _, c := range []struct {
		level string
		want  checkers.Validity
		kinds []string
		holds string
	}{
		{"serializable", checkers.Valid, nil, "strict-serializable"},
		{"repeatable-read", checkers.Invalid, []string{"G2-item"}, "snapshot-isolation"},
		{"read-committed", checkers.Invalid, []string{"G-single", "lost-update"}, ""},
	} {
		t.Run(c.level, func(t *testing.T) {
			out := runWorkload(t, "rw-register", 1, core.Params{"postgres-isolation": c.level, "txn-keys": "3"})
			r := out.Results.Checkers["txn"]
			if c.want == checkers.Valid && r.Valid == checkers.Unknown && r.Counts["info"] > 0 && strings.Contains(r.Error, "version order") {
				// A transaction whose COMMIT went unanswered (a loaded
				// machine's timeout) but whose write was read: its own
				// read is lost, so its version's place is not known, and
				// the checker rightly does not claim the model.
				t.Logf("unknown, as it must be with %d info transactions: %s", r.Counts["info"], r.Error)
				return
			}
			if r.Valid != c.want {
				t.Fatalf("verdict %s, want %s: %s %s", r.Valid, c.want, r.Summary, r.Error)
			}
			if r.Counts["ok"] < 100 {
				t.Fatalf("too few committed transactions to mean anything: %v", r.Counts)
			}
			found := len(c.kinds) == 0
			for _, k := range c.kinds {
				found = found || r.AnomalyCounts[k] > 0
			}
			if !found {
				t.Fatalf("want one of %v, got %v: %s", c.kinds, r.AnomalyCounts, r.Summary)
			}
			d := r.Details.(map[string]any)
			if got, _ := d["strongest_satisfied"].(string); got != c.holds && !(got == "" && r.Counts["info"] > 0 && d["undecided"] != nil) {
				t.Fatalf("strongest model satisfied %q, want %q: %s", got, c.holds, r.Summary)
			}
			for _, a := range r.Anomalies {
				if a.Message == "" || len(a.Ops) == 0 {
					t.Fatalf("anomaly without a witness: %+v", a)
				}
				if a.Kind == "G2-item" && !strings.Contains(a.Message, "overwrote") {
					t.Fatalf("G2-item witness does not explain its rw edges: %s", a.Message)
				}
			}
			t.Log(r.Summary)
		})
	}
}
