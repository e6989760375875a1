package history

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

const testHeader = `{"header":{"format":"chaos-history/1","nodes":["n1","n2"]}}` + "\n"

// A complete, newline-terminated last record that does not parse is a
// damaged history, not a torn one: before, it was dropped with a warning.
func TestCorruptCompleteLastLineIsAnError(t *testing.T) {
	path := writeHistory(t, sampleOps())
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	lines[len(lines)-1] = `{"index":5,"process":5,"type":"fail","f":"cas","time":"oops"}`
	in := strings.Join(lines, "\n") + "\n"
	_, err := Read(strings.NewReader(in))
	if err == nil || !strings.Contains(err.Error(), "line 7") {
		t.Fatalf("err = %v, want an error naming line 7", err)
	}
	// Without its line break the same line is torn: dropped with a warning.
	hf, err := Read(strings.NewReader(strings.TrimSuffix(in, "\n")))
	if err != nil || len(hf.Warnings) != 1 || len(hf.Ops) != len(sampleOps())-1 {
		t.Fatalf("torn: err %v, warnings %v, %d ops", err, hf.Warnings, len(hf.Ops))
	}
}

func TestCompletionBeforeInvocationIsRefused(t *testing.T) {
	in := testHeader +
		`{"index":0,"process":1,"type":"invoke","f":"x","time":100}` + "\n" +
		`{"index":1,"process":"nemesis","type":"invoke","f":"kill","time":100}` + "\n" +
		`{"index":2,"process":1,"type":"ok","f":"x","time":99}` + "\n"
	_, err := Read(strings.NewReader(in))
	if err == nil || !strings.Contains(err.Error(), "record 2") || !strings.Contains(err.Error(), "earlier than its invocation (record 0") {
		t.Fatalf("err = %v", err)
	}
	nem := testHeader +
		`{"index":0,"process":"nemesis","type":"invoke","f":"kill","time":100}` + "\n" +
		`{"index":1,"process":"nemesis","type":"info","f":"kill","time":50}` + "\n"
	if _, err := Read(strings.NewReader(nem)); err == nil {
		t.Fatal("a nemesis completion before its invocation was accepted")
	}
	big := testHeader +
		`{"index":0,"process":2000000,"type":"invoke","f":"x","time":100}` + "\n" +
		`{"index":1,"process":2000000,"type":"fail","f":"x","time":1}` + "\n"
	if _, err := Read(strings.NewReader(big)); err == nil {
		t.Fatal("a completion before its invocation was accepted for a large process number")
	}
	ok := testHeader +
		`{"index":0,"process":1,"type":"invoke","f":"x","time":100}` + "\n" +
		`{"index":1,"process":1,"type":"ok","f":"x","time":100}` + "\n" +
		`{"index":2,"process":1,"type":"invoke","f":"x","time":100}` + "\n"
	if _, err := Read(strings.NewReader(ok)); err != nil {
		t.Fatalf("equal times refused: %v", err)
	}
}

// zeros is /dev/zero: endless bytes and no line break.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	clear(p)
	z.n += int64(len(p))
	return len(p), nil
}

func TestEndlessRecordIsRefusedAtTheDefaultBound(t *testing.T) {
	z := &zeros{}
	_, err := Read(io.MultiReader(strings.NewReader(testHeader), z))
	var le *LimitError
	if !errors.As(err, &le) || le.What != "record" || le.Limit != DefaultMaxRecordSize {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "64 MiB") || !strings.Contains(err.Error(), "--max-record-size") || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("error does not name the limit, the line and the flag: %v", err)
	}
	if z.n > 2*DefaultMaxRecordSize {
		t.Fatalf("read %d bytes before refusing", z.n)
	}
}

func TestRecordAndInputBounds(t *testing.T) {
	long := testHeader + `{"index":0,"process":1,"type":"invoke","f":"x","value":"` + strings.Repeat("a", 5000) + `","time":1}` + "\n"
	if _, err := Read(strings.NewReader(long)); err != nil {
		t.Fatalf("default bounds: %v", err)
	}
	_, err := Read(strings.NewReader(long), MaxRecordSize(4096))
	var le *LimitError
	if !errors.As(err, &le) || le.What != "record" || le.Line != 2 || !strings.Contains(err.Error(), "4 KiB") {
		t.Fatalf("record bound: %v", err)
	}
	// A record longer than the reader's 1 MiB buffer and the bound.
	huge := testHeader + `{"index":0,"process":1,"type":"invoke","f":"x","value":"` + strings.Repeat("a", 3<<20) + `","time":1}` + "\n"
	if _, err := Read(strings.NewReader(huge), MaxRecordSize(2<<20)); !errors.As(err, &le) || le.What != "record" {
		t.Fatalf("long record bound: %v", err)
	}
	if _, err := Read(strings.NewReader(huge), MaxRecordSize(4<<20)); err != nil {
		t.Fatalf("raised bound: %v", err)
	}
	var b bytes.Buffer
	b.WriteString(testHeader)
	for i := 0; i < 100; i++ {
		b.WriteString(string(AppendJSON(nil, &Op{Index: int64(i), Process: i, Type: Invoke, F: "x", Time: 1})) + "\n")
	}
	_, err = Read(bytes.NewReader(b.Bytes()), MaxInputSize(2000))
	if !errors.As(err, &le) || le.What != "history" || !strings.Contains(err.Error(), "--max-history-size") {
		t.Fatalf("input bound: %v", err)
	}
	if _, err := Read(bytes.NewReader(b.Bytes()), MaxInputSize(int64(b.Len()))); err != nil {
		t.Fatalf("input of exactly the bound: %v", err)
	}
}

