package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/reports"
)

// TestCheckPrintsNoEscapeSequences: node names and values of a crafted
// history reach the terminal quoted, never as escape sequences.
func TestCheckPrintsNoEscapeSequences(t *testing.T) {
	esc1, esc2 := `n1\u001b]0;pwned\u0007`, `n2\u009b2J\u202e`
	h := `{"header":{"format":"chaos-history/1","target":"snow\u001b[31mflake","workload":"ids","nodes":["` + esc1 + `","` + esc2 + `"],"seed":1,"start":"2026-01-01T00:00:00Z","params":{}}}
{"index":0,"process":0,"type":"invoke","f":"generate","time":1000,"node":"` + esc1 + `"}
{"index":1,"process":0,"type":"ok","f":"generate","value":5,"time":2000,"node":"` + esc1 + `"}
{"index":2,"process":1,"type":"invoke","f":"generate","time":3000,"node":"` + esc2 + `"}
{"index":3,"process":1,"type":"ok","f":"generate","value":5,"time":4000,"node":"` + esc2 + `"}
`
	p := filepath.Join(t.TempDir(), "history.jsonl")
	if err := os.WriteFile(p, []byte(h), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := chaos(t, "check", p)
	if code != exitInvalid {
		t.Fatalf("exit %d, want 1 (a duplicate ID)\n%s\n%s", code, stdout, stderr)
	}
	for _, out := range []string{stdout, stderr} {
		for _, bad := range []string{"\x1b", "\x07", "\u009b", "\u202e"} {
			if strings.Contains(out, bad) {
				t.Fatalf("output holds %q raw:\n%s", bad, out)
			}
		}
	}
	for _, want := range []string{`n1\x1b]0;pwned\x07`, `n2\x9b2J\u202e`, `snow\x1b[31mflake`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks the quoted %s:\n%s", want, stdout)
		}
	}
}

// TestJSONSummaryEscapesWhatJSONLeavesRaw: --output json keeps its meaning
// but carries no C1 control or bidi override raw (encoding/json escapes
// only C0).
func TestJSONSummaryEscapesWhatJSONLeavesRaw(t *testing.T) {
	var out, errb bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errb, out: outputOptions{format: "json"}}
	summary := "a\u009b2Jb\u202ec\x7f"
	o := &core.Outcome{Dir: "d", Results: checkers.Results{Valid: checkers.Valid,
		Checkers: map[string]checkers.Result{"c": {Valid: checkers.Valid, Summary: summary}}}}
	printOutcome(env, &core.Prepared{TargetInfo: core.TargetInfo{Name: "t"}}, o, 1, reports.Paths{})
	for _, bad := range []string{"\u009b", "\u202e", "\x7f"} {
		if strings.Contains(out.String(), bad) {
			t.Fatalf("JSON line holds %q raw: %s", bad, out.String())
		}
	}
	var back runJSON
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || back.Checkers["c"].Summary != summary {
		t.Fatalf("JSON line %s does not decode to the summary: %v", out.String(), err)
	}
}
