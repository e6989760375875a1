package reports

import (
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
