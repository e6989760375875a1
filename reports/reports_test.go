package reports

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

func writeReport(t *testing.T, f *fixture) (dir string, page string, junit []byte) {
	t.Helper()
	dir = f.write(t, filepath.Join(t.TempDir(), "run"))
	p, err := Write(dir)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	b, err := os.ReadFile(p.HTML)
	if err != nil {
		t.Fatal(err)
	}
	j, err := os.ReadFile(p.JUnit)
	if err != nil {
		t.Fatal(err)
	}
	return dir, string(b), j
}

// visibleText is the page's text as a reader sees it (entities decoded),
// outside style elements.
func visibleText(t *testing.T, page string) string {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(page))
	var b strings.Builder
	inStyle := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			return b.String()
		case html.StartTagToken:
			name, _ := z.TagName()
			inStyle = string(name) == "style"
		case html.EndTagToken:
			inStyle = false
		case html.TextToken:
			if !inStyle {
				b.Write(z.Text())
				b.WriteByte(' ')
			}
		}
	}
}

// allowedElements is every element the report template emits. Anything
// else in a rendered page came from data and means escaping failed.
var allowedElements = map[string]bool{
	"html": true, "head": true, "meta": true, "link": true, "title": true, "style": true, "body": true, "header": true, "h1": true,
	"h2": true, "h3": true, "h4": true, "p": true, "b": true, "ul": true, "li": true, "a": true, "span": true, "code": true,
	"main": true, "div": true, "table": true, "tr": true, "th": true, "td": true, "section": true, "pre": true,
	"details": true, "summary": true, "svg": true, "line": true, "rect": true, "text": true, "polyline": true,
	// The timeline's colour toggle: two radio buttons and their labels.
	"input": true, "label": true,
}

func attr(tok html.Token, key string) string {
	for _, a := range tok.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// checkStructure fails when the page holds an element or attribute the
// template never writes: a script, an event handler, an image.
func checkStructure(t *testing.T, page string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(page))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		if !allowedElements[tok.Data] {
			t.Fatalf("unexpected element <%s> in the report: a value escaped its context", tok.Data)
		}
		if tok.Data == "input" && !(attr(tok, "type") == "radio" && attr(tok, "name") == "colour-by") {
			t.Fatalf("unexpected input %v in the report", tok.Attr)
		}
		for _, a := range tok.Attr {
			if strings.HasPrefix(strings.ToLower(a.Key), "on") {
				t.Fatalf("event handler attribute %s=%q on <%s>", a.Key, a.Val, tok.Data)
			}
			if a.Key == "href" && !(strings.HasPrefix(a.Val, "#") || !strings.Contains(a.Val, ":") || tok.Data == "link" && a.Val == "data:,") {
				t.Fatalf("href %q on <%s> leaves the run directory", a.Val, tok.Data)
			}
		}
	}
}

