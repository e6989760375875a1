package history

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleOps() []Op {
	return []Op{
		{Process: NemesisProcess, Type: Invoke, F: "clock-rollback", Value: json.RawMessage(`{"delta":"-2s","offset":"-2s"}`), Time: 5, Node: "n2"},
		{Process: 3, Type: Invoke, F: "generate", Time: 10, Node: "n1"},
		{Process: 3, Type: OK, F: "generate", Value: Uint(18446744073709551615), Time: 20, Node: "n1"},
		{Process: 4, Type: Invoke, F: "write", Key: "k\"1", Value: Int(-7), Time: 30, Node: "n3"},
		{Process: 4, Type: Info, F: "write", Key: "k\"1", Error: "timeout <script>\u00e9", Time: 40, Node: "n3"},
		{Process: 5, Type: Fail, F: "cas", Value: json.RawMessage(`[1, 2]`), Error: "mismatch", Time: 50},
	}
}

func writeHistory(t *testing.T, ops []Op) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w, err := Create(path, Header{RunID: "r1", Target: "x", Workload: "y", Seed: 7, Start: time.Unix(1, 0).UTC()})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		if _, err := w.Append(op); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRoundTrip(t *testing.T) {
	ops := sampleOps()
	hf, err := ReadFile(writeHistory(t, ops))
	if err != nil {
		t.Fatal(err)
	}
	if hf.Header.Seed != 7 || hf.Header.Format != Format || len(hf.Warnings) != 0 {
		t.Fatalf("header %+v warnings %v", hf.Header, hf.Warnings)
	}
	if len(hf.Ops) != len(ops) {
		t.Fatalf("%d ops, want %d", len(hf.Ops), len(ops))
	}
	for i, op := range hf.Ops {
		want := ops[i]
		want.Index = int64(i)
		if !reflect.DeepEqual(normalize(op), normalize(want)) {
			t.Errorf("op %d:\n got %#v\nwant %#v", i, op, want)
		}
	}
	if _, err := Create(filepath.Join(filepath.Dir(writeHistory(t, nil)), "history.jsonl"), Header{}); err == nil {
		t.Fatal("Create must never overwrite a stored history")
	}
}

func normalize(o Op) Op {
	if len(o.Value) == 0 {
		o.Value = nil
	}
	return o
}

func TestTornLastLineIsToleratedWithWarning(t *testing.T) {
	path := writeHistory(t, sampleOps())
	b, _ := os.ReadFile(path)
	torn := b[:len(b)-15] // cut into the last record
	hf, err := Read(bytes.NewReader(torn))
	if err != nil {
		t.Fatal(err)
	}
	if len(hf.Ops) != len(sampleOps())-1 || len(hf.Warnings) != 1 || !strings.Contains(hf.Warnings[0], "torn") {
		t.Fatalf("%d ops, warnings %v", len(hf.Ops), hf.Warnings)
	}
}

func TestCorruptMiddleLineIsAnError(t *testing.T) {
	path := writeHistory(t, sampleOps())
	b, _ := os.ReadFile(path)
	lines := strings.Split(string(b), "\n")
	lines[2] = `{"index":1,"process":3,"type":"bogus","f":"generate","time":10}`
	_, err := Read(strings.NewReader(strings.Join(lines, "\n")))
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("err = %v, want one naming line 3", err)
	}
}

