package linearizable

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// hb builds histories by hand: each call appends one record at the next
// time step.
type hb struct {
	ops []history.Op
	t   int64
}

func (b *hb) add(proc int, typ history.Type, f, key string, v any) *hb {
	var raw json.RawMessage
	if v != nil {
		raw = history.JSON(v)
	}
	b.t += 10
	b.ops = append(b.ops, history.Op{Index: int64(len(b.ops)), Process: proc, Type: typ, F: f, Key: key,
		Value: raw, Time: b.t, Node: "n1"})
	return b
}

func (b *hb) inv(p int, f, key string, v any) *hb { return b.add(p, history.Invoke, f, key, v) }
func (b *hb) ok(p int, f, key string, v any) *hb  { return b.add(p, history.OK, f, key, v) }
func (b *hb) info(p int, f, key string, v any) *hb {
	return b.add(p, history.Info, f, key, v)
}
func (b *hb) fail(p int, f, key string, v any) *hb { return b.add(p, history.Fail, f, key, v) }
func (b *hb) fault(f, node string) *hb {
	b.add(history.NemesisProcess, history.Invoke, f, "", nil)
	b.ops[len(b.ops)-1].Node = node
	b.add(history.NemesisProcess, history.OK, f, "", nil)
	b.ops[len(b.ops)-1].Node = node
	return b
}

func (b *hb) file() *history.File { return &history.File{Ops: b.ops} }

func check(t *testing.T, m Model, h *history.File, opts ...Option) checkers.Result {
	t.Helper()
	return New(m, opts...).Check(context.Background(), h)
}

