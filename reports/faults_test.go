package reports

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// unappliedClockFixture is a run in which every clock fault failed (the
// nodes' clocks cannot move) and one is of unknown outcome.
func unappliedClockFixture() *fixture {
	h := header("mine", "ids", 1, "n1", "n2", "n3")
	h.Nemeses = []string{"clock"}
	b := newBuilder()
	for tick := 0; tick < 100; tick++ {
		s := float64(tick) * 0.05
		b.invoke(s, tick%3, "generate", "", nil, h.Nodes[tick%3])
		b.complete(s+0.001, tick%3, history.OK, history.Int(int64(tick+1)), "")
	}
	for i, node := range []string{"n1", "n2", "n3"} {
		s := 1 + float64(i)
		b.add(history.Op{Process: history.NemesisProcess, Type: history.Invoke, F: "clock-rollback", Node: node,
			Value: clockValue(-2*time.Second, -2*time.Second), Time: at(s)})
		typ, msg := history.Fail, "local runtime: node's clock cannot be moved: not supported by this runtime"
		if node == "n3" {
			typ, msg = history.Info, "control port did not answer"
		}
		b.add(history.Op{Process: history.NemesisProcess, Type: typ, F: "clock-rollback", Node: node,
			Value: clockValue(-2*time.Second, -2*time.Second), Error: msg, Time: at(s + 0.01)})
	}
	ops := b.finish()
	rs := checkers.Results{Valid: checkers.Unknown, Checkers: map[string]checkers.Result{
		"ids/unique": {Valid: checkers.Valid, Summary: "100 IDs, all distinct"}},
		Warnings: []string{core.UnappliedWarning(core.FaultTally{Kind: "clock", Planned: 3, Failed: 2, Unknown: 1})}}
	return &fixture{hdr: h, cfg: storedConfig(h, 3), ops: ops, results: &rs,
		faults: []core.FaultTally{{Kind: "clock", Planned: 3, Failed: 2, Unknown: 1}}}
}