func TestSnowflakeReportShowsVerdictWitnessAndRerun(t *testing.T) {
	f := snowflakeFixture()
	_, page, junit := writeReport(t, f)
	checkStructure(t, page)
	text := visibleText(t, page)
	for _, want := range []string{
		"Invalid: anomalies were found",
		"ids/unique", "ids/monotonic",
		"both received ID 777777777777",
		"Last fault before it: node n2's clock was rolled back 2s (now -2s from host time) at 2.752 s",
		"chaos run snowflake --mode naive --nemesis clock --time-limit 10s --seed 7",
		"Clock offset per node",
		"nodes/n2.log",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report text lacks %q", want)
		}
	}
	// Each witness links to a mark on the timeline that exists.
	an := f.results.Checkers["ids/unique"].Anomalies[0]
	for _, op := range an.Ops {
		inv := invocationOf(t, f.ops, op)
		id := `id="op-` + itoa(inv) + `"`
		if !strings.Contains(page, id) {
			t.Errorf("timeline has no mark %s for witness record #%d", id, op.Index)
		}
		if !strings.Contains(page, `href="#op-`+itoa(inv)+`"`) {
			t.Errorf("witness record #%d is not linked to the timeline", op.Index)
		}
	}
	if !strings.Contains(page, `href="#anomaly-1"`) || !strings.Contains(page, `id="anomaly-1"`) {
		t.Error("the timeline marker does not link to the anomaly's explanation")
	}

	var doc junitSuites
	if err := xml.Unmarshal(junit, &doc); err != nil {
		t.Fatalf("junit.xml does not parse: %v", err)
	}
	if doc.Tests != 2 || doc.Failures != 1 || doc.Errors != 0 {
		t.Fatalf("junit counts = %d tests, %d failures, %d errors; want 2, 1, 0", doc.Tests, doc.Failures, doc.Errors)
	}
	for _, c := range doc.Suites[0].Cases {
		if (c.Name == "ids/unique") != (c.Failure != nil) {
			t.Errorf("test case %s: failure = %v", c.Name, c.Failure)
		}
		if c.Failure != nil && !strings.Contains(c.Failure.Text, "777777777777") {
			t.Errorf("failure text lacks the witness: %q", c.Failure.Text)
		}
	}
}

func invocationOf(t *testing.T, ops []history.Op, op history.Op) int64 {
	t.Helper()
	pairs, err := history.Pairs(ops)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pairs {
		if p.Invoke.Index == op.Index || (p.Completed() && p.Complete.Index == op.Index) {
			return p.Invoke.Index
		}
	}
	t.Fatalf("record %d is in no pair", op.Index)
	return -1
}

func itoa(n int64) string {
	return strings.TrimSpace(strings.ReplaceAll(string(history.Int(n)), " ", ""))
}

func TestLockReportExplainsOverlapAndUnknown(t *testing.T) {
	_, page, junit := writeReport(t, lockFixture())
	checkStructure(t, page)
	text := visibleText(t, page)
	for _, want := range []string{
		"Invalid: anomalies were found",
		"clients 3 and 7 both held lock L from 12.350 s to 12.840 s",
		"node n3's clock jumped forward 30s (now +30s from host time) at 12.100 s",
		"Unknown", "the lock workload records no writes",
		"chaos repro redlock-clock-jump",
		"porcupine/L.html",
		"Faults per node",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report text lacks %q", want)
		}
	}
	var doc junitSuites
	if err := xml.Unmarshal(junit, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Failures != 1 || doc.Errors != 1 {
		t.Fatalf("junit: %d failures, %d errors; want 1 invalid and 1 unknown", doc.Failures, doc.Errors)
	}
}

func TestEmptyHistoryWithoutResultsIsNotJudged(t *testing.T) {
	f := &fixture{hdr: header("snowflake", "ids", 1, "n1")}
	dir, page, junit := writeReport(t, f)
	checkStructure(t, page)
	text := visibleText(t, page)
	if !strings.Contains(text, "Not judged") || !strings.Contains(text, "results.json is missing") {
		t.Errorf("an unjudged run must say so; text: %.300s", text)
	}
	if strings.Contains(text, "Valid:") {
		t.Error("an unjudged run must never read as valid")
	}
	var doc junitSuites
	if err := xml.Unmarshal(junit, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Errors != 1 || doc.Tests != 1 {
		t.Fatalf("junit: %d tests, %d errors; want 1 errored verdict", doc.Tests, doc.Errors)
	}
	if _, err := os.Stat(filepath.Join(dir, core.ResultsFile)); err == nil {
		t.Error("rendering must not create results.json")
	}
}

func TestValidRunReadsValid(t *testing.T) {
	f := snowflakeFixture()
	f.results = &checkers.Results{Valid: checkers.Valid, Checkers: map[string]checkers.Result{
		"ids/unique": {Valid: checkers.Valid, Summary: "398 IDs, all distinct"}}}
	_, page, _ := writeReport(t, f)
	if !strings.Contains(visibleText(t, page), "Valid: no anomaly was found") {
		t.Error("a valid run must say so at the top")
	}
}

func TestLoadErrorsAreClearAndWriteNothing(t *testing.T) {
	tmp := t.TempDir()
	corrupt := filepath.Join(tmp, "corrupt")
	if err := os.MkdirAll(corrupt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corrupt, core.HistoryFile), []byte("not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(tmp, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ dir, want string }{
		"missing": {filepath.Join(tmp, "nope"), "does not exist"},
		"empty":   {empty, "has no history.jsonl"},
		"file":    {file, "not a run directory"},
		"corrupt": {corrupt, "not a chaos history header"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Write(tc.dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Write(%s) = %v; want an error containing %q", name, err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if _, err := os.Stat(filepath.Join(tc.dir, HTMLFile)); err == nil {
				t.Error("a report was written for a run that could not be read")
			}
		})
	}
	before, _ := os.ReadFile(filepath.Join(corrupt, core.HistoryFile))
	if string(before) != "not json\n" {
		t.Error("the stored history was changed")
	}
}