func TestVerdicts(t *testing.T) {
	type tc struct {
		name  string
		model Model
		h     *hb
		want  checkers.Validity
	}
	cases := []tc{
		{"empty", CASRegister(), &hb{}, checkers.Unknown},
		{"nemesis records only", CASRegister(), (&hb{}).fault("kill", "n1").fault("pause", "n2"), checkers.Unknown},
		{"only failed and indeterminate operations", CASRegister(),
			(&hb{}).inv(0, "write", "", 1).fail(0, "write", "", 1).inv(1, "read", "", nil).info(1, "read", "", nil), checkers.Unknown},
		{"single read of nothing", CASRegister(), (&hb{}).inv(0, "read", "", nil).ok(0, "read", "", nil), checkers.Valid},
		{"single read of a value never written", CASRegister(), (&hb{}).inv(0, "read", "", nil).ok(0, "read", "", 3), checkers.Invalid},
		{"single write", Register(), (&hb{}).inv(0, "write", "", 1).ok(0, "write", "", 1), checkers.Valid},
		{"sequential write then read", Register(),
			(&hb{}).inv(0, "write", "", 1).ok(0, "write", "", 1).inv(1, "read", "", nil).ok(1, "read", "", 1), checkers.Valid},
		{"stale read after a completed write", Register(),
			(&hb{}).inv(0, "write", "", 1).ok(0, "write", "", 1).inv(0, "write", "", 2).ok(0, "write", "", 2).
				inv(1, "read", "", nil).ok(1, "read", "", 1), checkers.Invalid},
		{"concurrent writes, read sees either", Register(),
			(&hb{}).inv(0, "write", "", 1).inv(1, "write", "", 2).ok(0, "write", "", 1).ok(1, "write", "", 2).
				inv(2, "read", "", nil).ok(2, "read", "", 1).inv(2, "read", "", nil).ok(2, "read", "", 1), checkers.Valid},
		{"concurrent writes, reads disagree on the last", Register(),
			(&hb{}).inv(0, "write", "", 1).inv(1, "write", "", 2).ok(0, "write", "", 1).ok(1, "write", "", 2).
				inv(2, "read", "", nil).ok(2, "read", "", 1).inv(2, "read", "", nil).ok(2, "read", "", 2), checkers.Invalid},
		{"read concurrent with write sees old or new", Register(),
			(&hb{}).inv(0, "write", "", 1).ok(0, "write", "", 1).inv(0, "write", "", 2).inv(1, "read", "", nil).
				ok(1, "read", "", 1).inv(2, "read", "", nil).ok(2, "read", "", 2).ok(0, "write", "", 2), checkers.Valid},
		// The write timed out but a later read saw it: it must count as
		// having happened.
		{"info write observed later", Register(),
			(&hb{}).inv(0, "write", "", 7).info(0, "write", "", 7).inv(1, "read", "", nil).ok(1, "read", "", 7), checkers.Valid},
		// Same history with the write recorded as fail: it did not happen,
		// so the read of 7 is impossible.
		{"failed write observed later", Register(),
			(&hb{}).inv(0, "write", "", 7).fail(0, "write", "", 7).inv(1, "read", "", nil).ok(1, "read", "", 7), checkers.Invalid},
		// The info write may also never have happened: reads of null after
		// it are fine.
		{"info write never observed", Register(),
			(&hb{}).inv(0, "write", "", 7).info(0, "write", "", 7).inv(1, "read", "", nil).ok(1, "read", "", nil), checkers.Valid},
		// An info write may take effect late, but not undo itself.
		{"info write seen then unseen", Register(),
			(&hb{}).inv(0, "write", "", 7).info(0, "write", "", 7).inv(1, "read", "", nil).ok(1, "read", "", 7).
				inv(1, "read", "", nil).ok(1, "read", "", nil), checkers.Invalid},
		// An operation the history ended before completing is indeterminate.
		{"never completed write observed", Register(),
			(&hb{}).inv(0, "write", "", 5).inv(1, "read", "", nil).ok(1, "read", "", 5), checkers.Valid},
		{"cas ok", CASRegister(),
			(&hb{}).inv(0, "write", "", 1).ok(0, "write", "", 1).inv(0, "cas", "", []int{1, 2}).ok(0, "cas", "", []int{1, 2}).
				inv(1, "read", "", nil).ok(1, "read", "", 2), checkers.Valid},
		{"cas ok without its expected value", CASRegister(),
			(&hb{}).inv(0, "write", "", 1).ok(0, "write", "", 1).inv(0, "cas", "", []int{3, 2}).ok(0, "cas", "", []int{3, 2}), checkers.Invalid},
		{"failed cas did not happen", CASRegister(),
			(&hb{}).inv(0, "write", "", 1).ok(0, "write", "", 1).inv(0, "cas", "", []int{1, 2}).fail(0, "cas", "", []int{1, 2}).
				inv(1, "read", "", nil).ok(1, "read", "", 1), checkers.Valid},
		{"info cas observed", CASRegister(),
			(&hb{}).inv(0, "write", "", 1).ok(0, "write", "", 1).inv(0, "cas", "", []int{1, 2}).info(0, "cas", "", []int{1, 2}).
				inv(1, "read", "", nil).ok(1, "read", "", 1).inv(1, "read", "", nil).ok(1, "read", "", 2), checkers.Valid},
		{"keys are independent", KV(CASRegister()),
			(&hb{}).inv(0, "write", "a", 1).ok(0, "write", "a", 1).inv(1, "read", "b", nil).ok(1, "read", "b", nil).
				inv(1, "read", "a", nil).ok(1, "read", "a", 1), checkers.Valid},
		{"one key wrong", KV(CASRegister()),
			(&hb{}).inv(0, "write", "a", 1).ok(0, "write", "a", 1).inv(1, "read", "b", nil).ok(1, "read", "b", 1), checkers.Invalid},
		{"mutex ok", Mutex(),
			(&hb{}).inv(0, "acquire", "", nil).ok(0, "acquire", "", nil).inv(0, "release", "", nil).ok(0, "release", "", nil).
				inv(1, "acquire", "", nil).ok(1, "acquire", "", nil), checkers.Valid},
		{"mutex double hold", Mutex(),
			(&hb{}).inv(0, "acquire", "", nil).ok(0, "acquire", "", nil).inv(1, "acquire", "", nil).ok(1, "acquire", "", nil), checkers.Invalid},
		{"mutex info release lets the next acquire in", Mutex(),
			(&hb{}).inv(0, "acquire", "", nil).ok(0, "acquire", "", nil).inv(0, "release", "", nil).info(0, "release", "", nil).
				inv(1, "acquire", "", nil).ok(1, "acquire", "", nil), checkers.Valid},
		{"set ok", Set(),
			(&hb{}).inv(0, "add", "", 1).ok(0, "add", "", 1).inv(1, "add", "", 2).inv(2, "read", "", nil).ok(2, "read", "", []int{1}).
				ok(1, "add", "", 2).inv(2, "read", "", nil).ok(2, "read", "", []int{2, 1}), checkers.Valid},
		{"set lost element", Set(),
			(&hb{}).inv(0, "add", "", 1).ok(0, "add", "", 1).inv(2, "read", "", nil).ok(2, "read", "", []int{}), checkers.Invalid},
		{"set info add seen", Set(),
			(&hb{}).inv(0, "add", "", 1).info(0, "add", "", 1).inv(2, "read", "", nil).ok(2, "read", "", []int{1}), checkers.Valid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := check(t, c.model, c.h.file())
			if r.Valid != c.want {
				t.Fatalf("verdict %s, want %s: %s %s", r.Valid, c.want, r.Summary, r.Error)
			}
			if c.want == checkers.Invalid && (len(r.Anomalies) == 0 || r.Anomalies[0].Message == "") {
				t.Fatalf("invalid without a witness: %+v", r)
			}
		})
	}
}

