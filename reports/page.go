package reports

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// page is the view model of report.html. Every string in it is plain text;
// html/template escapes it on the way out.
type page struct {
	Title    string
	RunID    string
	Target   string
	Workload string
	Seed     string
	Start    string
	Rerun    string
	Verdict  verdictView
	Checkers []checkerView
	Problems []string
	Warnings []string
	Settings []kv
	Params   []kv
	Counts   []kv
	// Faults has one row per fault kind: planned, applied, failed, unknown.
	Faults    []faultRow
	Charts    []chart
	NodeLogs  []string
	Visuals   []string
	Anomalies int
	// NodeToggle offers colouring the timeline's operations by node.
	NodeToggle bool
	// Headline is one sentence at the top: the first anomaly, when, on
	// which node, after which fault.
	Headline string
	// Scenario says which named scenario the run played, anomaly or
	// control, and whether the verdict matched what it expects.
	Scenario *scenarioView
}

type scenarioView struct {
	Name, Role, Expect string
	Matched            bool
	Known              bool // a verdict exists to match
}

type kv struct{ K, V string }

type faultRow struct {
	Kind                                    string
	Planned, Applied, Failed, Unknown, Heal int
	// Never marks a kind of which no fault took effect.
	Never bool
}

type verdictView struct {
	Class    string // valid, invalid, unknown
	Word     string
	Sentence string
}

type checkerView struct {
	Name string
	// ErrorIntro introduces Error: why the verdict is unknown, or what
	// else the checker had to say.
	ErrorIntro    string
	Verdict       verdictView
	Summary       string
	Error         string
	Counts        []kv
	AnomalyCounts []kv
	Anomalies     []anomalyView
	Unlisted      int64
}

type anomalyView struct {
	ID        string
	Label     string
	Kind      string
	Message   string
	Processes string
	Nodes     string
	Fault     string
	FaultHref string
	Ops       []opRow
	Data      string
	// Visual is the anomaly's own drawing (porcupine's page of a failing
	// partition), relative to the run directory.
	Visual string
}

type opRow struct {
	Href, Index, Process, Type, F, Key, Value, Error, Time, Node, Class string
}

// anomalyMark places an anomaly on the timeline.
type anomalyMark struct {
	ID, Label, Title string
	T                int64
}

func verdictOf(v checkers.Validity) verdictView {
	switch v {
	case checkers.Valid:
		return verdictView{Class: "valid", Word: "Valid", Sentence: "no anomaly was found"}
	case checkers.Invalid:
		return verdictView{Class: "invalid", Word: "Invalid", Sentence: "anomalies were found"}
	}
	return verdictView{Class: "unknown", Word: "Unknown", Sentence: "the checkers could not decide; this is not a pass"}
}