func TestRerun(t *testing.T) {
	h := header("snowflake", "ids", 42, "n1", "n2")
	h.Params = map[string]string{"mode": "it's", "b": "x y"}
	cases := []struct {
		name string
		cfg  *core.StoredConfig
		want string
	}{
		{"stored command keeps its words", storedConfig(h, 3, "/usr/local/bin/chaos", "run", "snowflake", "--seed=42"),
			"chaos run snowflake --seed=42"},
		{"a random seed is added", storedConfig(h, 3, "chaos", "run", "snowflake", "--mode", "naive"),
			"chaos run snowflake --mode naive --seed 42"},
		{"a scenario needs no seed", storedConfig(h, 3, "chaos", "repro", "lock-pause"), "chaos repro lock-pause"},
		{"from config.json", storedConfig(h, 3),
			"chaos run snowflake --workload ids --nodes 2 --concurrency 3 --time-limit 10s --rate 100 --op-timeout 1s --b 'x y' --mode 'it'\\''s' --seed 42"},
		{"from the header alone", nil, "chaos run snowflake --workload ids --nodes 2 --b 'x y' --mode 'it'\\''s' --seed 42"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Rerun(&h, tc.cfg); got != tc.want {
				t.Errorf("Rerun = %s\nwant    %s", got, tc.want)
			}
		})
	}
}

func TestFaultPeriods(t *testing.T) {
	b := newBuilder()
	b.fault(1, 1.1, "kill", "n1", nil)
	b.fault(3, 3.2, "start", "n1", nil)
	b.fault(4, 4.1, "pause", "n2", nil)
	// A failed fault changed nothing; one with unknown outcome may have.
	b.add(history.Op{Process: history.NemesisProcess, Type: history.Invoke, F: "kill", Node: "n3", Time: at(5)})
	b.add(history.Op{Process: history.NemesisProcess, Type: history.Fail, F: "kill", Node: "n3", Time: at(5.1), Error: "no such process"})
	b.add(history.Op{Process: history.NemesisProcess, Type: history.Invoke, F: "partition", Time: at(6)})
	b.add(history.Op{Process: history.NemesisProcess, Type: history.Info, F: "partition", Time: at(6.1), Error: "timeout"})
	b.fault(7, 7.1, "heal", "", nil)
	b.fault(8, 8.1, "clock-bump", "n1", clockValue(time.Second, time.Second))
	// Scripted faults give the offset only as a duration.
	b.fault(8.5, 8.6, "clock-jump", "n3", json.RawMessage(`{"step":1,"offset":"30s"}`))
	b.fault(9, 9.1, "clock-reset", "n3", json.RawMessage(`{"step":-1,"offset":"0s"}`))
	pairs, err := history.Pairs(b.ops)
	if err != nil {
		t.Fatal(err)
	}
	got := faultPeriods(pairs, at(10))
	type want struct {
		lane, kind string
		start, end float64
		maybe      bool
	}
	wants := []want{
		{"n1", "down", 1.1, 3.2, false},
		{"n2", "paused", 4.1, 10, false},
		{"network", "partition", 6.1, 7.1, true},
		{"n1", "clock", 8.1, 10, false},
		{"n3", "clock", 8.6, 9.1, false},
	}
	if len(got) != len(wants) {
		t.Fatalf("got %d periods, want %d: %+v", len(got), len(wants), got)
	}
	for i, w := range wants {
		g := got[i]
		if g.Lane != w.lane || g.Kind != w.kind || g.Start != at(w.start) || g.End != at(w.end) || g.Maybe != w.maybe {
			t.Errorf("period %d = %+v; want %+v", i, g, w)
		}
	}
}