func TestInfoCountedNeverFailed(t *testing.T) {
	h := (&hb{}).inv(0, "write", "", 7).info(0, "write", "", 7).inv(1, "write", "", 8).fail(1, "write", "", 8).
		inv(2, "read", "", nil).ok(2, "read", "", 7)
	r := check(t, Register(), h.file())
	if r.Counts["info"] != 1 || r.Counts["fail"] != 1 || r.Counts["ok"] != 1 || r.Counts["ops"] != 3 {
		t.Fatalf("counts %v", r.Counts)
	}
}

func TestWitness(t *testing.T) {
	h := (&hb{}).inv(0, "write", "x", 1).ok(0, "write", "x", 1).fault("kill", "n2").
		inv(0, "write", "x", 2).ok(0, "write", "x", 2).inv(1, "read", "x", nil).ok(1, "read", "x", 1)
	r := check(t, KV(CASRegister()), h.file(), WithReadMapping(false))
	if r.Valid != checkers.Invalid || len(r.Anomalies) != 1 {
		t.Fatalf("got %+v", r)
	}
	a := r.Anomalies[0]
	w := a.Data.(*Witness)
	if w.Key != "x" || w.Linearized != 2 || w.State != "2" || !strings.Contains(w.Stuck, "read() -> 1") {
		t.Fatalf("witness %+v", w)
	}
	if !strings.Contains(a.Message, `key "x"`) || !strings.Contains(a.Message, "read() -> 1") {
		t.Fatalf("message %q", a.Message)
	}
	if a.Fault == nil || a.Fault.F != "kill" {
		t.Fatalf("fault %+v", a.Fault)
	}
	if len(a.Ops) == 0 || a.Ops[0].F != "read" {
		t.Fatalf("ops %v", a.Ops)
	}
}

func TestBadInputIsUnknown(t *testing.T) {
	for name, h := range map[string]*hb{
		"unknown op":       (&hb{}).inv(0, "increment", "", 1).ok(0, "increment", "", 1),
		"non-number write": (&hb{}).inv(0, "write", "", "x").ok(0, "write", "", "x"),
		"bad cas":          (&hb{}).inv(0, "cas", "", []int{1}).ok(0, "cas", "", []int{1}),
		"orphan complete":  (&hb{}).ok(0, "read", "", 1),
	} {
		r := check(t, CASRegister(), h.file())
		if r.Valid != checkers.Unknown || r.Error == "" {
			t.Errorf("%s: got %s %q", name, r.Valid, r.Error)
		}
	}
}

// hardHistory has many concurrent writes and reads no order explains,
// so porcupine must search a large space before it can say no.
func hardHistory(n int) *history.File {
	b := &hb{}
	for p := 0; p < n; p++ {
		b.inv(p, "write", "", p+1)
	}
	for p := 0; p < n; p++ {
		b.inv(n+p, "read", "", nil)
	}
	for p := 0; p < n; p++ {
		b.ok(n+p, "read", "", 1000+p)
	}
	for p := 0; p < n; p++ {
		b.ok(p, "write", "", p+1)
	}
	return b.file()
}

func TestTimeoutIsUnknown(t *testing.T) {
	h := hardHistory(40)
	start := time.Now()
	r := check(t, Register(), h, WithTimeout(50*time.Millisecond), WithReadMapping(false))
	if r.Valid != checkers.Unknown {
		t.Fatalf("verdict %s (%s), want unknown", r.Valid, r.Summary)
	}
	if !strings.Contains(r.Error, "timed out") {
		t.Fatalf("error %q", r.Error)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %s to give up", d)
	}
}

func TestCancelIsUnknown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	r := New(Register(), WithReadMapping(false)).Check(ctx, hardHistory(40))
	if r.Valid != checkers.Unknown {
		t.Fatalf("verdict %s, want unknown", r.Valid)
	}
}

