package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `chaos run` with the register workload catches the broken reference
// stores (exit 1, a witness in results.json, a visualization in the run
// directory) and passes the correct one (exit 0).
func TestRunRefkv(t *testing.T) {
	for _, c := range []struct {
		mode string
		want int
	}{{"linearizable", exitValid}, {"stale", exitInvalid}, {"lost-write", exitInvalid}} {
		t.Run(c.mode, func(t *testing.T) {
			store := t.TempDir()
			code, out, errs := chaos(t, "run", "refkv", "--refkv-mode", c.mode, "--time-limit", "2s", "--rate", "200",
				"--seed", "3", "--store", store)
			if code != c.want {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, c.want, out, errs)
			}
			latest := filepath.Join(store, "refkv", "latest")
			res, err := os.ReadFile(filepath.Join(latest, "results.json"))
			if err != nil {
				t.Fatal(err)
			}
			viz, _ := filepath.Glob(filepath.Join(latest, "linearizable-*.html"))
			if c.want == exitInvalid {
				if !strings.Contains(string(res), "cannot take effect") || len(viz) == 0 {
					t.Fatalf("no witness or visualization: %d files\n%s", len(viz), res)
				}
			} else if len(viz) != 0 {
				t.Fatalf("visualization written for a valid run: %v", viz)
			}
		})
	}
}

// With --stop-on-anomaly the stale store's run ends at the first violation
// the online check proves, long before its time limit, and is judged,
// healed and torn down as usual; the linearizable store's run goes on.
func TestRunRefkvStopOnAnomaly(t *testing.T) {
	store := t.TempDir()
	code, out, errs := chaos(t, "run", "refkv", "--refkv-mode", "stale", "--time-limit", "5m", "--rate", "200",
		"--seed", "3", "--store", store, "--stop-on-anomaly")
	if code != exitInvalid || !strings.Contains(errs+out, "stopping on anomaly") {
		t.Fatalf("exit %d, want %d and a stop on the anomaly\n%s\n%s", code, exitInvalid, out, errs)
	}
	res, err := os.ReadFile(filepath.Join(store, "refkv", "latest", "results.json"))
	if err != nil || !strings.Contains(string(res), "cannot take effect") {
		t.Fatalf("results %s (%v)", res, err)
	}
}