func TestLargeHistoryIsDownsampledAndKeepsWitnesses(t *testing.T) {
	f := bigFixture(20000)
	_, page, _ := writeReport(t, f)
	checkStructure(t, page)
	if n := strings.Count(page, "<rect"); n > 15000 {
		t.Errorf("%d rects for 10,000 operations: the timeline is not downsampled", n)
	}
	for _, op := range f.results.Checkers["ids/unique"].Anomalies[0].Ops {
		if !strings.Contains(page, `id="op-`+itoa(invocationOf(t, f.ops, op))+`"`) {
			t.Errorf("witness #%d lost in downsampling", op.Index)
		}
	}
	if !utf8.ValidString(page) {
		t.Error("report is not valid UTF-8")
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	f := lockFixture()
	dir := f.write(t, filepath.Join(t.TempDir(), "run"))
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := RenderHTML(&a, r); err != nil {
		t.Fatal(err)
	}
	if err := RenderHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two renders of the same run differ")
	}
}

// BenchmarkWrite100k renders the report and JUnit file of a 100,000-record
// history (goal: under 5 s and under 10 MB). It reports the report's size.
func BenchmarkWrite100k(b *testing.B) {
	f := bigFixture(100000)
	dir := f.write(b, filepath.Join(b.TempDir(), "run"))
	b.ResetTimer()
	var size int64
	for i := 0; i < b.N; i++ {
		p, err := Write(dir)
		if err != nil {
			b.Fatal(err)
		}
		st, err := os.Stat(p.HTML)
		if err != nil {
			b.Fatal(err)
		}
		size = st.Size()
	}
	b.ReportMetric(float64(size)/1e6, "MB/report")
}

func TestDescribeFault(t *testing.T) {
	for _, tc := range []struct {
		op   history.Op
		want string
	}{
		{history.Op{F: "clock-rollback", Node: "n2", Type: history.OK, Time: at(2.5), Value: clockValue(-2*time.Second, -2*time.Second)},
			"node n2's clock was rolled back 2s (now -2s from host time) at 2.500 s"},
		{history.Op{F: "clock-jump", Node: "n3", Type: history.Invoke, Time: at(12.1), Value: json.RawMessage(`{"step":1,"offset":"30s"}`)},
			"node n3's clock jumped to +30s from host time (clock-jump) at 12.100 s"},
		{history.Op{F: "partition", Type: history.OK, Time: at(1), Value: json.RawMessage(`{"topology":"halves","cut":[{"from":"n1","to":"n3"},{"from":"n3","to":"n1"}]}`)},
			"the network was partitioned (halves): n1↛n3, n3↛n1 at 1.000 s"},
		{history.Op{F: "kill", Node: "n1", Type: history.Info, Error: "timeout", Time: at(3)},
			"node n1 was killed (SIGKILL) at 3.000 s (outcome unknown: timeout)"},
		{history.Op{F: "promote", Node: "n2", Type: history.OK, Time: at(4)}, "promote on node n2 at 4.000 s"},
	} {
		if got := describeFault(&tc.op); got != tc.want {
			t.Errorf("describeFault(%s)\n got %s\nwant %s", tc.op.F, got, tc.want)
		}
	}
}