func TestBadHeaders(t *testing.T) {
	for name, in := range map[string]string{
		"empty":      "",
		"not json":   "hello\n",
		"no header":  `{"index":0,"process":1,"type":"invoke","f":"x","time":1}` + "\n",
		"new format": `{"header":{"format":"chaos-history/99"}}` + "\n",
	} {
		if _, err := Read(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestIndexOutOfSequence(t *testing.T) {
	in := `{"header":{"format":"chaos-history/1"}}
{"index":0,"process":1,"type":"invoke","f":"x","time":1}
{"index":5,"process":1,"type":"ok","f":"x","time":2}
{"index":2,"process":1,"type":"ok","f":"x","time":2}
`
	if _, err := Read(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "out of sequence") {
		t.Fatalf("err = %v", err)
	}
}

func TestFaultIndexBefore(t *testing.T) {
	ops := []Op{
		{Process: NemesisProcess, Type: Invoke, F: "kill", Node: "n1", Time: 10},
		{Process: NemesisProcess, Type: OK, F: "kill", Node: "n1", Time: 12},
		{Process: NemesisProcess, Type: Invoke, F: "pause", Node: "n2", Time: 20},
		{Process: NemesisProcess, Type: Fail, F: "pause", Node: "n2", Time: 21},
		{Process: NemesisProcess, Type: Invoke, F: "clock-bump", Node: "n3", Time: 30},
	}
	fi := NewFaultIndex(ops)
	if f := fi.Before(25, ""); f == nil || f.F != "kill" {
		t.Fatalf("before 25: %v (a failed fault never happened)", f)
	}
	if f := fi.Before(31, "n1"); f == nil || f.F != "kill" {
		t.Fatalf("before 31 on n1: %v", f)
	}
	if f := fi.Before(31, "n9"); f == nil || f.F != "clock-bump" {
		t.Fatalf("before 31 on n9: %v (falls back to any node)", f)
	}
	if f := fi.Before(5, ""); f != nil {
		t.Fatalf("before 5: %v", f)
	}
}

func TestPairs(t *testing.T) {
	ops := []Op{
		{Index: 0, Process: 1, Type: Invoke, F: "x", Time: 1},
		{Index: 1, Process: 2, Type: Invoke, F: "x", Time: 2},
		{Index: 2, Process: 1, Type: OK, F: "x", Time: 3},
	}
	ps, err := Pairs(ops)
	if err != nil || len(ps) != 2 {
		t.Fatalf("%v %v", ps, err)
	}
	if ps[1].Outcome() != Info {
		t.Fatalf("an invocation without completion is indeterminate, got %s", ps[1].Outcome())
	}
	if _, err := Pairs([]Op{{Process: 1, Type: OK, F: "x"}}); err == nil {
		t.Fatal("completion without invocation accepted")
	}
}

// slowParse is the general path alone, for comparison.
func slowParse(line []byte) (Op, error) {
	return parseOp(line, nil)
}

func TestFastPathMatchesGeneralPath(t *testing.T) {
	for _, op := range sampleOps() {
		line := AppendJSON(nil, &op)
		fast, ok := fastParseOp(line, map[string]string{})
		if !ok && !bytes.ContainsAny(line, "\\") {
			t.Errorf("fast path refused our own line %s", line)
		}
		checkAgree(t, line, fast, ok)
	}
}

// checkAgree fails when the fast path accepted a line differently from the
// general decoder.
func checkAgree(t *testing.T, line []byte, fast Op, ok bool) {
	t.Helper()
	if !ok {
		return
	}
	slow, err := generalParse(line)
	if err != nil {
		t.Fatalf("fast path accepted %q, general path says %v", line, err)
	}
	if !reflect.DeepEqual(normalize(fast), normalize(slow)) {
		t.Fatalf("paths disagree on %q:\nfast %#v\nslow %#v", line, fast, slow)
	}
}

func FuzzParseOp(f *testing.F) {
	for _, op := range sampleOps() {
		f.Add(AppendJSON(nil, &op))
	}
	f.Add([]byte(`{"index":0,"process":"nemesis","type":"ok","f":"x","time":0,"value":{"a":[1,"}"]}}`))
	f.Add([]byte(`{"index":01,"process":1,"type":"ok","f":"x","time":0}`))
	f.Add([]byte(`{"index":0,"process":1,"type":"ok","f":"x","time":0,"node":"n` + "\xff" + `"}`))
	f.Add([]byte(`{"index":0,"process":1,"type":"ok","f":"x","time":0,"key":"\ud800"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		fast, ok := fastParseOp(line, map[string]string{})
		checkAgree(t, line, fast, ok)
		op, err := ParseOp(line)
		if err != nil {
			return
		}
		// Whatever parses must write back and parse to the same op.
		again, err := ParseOp(AppendJSON(nil, &op))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", line, err)
		}
		if again.Index != op.Index || again.Process != op.Process || again.Type != op.Type || again.F != op.F || again.Time != op.Time {
			t.Fatalf("round trip changed %#v into %#v", op, again)
		}
	})
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"header":{"format":"chaos-history/1"}}` + "\n" + `{"index":0,"process":1,"type":"invoke","f":"x","time":1}` + "\n"))
	f.Add([]byte(`{"header":{"format":"chaos-history/1"}}` + "\n" + `{"index":0,"pro`))
	f.Fuzz(func(t *testing.T, b []byte) {
		hf, err := Read(bytes.NewReader(b))
		if err == nil && hf == nil {
			t.Fatal("nil file without error")
		}
	})
}

// BenchmarkWriteRead writes and reads back a history of a million records,
// the path of every run and every `chaos check`.
func BenchmarkWriteRead(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "h.jsonl")
	w, err := Create(path, Header{Target: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		op := Op{Process: i % 10, Type: Invoke, F: "generate", Time: int64(i), Node: "n1"}
		if i%2 == 1 {
			op.Type, op.Value = OK, Uint(912662711374979072+uint64(i))
		}
		if _, err := w.Append(op); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	written := float64(n) / time.Since(start).Seconds()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		hf, err := ReadFile(path)
		if err != nil || len(hf.Ops) != n {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "read/s")
	b.ReportMetric(written, "written/s")
}