// buildPage turns a loaded run into the report's view model.
func buildPage(r *Run) *page {
	h := &r.History.Header
	ops := r.History.Ops
	p := &page{
		RunID: clean(h.RunID, 200), Target: clean(h.Target, 200), Workload: clean(h.Workload, 200),
		Seed: strconv.FormatInt(h.Seed, 10), Start: h.Start.UTC().Format(time.RFC3339),
		Rerun: Rerun(h, r.Config), NodeLogs: r.NodeLogs, Visuals: r.Visualizations,
	}
	for _, pr := range r.Problems {
		p.Problems = append(p.Problems, clean(pr, maxCell))
	}
	for _, w := range r.History.Warnings {
		p.Warnings = append(p.Warnings, clean(w, maxCell))
	}
	p.Title = fmt.Sprintf("chaos: %s / %s, seed %s", p.Target, p.Workload, p.Seed)
	p.Settings = settings(r)
	p.Params = params(h.Params)

	end := max(history.EndTime(ops), int64(time.Millisecond))
	a := axis{end: end}
	pairs, perr := history.Pairs(ops)
	if perr != nil {
		p.Problems = append(p.Problems, "the history breaks the invoke/complete protocol, so the plots are left out: "+clean(perr.Error(), maxCell))
	}
	// The nemesis's pairs are few; the client's are nearly all of them.
	client := make([]history.Pair, 0, len(pairs))
	var faults []history.Pair
	for i := range pairs {
		if pairs[i].Invoke.IsNemesis() {
			faults = append(faults, pairs[i])
		} else {
			client = append(client, pairs[i])
		}
	}
	p.Counts = counts(client, faults)
	for _, ft := range r.Faults {
		p.Faults = append(p.Faults, faultRow{Kind: clean(ft.Kind, 200), Planned: ft.Planned, Applied: ft.Applied,
			Failed: ft.Failed, Unknown: ft.Unknown, Heal: ft.Heals, Never: ft.Applied == 0})
	}

	// Witness records map to the invocation that opened their operation, which
	// is what the timeline marks are named after.
	invokeOf := map[int64]int64{}
	for i := range pairs {
		invokeOf[pairs[i].Invoke.Index] = pairs[i].Invoke.Index
		if pairs[i].Completed() {
			invokeOf[pairs[i].Complete.Index] = pairs[i].Invoke.Index
		}
	}
	witnesses := map[int64]bool{}
	var marks []anomalyMark

	if r.Results != nil {
		rs := r.Results
		p.Verdict = verdictOf(rs.Valid)
		for _, w := range rs.Warnings {
			p.Warnings = append(p.Warnings, clean(w, maxCell))
		}
		n := 0
		for _, name := range rs.Names() {
			res := rs.Checkers[name]
			cv := checkerView{Name: clean(name, 200), Verdict: verdictOf(res.Valid), Summary: clean(res.Summary, maxCell),
				Error: clean(res.Error, 20000), Counts: sortedCounts(res.Counts), AnomalyCounts: sortedCounts(res.AnomalyCounts)}
			cv.ErrorIntro = "What the checker reported:"
			if res.Valid == checkers.Unknown {
				cv.ErrorIntro = "Why the verdict is unknown:"
			}
			var total int64
			for _, c := range res.AnomalyCounts {
				total += c
			}
			cv.Unlisted = max(total-int64(len(res.Anomalies)), 0)
			for i := range res.Anomalies {
				n++
				av, t := anomaly(&res.Anomalies[i], n, invokeOf, witnesses)
				av.Visual = visualOf(r.fsys, r.Dir, res.Anomalies[i].Data)
				cv.Anomalies = append(cv.Anomalies, av)
				if t >= 0 {
					marks = append(marks, anomalyMark{ID: av.ID, Label: av.Label, T: t, Title: av.Label + ": " + clean(av.Message, maxTitle)})
				}
			}
			p.Checkers = append(p.Checkers, cv)
		}
		p.Anomalies = n
		if len(rs.Checkers) == 0 {
			p.Verdict.Sentence = "no checker ran, so nothing was shown"
		}
	} else {
		p.Verdict = verdictView{Class: "unknown", Word: "Not judged", Sentence: "there are no results for this run; run `chaos check` on it"}
	}
	p.Headline = headline(r, marks)
	p.Scenario = scenarioOf(r)
	periods := faultPeriods(faults, end)
	conc := 0
	if r.Config != nil {
		conc = r.Config.Concurrency
	}
	tl := timelineChart(a, client, conc, witnesses, periods, marks, h.Nodes)
	p.NodeToggle = len(tl.NodeLegend) > 0
	p.Charts = append(p.Charts, tl)
	p.Charts = append(p.Charts, faultChart(a, h.Nodes, periods))
	if cc, ok := clockChart(a, h.Nodes, faults); ok {
		p.Charts = append(p.Charts, cc)
	}
	p.Charts = append(p.Charts, latencyChart(a, client, periods, witnesses), throughputChart(a, client, periods))
	return p
}

// headline is the first anomaly in one sentence, or "" without one.
func headline(r *Run, marks []anomalyMark) string {
	if r.Results == nil {
		return ""
	}
	var first *checkers.Anomaly
	var at int64 = -1
	for _, name := range r.Results.Names() {
		res := r.Results.Checkers[name]
		for i := range res.Anomalies {
			an := &res.Anomalies[i]
			t := int64(-1)
			for j := range an.Ops {
				if t < 0 || an.Ops[j].Time < t {
					t = an.Ops[j].Time
				}
			}
			if t < 0 && an.Fault != nil {
				t = an.Fault.Time
			}
			if first == nil || (t >= 0 && (at < 0 || t < at)) {
				first, at = an, t
			}
		}
	}
	if first == nil {
		return ""
	}
	s := "First anomaly: " + clean(first.Kind, 80)
	if at >= 0 {
		s += " at " + secs(at)
	}
	if len(first.Nodes) > 0 {
		var ns []string
		for _, n := range first.Nodes {
			ns = append(ns, clean(n, 40))
		}
		s += " on node " + strings.Join(ns, ", ")
	}
	if first.Fault != nil {
		s += ", after " + describeFault(first.Fault)
	} else {
		s += ", with no fault before it"
	}
	return s + "."
}

// scenarioOf reads the named scenario the run played from config.json.
func scenarioOf(r *Run) *scenarioView {
	if r.Config == nil || r.Config.Scenario == nil {
		return nil
	}
	sc := r.Config.Scenario
	v := &scenarioView{Name: clean(sc.Name, 200), Role: "the anomaly run", Expect: clean(sc.Expect, 40)}
	if sc.Control {
		v.Role = "the control"
	}
	switch {
	case r.Config.Matched != nil:
		v.Known, v.Matched = true, *r.Config.Matched
	case r.Results != nil:
		v.Known, v.Matched = true, r.Results.Valid.String() == sc.Expect
	}
	return v
}