func TestBrokenProtocolIsSaidNotHidden(t *testing.T) {
	b := newBuilder()
	b.invoke(0.1, 0, "generate", "", nil, "n1")
	b.add(history.Op{Process: 1, Type: history.OK, F: "generate", Time: at(0.2), Node: "n1"}) // no invocation
	f := &fixture{hdr: header("snowflake", "ids", 1, "n1"), ops: b.ops,
		results: &checkers.Results{Valid: checkers.Unknown, Checkers: map[string]checkers.Result{"ids": {Summary: "cannot pair", Error: "record 1: no open invocation"}}}}
	_, page, _ := writeReport(t, f)
	text := visibleText(t, page)
	if !strings.Contains(text, "breaks the invoke/complete protocol") || !strings.Contains(text, "Unknown: the checkers could not decide") {
		t.Errorf("a broken history must be said: %.400s", text)
	}
}

// BenchmarkRenderHTML100k is the rendering alone, the history already read.
func BenchmarkRenderHTML100k(b *testing.B) {
	f := bigFixture(100000)
	dir := f.write(b, filepath.Join(b.TempDir(), "run"))
	r, err := Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var n int
	for i := 0; i < b.N; i++ {
		var buf bytes.Buffer
		if err := RenderHTML(&buf, r); err != nil {
			b.Fatal(err)
		}
		n = buf.Len()
	}
	b.ReportMetric(float64(n)/1e6, "MB/report")
}

func TestTickLabelsAreRound(t *testing.T) {
	var labels []string
	for _, tk := range ticks(axis{end: at(0.8)}) {
		labels = append(labels, tk.Label)
	}
	if got := strings.Join(labels, " "); got != "0.0s 0.1s 0.2s 0.3s 0.4s 0.5s 0.6s 0.7s 0.8s" {
		t.Errorf("ticks = %s", got)
	}
	labels = nil
	for _, tk := range ticks(axis{end: at(60)}) {
		labels = append(labels, tk.Label)
	}
	if got := strings.Join(labels, " "); got != "0s 10s 20s 30s 40s 50s 60s" {
		t.Errorf("ticks = %s", got)
	}
}

// Slowed and lossy links (the slow and lossy partition plans, the packet
// nemesis) are a band on every lane whose links they degrade, until the
// heal, not an instant's tick.
func TestDegradedLinksArePeriods(t *testing.T) {
	b := newBuilder()
	b.fault(1, 1.1, "packet", "", json.RawMessage(`{"topology":"packet-one","groups":[["n2"]],"shaped":[{"from":"n1","to":"n2"},{"from":"n2","to":"n1"},{"from":"c*","to":"n2"},{"from":"n2","to":"c*"}],"shape":{"latency":100000000,"loss":0.1}}`))
	b.fault(3, 3.2, "heal", "", nil)
	b.fault(4, 4.1, "slow", "", json.RawMessage(`{"topology":"slow","shaped":[{"from":"n1","to":"n3"}]}`))
	pairs, err := history.Pairs(b.ops)
	if err != nil {
		t.Fatal(err)
	}
	got := faultPeriods(pairs, at(10))
	type want struct {
		lane       string
		start, end float64
	}
	wants := []want{{"clients", 1.1, 3.2}, {"n1", 1.1, 3.2}, {"n2", 1.1, 3.2}, {"n1", 4.1, 10}, {"n3", 4.1, 10}}
	if len(got) != len(wants) {
		t.Fatalf("got %d periods, want %d: %+v", len(got), len(wants), got)
	}
	for i, w := range wants {
		g := got[i]
		if g.Lane != w.lane || g.Kind != "degraded" || g.Start != at(w.start) || g.End != at(w.end) {
			t.Errorf("period %d = %+v; want %+v", i, g, w)
		}
	}
	if !strings.Contains(got[2].Text, "links of n2 with clients, n1 degraded") {
		t.Errorf("n2's band says %q", got[2].Text)
	}
}
