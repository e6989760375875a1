package reports

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

const (
	scriptValue = `<script>alert(1)</script>`
	quoteValue  = `"'><img src=x onerror=alert(2)>`
	badUTF8     = "bad\xff\xfebytes"
)

// hostileFixture fills every field a report shows with markup, quotes, huge
// strings and bytes that are not UTF-8. Some records are written by hand so
// the raw bytes reach the file exactly as a misbehaving client might leave
// them.
func hostileFixture(t testing.TB, dir string) string {
	t.Helper()
	long := strings.Repeat("x", 300_000)
	h := header(`snow<script>alert(3)</script>`, `ids"'`, 5, "n1", `n2"><script>alert(4)</script>`)
	h.Params = map[string]string{"mode": scriptValue, `k"<`: badUTF8}
	h.Nemeses = []string{"kill"}
	b := newBuilder()
	b.invoke(0.1, 0, "generate", scriptValue, history.JSON(scriptValue), "n1")
	w1 := b.complete(0.2, 0, history.OK, history.JSON(quoteValue), "")
	b.invoke(0.3, 1, `</title><script>alert(5)</script>`, quoteValue, nil, `n2"><script>alert(4)</script>`)
	w2 := b.complete(0.4, 1, history.Info, history.JSON(long), scriptValue+quoteValue)
	fault := b.fault(0.5, 0.6, "kill", scriptValue, nil)
	f := &fixture{hdr: h, ops: b.ops, cfg: storedConfig(h, 2, "chaos", "run", scriptValue, "--mode", quoteValue)}
	res := checkers.Result{Valid: checkers.Invalid, Summary: scriptValue + " summary " + badUTF8, Error: quoteValue,
		Counts: map[string]int64{scriptValue: 1}}
	res.AddAnomaly(checkers.Anomaly{Kind: scriptValue, Message: "message " + scriptValue + " " + quoteValue + " " + badUTF8 + " " + long,
		Ops: []history.Op{w1, w2}, Processes: []int{0, 1}, Nodes: []string{scriptValue}, Fault: &fault,
		Data: map[string]string{"x": scriptValue, "long": long}})
	f.results = &checkers.Results{Valid: checkers.Invalid, Warnings: []string{scriptValue},
		Checkers: map[string]checkers.Result{`<b>checker</b>"`: res}}
	f.logs = map[string]string{`n2"><script>alert(4)</script>`: scriptValue}
	f.files = map[string]string{`viz"<i>.html`: "x"}
	f.write(t, dir)
	// Append records with raw bytes that are not UTF-8 in values and errors,
	// as a client that hands back binary data would leave them (in a name
	// they are refused: distinct names would merge).
	hf, err := os.OpenFile(core.HistoryPath(dir), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := len(b.ops)
	lines := []string{
		`{"index":` + itoa(int64(n)) + `,"process":3,"type":"invoke","f":"generate","key":"k<script>","value":"` + badUTF8 + `<script>","time":700000000,"node":"n1"}`,
		`{"index":` + itoa(int64(n+1)) + `,"process":3,"type":"fail","f":"generate","value":["` + "\xc3\x28" + `",1],"error":"` + badUTF8 + `","time":800000000,"node":"n1"}`,
	}
	if _, err := hf.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := hf.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestHostileValuesRenderAsText(t *testing.T) {
	dir := hostileFixture(t, filepath.Join(t.TempDir(), "run"))
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(r.History.Ops); got != 8 {
		t.Fatalf("read %d records, want 8 (the raw-byte records must load); warnings: %v", got, r.History.Warnings)
	}
	p, err := WriteRun(r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p.HTML)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	checkStructure(t, page)
	if !utf8.ValidString(page) {
		t.Error("the report is not valid UTF-8")
	}
	if strings.Contains(strings.ToLower(page), "<script") || strings.Contains(page, "<img") {
		t.Fatal("markup from the history reached the page unescaped")
	}
	text := visibleText(t, page)
	for _, want := range []string{scriptValue, quoteValue, "bad\uFFFD\uFFFDbytes", "<b>checker</b>\"", "bytes in all)"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q as text", want)
		}
	}
	// A 300 kB value appears several times in the history and the results;
	// the report shows a cut version of it.
	if len(b) > 400_000 {
		t.Errorf("report is %d bytes: long values are not cut", len(b))
	}

	j, err := os.ReadFile(p.JUnit)
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(j) {
		t.Error("junit.xml is not valid UTF-8")
	}
	var doc junitSuites
	if err := xml.Unmarshal(j, &doc); err != nil {
		t.Fatalf("junit.xml does not parse: %v", err)
	}
	if doc.Failures != 1 || !strings.Contains(doc.Suites[0].Cases[0].Failure.Text, scriptValue) {
		t.Errorf("junit failure lost the witness text: %+v", doc.Suites[0].Cases)
	}
}

// FuzzRenderHTML feeds arbitrary strings into every field of a small history
// and its results: whatever they hold, the page contains only the elements
// and attributes the template writes.
func FuzzRenderHTML(f *testing.F) {
	f.Add(scriptValue, quoteValue, badUTF8, `{"a":"</svg><script>"}`)
	f.Add("", "", "", "null")
	f.Add("]]><!--", "&amp;&lt;", "\x00\x01\u2028", `"\u003cscript\u003e"`)
	f.Fuzz(func(t *testing.T, a, b, c, value string) {
		if !json.Valid([]byte(value)) {
			value = string(history.JSON(value))
		}
		h := header(a, b, 1, c, "n2")
		h.Params = map[string]string{a: b, "x": c}
		bl := newBuilder()
		bl.invoke(0.1, 0, a, b, json.RawMessage(value), c)
		w := bl.complete(0.2, 0, history.Info, json.RawMessage(value), c)
		fault := bl.fault(0.3, 0.4, c, a, json.RawMessage(value))
		res := checkers.Result{Valid: checkers.Invalid, Summary: a, Error: b}
		res.AddAnomaly(checkers.Anomaly{Kind: a, Message: b, Ops: []history.Op{w}, Nodes: []string{c}, Fault: &fault, Data: value})
		r := &Run{Dir: "x", History: &history.File{Header: h, Ops: bl.ops, Warnings: []string{c}},
			Results:  &checkers.Results{Valid: checkers.Invalid, Checkers: map[string]checkers.Result{a: res}},
			NodeLogs: []string{"nodes/" + c + ".log"}, Visualizations: []string{b + ".html"}}
		var sb strings.Builder
		if err := RenderHTML(&sb, r); err != nil {
			t.Fatal(err)
		}
		checkStructure(t, sb.String())
		var jb strings.Builder
		if err := RenderJUnit(&jb, r); err != nil {
			t.Fatal(err)
		}
		var doc junitSuites
		if err := xml.Unmarshal([]byte(jb.String()), &doc); err != nil {
			t.Fatalf("junit.xml does not parse: %v", err)
		}
	})
}