// Names with bytes that are not UTF-8, or lone surrogate escapes, decode
// to U+FFFD: n1\xff and n1\xfe would become one node. Before, both were
// accepted as "n1\uFFFD".
func TestNamesThatWouldMergeAreRefused(t *testing.T) {
	for name, rec := range map[string]string{
		"node bytes":       `{"index":0,"process":1,"type":"invoke","f":"x","time":1,"node":"n1` + "\xff" + `"}`,
		"key bytes":        `{"index":0,"process":1,"type":"invoke","f":"x","key":"k` + "\xc3" + `","time":1}`,
		"f bytes":          `{"index":0,"process":1,"type":"invoke","f":"x` + "\xfe" + `","time":1}`,
		"node surrogate":   `{"index":0,"process":1,"type":"invoke","f":"x","time":1,"node":"n\ud800"}`,
		"key low half":     `{"index":0,"process":1,"type":"invoke","f":"x","key":"\udc00","time":1}`,
		"process bytes":    `{"index":0,"process":"nemesis` + "\xff" + `","type":"invoke","f":"x","time":1}`,
		"surrogate broken": `{"index":0,"process":1,"type":"invoke","f":"x","key":"\ud800\u0041","time":1}`,
	} {
		_, err := Read(strings.NewReader(testHeader + rec + "\n"))
		if err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%s: err = %v, want a refusal naming line 2", name, err)
		}
		if _, err := ParseOp([]byte(rec)); err == nil {
			t.Errorf("%s: ParseOp accepted it", name)
		}
	}
	for name, rec := range map[string]string{
		"pair":          `{"index":0,"process":1,"type":"invoke","f":"x","key":"\ud83d\ude00","time":1}`,
		"utf8":          `{"index":0,"process":1,"type":"invoke","f":"x","key":"k\u00e9` + "é" + `","time":1}`,
		"escaped slash": `{"index":0,"process":1,"type":"invoke","f":"x","key":"\\ud800","time":1}`,
		// The reader keeps such a value, so the run can still be shown;
		// every checker refuses it (WellFormed).
		"value bytes": `{"index":0,"process":1,"type":"invoke","f":"x","value":"\ud800","time":1}`,
	} {
		hf, err := Read(strings.NewReader(testHeader + rec + "\n"))
		if err != nil {
			t.Errorf("%s: refused: %v", name, err)
			continue
		}
		if werr := WellFormed(hf.Ops); (werr != nil) != (name == "value bytes") {
			t.Errorf("%s: WellFormed says %v", name, werr)
		}
	}
	hdr := `{"header":{"format":"chaos-history/1","nodes":["n1` + "\xff" + `","n1` + "\xfe" + `"]}}` + "\n"
	if _, err := Read(strings.NewReader(hdr)); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("header with non-UTF-8 node names: err = %v", err)
	}
}

// counting counts the bytes read through it.
type counting struct {
	r io.Reader
	n int64
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// A 200 MB single-record line took 2.97 GB; it is refused once past the
// bound, without reading the rest of it.
func TestTwoHundredMegabyteRecordIsRefused(t *testing.T) {
	body := &counting{r: io.LimitReader(&zeros{}, 200<<20)}
	in := io.MultiReader(strings.NewReader(testHeader+`{"index":0,"process":1,"type":"invoke","f":"x","time":1,"value":"`), body, strings.NewReader(`"}`+"\n"))
	_, err := Read(in)
	var le *LimitError
	if !errors.As(err, &le) || le.What != "record" || le.Line != 2 {
		t.Fatalf("err = %v", err)
	}
	if body.n > DefaultMaxRecordSize+2<<20 {
		t.Fatalf("read %d MB of the record before refusing it", body.n>>20)
	}
}

// The writer folded bad bytes in names to U+FFFD, so "n1\xff" and "n1\xfe"
// were the same node on disk; it refuses them instead.
func TestWriterRefusesNamesThatWouldMerge(t *testing.T) {
	dir := t.TempDir()
	if _, err := Create(dir+"/h1.jsonl", Header{Nodes: []string{"n1\xff", "n1\xfe"}}); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("header: err = %v", err)
	}
	w, err := Create(dir+"/h2.jsonl", Header{Nodes: []string{"n1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, op := range []Op{{Process: 1, Type: Invoke, F: "x", Node: "n1\xff"}, {Process: 1, Type: Invoke, F: "x", Key: "k\xc3"}, {Process: 1, Type: Invoke, F: "x\xfe"}} {
		if _, err := w.Append(op); err == nil || !strings.Contains(err.Error(), "UTF-8") {
			t.Fatalf("%+v: err = %v", op, err)
		}
	}
	if _, err := w.Append(Op{Process: 1, Type: Invoke, F: "x", Node: "n1", Value: []byte(`"\xff"`)}); err != nil {
		t.Fatalf("a value with bad bytes is recorded as is: %v", err)
	}
	if w.Len() != 1 {
		t.Fatalf("%d records, want 1", w.Len())
	}
}
