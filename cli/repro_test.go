package cli

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/core"
)

func TestSeedRangesThatWrapAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"run", "snowflake", "--seed", "9223372036854775807", "--test-count", "2"},
		{"run", "snowflake", "--seed", "9223372036854775800", "--test-count", "9"},
		{"repro", "refkv-stale-read", "--seed", "9223372036854775807", "--runs", "2"},
	} {
		code, stdout, stderr := chaos(t, append(args, "--store", t.TempDir())...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != exitOther || len(lines) != 1 || !strings.Contains(stderr, "past the largest seed") || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line", args, code, stdout, stderr)
		}
	}
}

// TestReproRunsSayWhetherEachMatched: every run says whether it matched the
// scenario, the closing line counts them, config.json records the scenario
// and the match, and the exit code is 1 (0 for the control) only when every
// run matched.
func TestReproRunsSayWhetherEachMatched(t *testing.T) {
	store := t.TempDir()
	code, stdout, stderr := chaos(t, "repro", "refkv-stale-read", "--seed", "5", "--runs", "2", "--store", store)
	if code != exitInvalid {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"run 1/2 (seed 5): invalid", "run 2/2 (seed 6): invalid", "matches the scenario (expected invalid)",
		"reproduced 2/2 (nonlinearizable), first anomaly after "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	sc, err := core.ReadConfig(store + "/refkv/latest")
	if err != nil || sc.Scenario == nil || *sc.Scenario != (core.ScenarioRun{Name: "refkv-stale-read", Control: false, Expect: "invalid"}) ||
		sc.Matched == nil || !*sc.Matched || sc.Seed != 6 {
		t.Fatalf("config.json: %+v %v", sc, err)
	}

	code, stdout, stderr = chaos(t, "repro", "refkv-stale-read", "--control", "--runs", "2", "--store", store)
	if code != exitValid || !strings.Contains(stdout, "control held 2/2 (valid expected)") {
		t.Fatalf("control: exit %d, want 0\n%s\n%s", code, stdout, stderr)
	}
	sc, _ = core.ReadConfig(store + "/refkv/latest")
	if sc.Scenario == nil || !sc.Scenario.Control || sc.Scenario.Expect != "valid" || sc.Matched == nil || !*sc.Matched {
		t.Fatalf("control config.json: %+v", sc)
	}
}

// A scenario whose anomaly never shows exits 2 and names the runs that
// missed; so does a control that shows one.
func TestReproMissesExitTwo(t *testing.T) {
	reg := builtin.New()
	reg.AddScenario(core.ScenarioInfo{Name: "never", Summary: "a correct store, so nothing shows",
		Config: func(control bool) core.Config {
			cfg := core.DefaultConfig()
			cfg.Target, cfg.Workload, cfg.TimeLimit, cfg.Rate, cfg.Seed = "refkv", "register", time.Second, 100, 1
			mode := "linearizable"
			if control {
				mode = "stale"
			}
			cfg.Params = core.Params{"refkv-mode": mode}
			return cfg
		}})
	store := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"repro", "never", "--runs", "2"}, "reproduced 0/2; missed: run 1 (seed 1, valid), run 2 (seed 2, valid)"},
		{[]string{"repro", "never", "--control", "--seed", "3"}, "control held 0/1 (valid expected); anomalies seen: nonlinearizable; missed: run 1 (seed 3, invalid)"},
	} {
		var out, errb bytes.Buffer
		code := Run(context.Background(), reg, WithArgs(append(c.args, "--store", store)), WithOutput(&out, &errb))
		if code != exitOther || !strings.Contains(out.String(), c.want) || !strings.Contains(out.String(), "does NOT match the scenario") {
			t.Errorf("%v: exit %d, want 2 and %q\n%s\n%s", c.args, code, c.want, out.String(), errb.String())
		}
	}
	sc, _ := core.ReadConfig(store + "/refkv/latest")
	if sc.Matched == nil || *sc.Matched {
		t.Fatalf("config.json of a missed run: matched %v", sc.Matched)
	}
}

func TestTestCountClosingLine(t *testing.T) {
	code, stdout, stderr := chaos(t, "run", "refkv", "--refkv-mode", "stale", "--time-limit", "1s", "--rate", "200",
		"--seed", "3", "--test-count", "2", "--store", t.TempDir())
	want := fmt.Sprintf("2 runs: 2 invalid (seed 3, 4); anomalies: nonlinearizable, first anomaly after ")
	if code != exitInvalid || !strings.Contains(stdout, want) || !strings.Contains(stdout, "chaos: run 2/2 (seed 4): invalid") {
		t.Fatalf("exit %d; want 1 and %q\n%s\n%s", code, want, stdout, stderr)
	}
}