func TestVisualizationWritten(t *testing.T) {
	dir := t.TempDir()
	h := (&hb{}).inv(0, "write", "x", 1).ok(0, "write", "x", 1).inv(1, "read", "x", nil).ok(1, "read", "x", 2).
		inv(0, "write", "y", 1).ok(0, "write", "y", 1).inv(1, "read", "y", nil).ok(1, "read", "y", 1)
	hf := h.file()
	hf.ArtifactDir = dir
	r := check(t, KV(CASRegister()), hf)
	if r.Valid != checkers.Invalid {
		t.Fatalf("verdict %s", r.Valid)
	}
	if _, err := os.Stat(filepath.Join(dir, "linearizable-x.html")); err != nil {
		t.Fatalf("failing key not drawn: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "linearizable-y.html")); err == nil {
		t.Fatalf("passing key drawn")
	}
}

// longStale is a long sequential history of writes and reads on one key
// that ends in a stale read.
func longStale(n int) *hb {
	b := &hb{}
	for i := 1; i <= n; i++ {
		b.inv(0, "write", "k", i).ok(0, "write", "k", i).inv(1, "read", "k", nil).ok(1, "read", "k", i)
	}
	return b.inv(1, "read", "k", nil).ok(1, "read", "k", n-1)
}

func TestVisualizationCapped(t *testing.T) {
	dir := t.TempDir()
	hf := longStale(3000).file()
	hf.ArtifactDir = dir
	const cap = 200 << 10
	r := check(t, KV(CASRegister()), hf, WithMaxVisualizationBytes(cap), WithReadMapping(false))
	if r.Valid != checkers.Invalid {
		t.Fatalf("verdict %s", r.Valid)
	}
	w := r.Anomalies[0].Data.(*Witness)
	st, err := os.Stat(filepath.Join(dir, "linearizable-k.html"))
	if err != nil {
		t.Fatalf("no visualization (%s): %v", w.VisualizationNote, err)
	}
	if st.Size() > cap {
		t.Fatalf("visualization %d bytes, over the cap of %d", st.Size(), cap)
	}
	if !strings.Contains(w.VisualizationNote, "window") {
		t.Fatalf("note %q does not say it is a window", w.VisualizationNote)
	}
	// With room to spare, the whole partition is drawn.
	r = check(t, KV(CASRegister()), hf, WithMaxVisualizationBytes(64<<20), WithReadMapping(false))
	if w := r.Anomalies[0].Data.(*Witness); w.VisualizationNote != "the whole partition" {
		t.Fatalf("note %q", w.VisualizationNote)
	}
}

func TestVisualizationCapWithoutWindow(t *testing.T) {
	dir := t.TempDir()
	b := &hb{}
	for range 3000 {
		b.inv(0, "acquire", "", nil).ok(0, "acquire", "", nil).inv(0, "release", "", nil).ok(0, "release", "", nil)
	}
	b.inv(1, "release", "", nil).ok(1, "release", "", nil)
	hf := b.file()
	hf.ArtifactDir = dir
	r := check(t, Mutex(), hf, WithMaxVisualizationBytes(100<<10))
	if r.Valid != checkers.Invalid {
		t.Fatalf("verdict %s", r.Valid)
	}
	w := r.Anomalies[0].Data.(*Witness)
	if w.Visualization != "" || !strings.Contains(w.VisualizationNote, "cap") {
		t.Fatalf("visualization %q, note %q", w.Visualization, w.VisualizationNote)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("files written: %v", ents)
	}
}

func TestIntPair(t *testing.T) {
	for in, want := range map[string][3]int64{
		"[1,2]": {1, 2, 1}, " [ -3 , 4 ] ": {-3, 4, 1}, "[1.0,2]": {0, 0, 0}, "[1,2,3]": {0, 0, 0},
		"[1]": {0, 0, 0}, `["1",2]`: {0, 0, 0}, "null": {0, 0, 0}, "[1,x]": {0, 0, 0},
	} {
		a, b, ok := intPair(json.RawMessage(in))
		if ok != (want[2] == 1) || ok && (a != want[0] || b != want[1]) {
			t.Errorf("%s: %d %d %v", in, a, b, ok)
		}
	}
}

func FuzzIntPair(f *testing.F) {
	f.Add("[1,2]")
	f.Add("[9223372036854775807, -9223372036854775808]")
	f.Fuzz(func(t *testing.T, s string) {
		a, b, ok := intPair(json.RawMessage(s))
		var ab []int64
		err := json.Unmarshal([]byte(s), &ab)
		if ok && err == nil && (len(ab) != 2 || ab[0] != a || ab[1] != b) {
			t.Fatalf("%q: got %d %d, json says %v", s, a, b, ab)
		}
	})
}

func TestMemoryBudgetIsUnknown(t *testing.T) {
	start := time.Now()
	r := check(t, Register(), hardHistory(40), WithReadMapping(false), WithMemoryBudget(1))
	if r.Valid != checkers.Unknown || !strings.Contains(r.Error, "memory budget") {
		t.Fatalf("verdict %s (%s), want unknown naming the memory budget", r.Valid, r.Error)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("took %s to give up", d)
	}
	// The budget comes from the context as well.
	ctx := checkers.WithMemoryBudget(context.Background(), 1)
	if r := New(Register(), WithReadMapping(false)).Check(ctx, hardHistory(40)); r.Valid != checkers.Unknown || !strings.Contains(r.Error, "memory budget") {
		t.Fatalf("verdict %s (%s)", r.Valid, r.Error)
	}
}