// anomaly renders one anomaly and returns the time to mark it at (the
// earliest witness record), or -1 when it has none.
func anomaly(an *checkers.Anomaly, n int, invokeOf map[int64]int64, witnesses map[int64]bool) (anomalyView, int64) {
	av := anomalyView{ID: "anomaly-" + strconv.Itoa(n), Label: "A" + strconv.Itoa(n),
		Kind: clean(an.Kind, 200), Message: clean(an.Message, maxCell)}
	var ps []string
	for _, pr := range an.Processes {
		ps = append(ps, processName(pr))
	}
	av.Processes = strings.Join(ps, ", ")
	var ns []string
	for _, nd := range an.Nodes {
		ns = append(ns, clean(nd, 80))
	}
	av.Nodes = strings.Join(ns, ", ")
	t := int64(-1)
	for i := range an.Ops {
		op := &an.Ops[i]
		row := opRow{Index: strconv.FormatInt(op.Index, 10), Process: processName(op.Process), Type: clean(string(op.Type), 20),
			F: clean(op.F, 200), Key: clean(op.Key, maxCell), Value: clean(string(op.Value), maxCell),
			Error: clean(op.Error, maxCell), Time: secs(op.Time), Node: clean(op.Node, 200), Class: clean(string(op.Type), 20)}
		if inv, ok := invokeOf[op.Index]; ok {
			row.Href = "#op-" + strconv.FormatInt(inv, 10)
			witnesses[inv] = true
		}
		if t < 0 || op.Time < t {
			t = op.Time
		}
		av.Ops = append(av.Ops, row)
	}
	if an.Fault != nil {
		av.Fault = describeFault(an.Fault)
		if t < 0 {
			t = an.Fault.Time
		}
	}
	if an.Data != nil {
		if b, err := json.MarshalIndent(an.Data, "", "  "); err == nil && string(b) != "null" {
			av.Data = clean(string(b), 20000)
		}
	}
	return av, t
}

func sortedCounts(m map[string]int64) []kv {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]kv, 0, len(keys))
	for _, k := range keys {
		out = append(out, kv{clean(k, 200), strconv.FormatInt(m[k], 10)})
	}
	return out
}

func settings(r *Run) []kv {
	h := &r.History.Header
	out := []kv{{"run", clean(h.RunID, 200)}, {"target", clean(h.Target, 200)}, {"workload", clean(h.Workload, 200)},
		{"seed", strconv.FormatInt(h.Seed, 10)}, {"started", h.Start.UTC().Format(time.RFC3339Nano)},
		{"runtime", clean(h.Runtime, 200)}, {"nodes", clean(strings.Join(h.Nodes, ", "), 2000)}}
	if len(h.Nemeses) > 0 {
		out = append(out, kv{"nemeses", clean(strings.Join(h.Nemeses, ", "), 2000)})
	} else {
		out = append(out, kv{"nemeses", "none"})
	}
	if sc := r.Config; sc != nil {
		out = append(out, kv{"concurrency", strconv.Itoa(sc.Concurrency)}, kv{"time limit", clean(sc.TimeLimit, 100)},
			kv{"rate", strconv.FormatFloat(sc.Rate, 'g', -1, 64) + " ops/s"}, kv{"nemesis interval", clean(sc.NemesisInterval, 100)},
			kv{"op timeout", clean(sc.OpTimeout, 100)},
			kv{"harness", clean(sc.Versions.String(), 300)})
	}
	return out
}

func params(m map[string]string) []kv {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]kv, 0, len(keys))
	for _, k := range keys {
		out = append(out, kv{clean(k, 200), clean(m[k], maxCell)})
	}
	return out
}

// counts tallies the client's operations and the faults: heals are not
// faults, and a fault counts as applied only when it completed ok.
func counts(client []history.Pair, nemesis []history.Pair) []kv {
	var faults, applied int
	for i := range nemesis {
		if core.IsHeal(nil, nemesis[i].Invoke) {
			continue
		}
		faults++
		if nemesis[i].Outcome() == history.OK {
			applied++
		}
	}
	var ok, fail, info int64
	for i := range client {
		switch client[i].Outcome() {
		case history.OK:
			ok++
		case history.Fail:
			fail++
		default:
			info++
		}
	}
	return []kv{{"operations", strconv.Itoa(len(client))}, {"ok", strconv.FormatInt(ok, 10)},
		{"fail", strconv.FormatInt(fail, 10)}, {"info", strconv.FormatInt(info, 10)}, {"faults", strconv.Itoa(faults)},
		{"faults applied", strconv.Itoa(applied)}}
}

// visualOf finds the drawing a checker named in an anomaly's data (the
// "visualization" field, as the linearizability checker writes it) and
// returns its path relative to the run directory, or "" when there is none
// or it lies outside the run directory. It looks only inside fsys, the run
// directory.
func visualOf(fsys fs.FS, dir string, data any) string {
	m, ok := data.(map[string]any)
	if !ok {
		return ""
	}
	v, _ := m["visualization"].(string)
	if v == "" || dir == "" || fsys == nil {
		return ""
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	candidates := []string{v}
	if !filepath.IsAbs(v) {
		candidates = append(candidates, filepath.Join(absDir, v), filepath.Join(absDir, filepath.Base(v)))
	}
	for _, c := range candidates {
		abs, err := filepath.Abs(c)
		if err != nil {
			continue
		}
		rel, err := filepath.Rel(absDir, abs)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			continue
		}
		rel = filepath.ToSlash(rel)
		if st, err := fs.Stat(fsys, rel); err == nil && st.Mode().IsRegular() {
			return rel
		}
	}
	return ""
}