// TestFaultsThatNeverHappenedAreNotDrawnAsApplied: a failed clock fault
// moves no clock line, one of unknown outcome is drawn as "maybe" only, the
// tally says planned/applied/failed, and the page says no clock fault was
// applied.
func TestFaultsThatNeverHappenedAreNotDrawnAsApplied(t *testing.T) {
	_, page, _ := writeReport(t, unappliedClockFixture())
	text := visibleText(t, page)
	for _, want := range []string{"No clock fault was applied", "NO CLOCK FAULT WAS APPLIED", "fault kind"} {
		if !strings.Contains(text, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if !strings.Contains(page, `<tr data-kind="clock" class="never"><td>clock</td><td>3</td><td>0</td><td>2</td><td>1</td>`) {
		t.Errorf("fault tally row missing or wrong")
	}
	i := strings.Index(page, `id="chart-clocks"`)
	if i < 0 {
		t.Fatal("no clock chart for a run with an unknown clock fault")
	}
	clock := page[i:]
	if j := strings.Index(clock, "</svg>"); j > 0 {
		clock = clock[:j]
	}
	if strings.Count(clock, `class="clock maybe"`) != 1 {
		t.Errorf("the unknown fault is not drawn once as maybe")
	}
	// Every node's step line stays at 0: no point leaves the zero level.
	for _, l := range strings.Split(clock, "<polyline")[1:] {
		pts := l[strings.Index(l, `points="`)+8:]
		pts = pts[:strings.Index(pts, `"`)]
		ys := map[string]bool{}
		for _, pt := range strings.Fields(pts) {
			ys[pt[strings.Index(pt, ",")+1:]] = true
		}
		if len(ys) != 1 {
			t.Errorf("a clock line moves although no clock fault was applied: %s", pts)
		}
	}
	for _, c := range []string{"Faults per node"} {
		if !strings.Contains(page, c) {
			t.Errorf("no %s", c)
		}
	}
	if strings.Contains(page, `class="clock" `) || strings.Contains(page, `class="clock"/>`) {
		t.Errorf("a clock period is drawn as applied")
	}
}

// laneFixture: an isolate of n3, a halves cut, a cut of every client from
// n1, a client pause of c1 and a strobe on n2.
func laneFixture() *fixture {
	h := header("mine", "lock", 2, "n1", "n2", "n3", "n4")
	h.Nemeses = []string{"partition", "clock", "client-pause"}
	b := newBuilder()
	for tick := 0; tick < 200; tick++ {
		s := float64(tick) * 0.05
		b.invoke(s, tick%2, "acquire", "L", nil, "n1")
		b.complete(s+0.001, tick%2, history.OK, nil, "")
	}
	cut := func(topology string, links ...[2]string) []byte {
		v := map[string]any{"topology": topology}
		var ls []map[string]string
		for _, l := range links {
			ls = append(ls, map[string]string{"from": l[0], "to": l[1]})
		}
		v["cut"] = ls
		return history.JSON(v)
	}
	heal := history.JSON(map[string]string{"topology": "heal"})
	b.fault(1, 1.01, "partition", "", cut("isolate", [2]string{"n3", "n1"}, [2]string{"n1", "n3"}))
	b.fault(2, 2.01, "heal", "", heal)
	b.fault(3, 3.01, "partition", "", cut("halves", [2]string{"n1", "n3"}, [2]string{"n3", "n1"}, [2]string{"n2", "n4"}, [2]string{"n4", "n2"}))
	b.fault(4, 4.01, "heal", "", heal)
	b.fault(5, 5.01, "partition", "", cut("clients", [2]string{"c*", "n1"}))
	b.fault(6, 6.01, "heal", "", heal)
	b.fault(7, 7.01, "client-pause", "", history.JSON(map[string]string{"client": "c1", "duration": "1s"}))
	b.fault(8, 8.5, "clock-strobe", "n2", history.JSON(map[string]any{"delta": "500ms", "period": "20ms", "duration": "500ms", "offset": "0s", "max_offset_ns": 500000000}))
	ops := b.finish()
	rs := checkers.Results{Valid: checkers.Valid, Checkers: map[string]checkers.Result{"lock": {Valid: checkers.Valid, Summary: "no overlap"}}}
	return &fixture{hdr: h, cfg: storedConfig(h, 2), ops: ops, results: &rs}
}

// TestFaultMarksSitOnTheLanesTheyHit: a partition is drawn on the lanes of
// the nodes it cut (never on a shared network lane), a client pause on the
// client's lane, a strobe in its node's colour.
func TestFaultMarksSitOnTheLanesTheyHit(t *testing.T) {
	_, page, _ := writeReport(t, laneFixture())
	faults := page[strings.Index(page, `id="chart-faults"`):]
	faults = faults[:strings.Index(faults, "</svg>")]
	marks := map[string]int{}
	for _, m := range regexpAll(`data-lane="([^"]+)" data-kind="([^"]+)"`, faults) {
		marks[m[1]+"/"+m[2]]++
	}
	want := map[string]int{"n1/partition": 3, "n3/partition": 2, "n2/partition": 1, "n4/partition": 1, "clients/partition": 1,
		"c1/paused": 1, "n2/strobe": 1}
	for k, n := range want {
		if marks[k] != n {
			t.Errorf("%s: %d marks, want %d (all: %v)", k, marks[k], n, marks)
		}
	}
	if marks["network/partition"] != 0 {
		t.Errorf("a partition is on a shared network lane: %v", marks)
	}
	clocks := page[strings.Index(page, `id="chart-clocks"`):]
	if !strings.Contains(clocks, `class="strobe node1" data-lane="n2" data-kind="strobe"`) {
		t.Errorf("the strobe on n2 is not in n2's colour (node1)")
	}
	if !strings.Contains(faults, "n3 cannot reach n1") {
		t.Errorf("a partition mark does not say who could not reach whom")
	}
}

func regexpAll(expr, s string) [][]string {
	return regexp.MustCompile(expr).FindAllStringSubmatch(s, -1)
}

// TestHeadlineScenarioAndIndex: the report opens with the first anomaly in
// one sentence and says which scenario role the run played and whether it
// matched; chaos serve's index shows the duration, the op count, the
// scenario and the match.
func TestHeadlineScenarioAndIndex(t *testing.T) {
	store := t.TempDir()
	f := snowflakeFixture()
	f.cfg.Scenario = &core.ScenarioRun{Name: "snowflake-clock-rollback", Control: false, Expect: "invalid"}
	dir := f.write(t, filepath.Join(store, "snowflake", "20261123T110000.000Z"))
	sr, err := core.ReadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	sr.Run = &core.RunTotals{ElapsedS: 10.2, Ops: 400}
	if err := core.WriteStoredResults(dir, sr); err != nil {
		t.Fatal(err)
	}
	p, err := Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p.HTML)
	text := visibleText(t, string(b))
	for _, want := range []string{"First anomaly: duplicate-id at ", "on node n2, after node n2's clock was rolled back 2s",
		"snowflake-clock-rollback , the anomaly run (expects invalid): matched."} {
		if !strings.Contains(text, want) {
			i := strings.Index(text, "Scenario")
			t.Errorf("report lacks %q: %q", want, text[max(i, 0):min(max(i, 0)+120, len(text))])
		}
	}
	runs, err := ListRuns(store)
	if err != nil || len(runs) != 1 {
		t.Fatalf("ListRuns = %v, %v", runs, err)
	}
	v := indexPage(store, runs)
	r := v.Runs[0]
	if r.Duration != "10.2s" || r.Ops != "400" || r.Scenario != "snowflake-clock-rollback (anomaly)" || r.Matched != "yes" {
		t.Errorf("index row %+v", r)
	}
}
