package convergence

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

var start = time.Unix(1_800_000_000, 0)

// builder writes a history by hand: each call appends an invoke and its
// completion, at the times given in milliseconds since the start.
type builder struct {
	ops   []history.Op
	nodes []string
}

func newBuilder(nodes ...string) *builder { return &builder{nodes: nodes} }

func (b *builder) add(p int, f, key, node string, v json.RawMessage, t history.Type, done json.RawMessage, invMS, doneMS int64) {
	b.ops = append(b.ops,
		history.Op{Index: int64(len(b.ops)), Process: p, Type: history.Invoke, F: f, Key: key, Node: node, Value: v, Time: invMS * 1e6})
	if t != "" {
		b.ops = append(b.ops,
			history.Op{Index: int64(len(b.ops)), Process: p, Type: t, F: f, Key: key, Node: node, Value: done, Time: doneMS * 1e6})
	}
}

func wr(v int64, hlc uint64, origin string) json.RawMessage {
	return history.JSON(map[string]any{"value": v, "hlc": hlc, "origin": origin})
}

// write adds a write of v to key through node with version (hlc, node).
func (b *builder) write(p int, key, node string, v int64, t history.Type, hlc uint64, at int64) {
	var done json.RawMessage
	if t == history.OK {
		done = wr(v, hlc, node)
	}
	b.add(p, "write", key, node, history.Int(v), t, done, at, at+1)
}

func (b *builder) read(p int, key, node, v string, at int64) {
	b.add(p, "read", key, node, nil, history.OK, json.RawMessage(v), at, at+1)
}

func (b *builder) fault(f string, at int64) {
	v := history.JSON(map[string]any{"topology": f})
	b.ops = append(b.ops, history.Op{Index: int64(len(b.ops)), Process: history.NemesisProcess, Type: history.Invoke, F: f, Value: v, Time: at * 1e6},
		history.Op{Index: int64(len(b.ops) + 1), Process: history.NemesisProcess, Type: history.OK, F: f, Value: v, Time: at * 1e6})
}

type held struct {
	key    string
	value  string
	hlc    uint64
	origin string
	atMS   int64 // when the node took it, ms since start
}

// dump adds node's final state; log lists versions in the order taken.
func (b *builder) dump(p int, node string, at int64, log ...held) {
	cur := map[string]held{}
	var keys []string
	logs := map[string][]map[string]any{}
	for _, h := range log {
		if _, ok := cur[h.key]; !ok {
			keys = append(keys, h.key)
		}
		cur[h.key] = h
		logs[h.key] = append(logs[h.key], map[string]any{"value": h.value, "hlc": h.hlc, "origin": h.origin,
			"at": start.UnixNano() + h.atMS*1e6})
	}
	var entries []map[string]any
	for _, k := range keys {
		h := cur[k]
		entries = append(entries, map[string]any{"key": k, "value": h.value, "hlc": h.hlc, "origin": h.origin})
	}
	v := history.JSON(map[string]any{"node": node, "entries": entries, "log": logs, "quiesced": true,
		"counters": map[string]any{"sent": map[string]int64{"push": 10, "feedback": 2}}})
	b.add(p, "dump", "", node, nil, history.OK, v, at, at+1)
}

func (b *builder) check(t *testing.T) checkers.Result {
	t.Helper()
	h := &history.File{Header: history.Header{Nodes: b.nodes, Start: start}, Ops: b.ops}
	r := checkers.Run(context.Background(), h, []checkers.Checker{New()}).Checkers["convergence"]
	t.Logf("%s: %s", r.Valid, r.Summary)
	return r
}

func TestConvergedHistoryIsValid(t *testing.T) {
	b := newBuilder("n1", "n2")
	b.write(0, "k", "n1", 1, history.OK, 100, 10)
	b.write(1, "k", "n2", 2, history.OK, 200, 20) // concurrent with nothing, newer
	b.read(0, "k", "n1", "1", 30)                 // stale: 2 was acknowledged at 21
	b.read(1, "k", "n2", "2", 30)
	b.fault("heal", 40)
	log := []held{{"k", "1", 100, "n1", 11}, {"k", "2", 200, "n2", 60}}
	b.dump(0, "n1", 100, log...)
	b.dump(1, "n2", 100, held{"k", "2", 200, "n2", 21})
	r := b.check(t)
	if r.Valid != checkers.Valid {
		t.Fatalf("want valid: %+v", r)
	}
	d := r.Details.(Details)
	if d.StaleReads != 1 || d.Converged != 2 {
		t.Fatalf("stale %d converged %d, want 1 and 2", d.StaleReads, d.Converged)
	}
	// Write 2 acknowledged at 21ms, last node (n1) took it at 60ms.
	if got := d.ConvergenceMS["max"]; got != 39 {
		t.Fatalf("convergence max %.1fms, want 39", got)
	}
	if d.MessagesPerOp != 24.0/4 {
		t.Fatalf("messages per op %.2f, want 6", d.MessagesPerOp)
	}
}

func TestDisagreementNamesKeyAndNodes(t *testing.T) {
	b := newBuilder("n1", "n2", "n3")
	b.write(0, "k", "n1", 1, history.OK, 100, 10)
	b.write(1, "k", "n3", 2, history.OK, 200, 10)
	b.fault("partition", 30)
	b.fault("heal", 40)
	b.dump(0, "n1", 100, held{"k", "1", 100, "n1", 11})
	b.dump(1, "n2", 100, held{"k", "1", 100, "n1", 12})
	b.dump(2, "n3", 100, held{"k", "2", 200, "n3", 11})
	r := b.check(t)
	if r.Valid != checkers.Invalid || r.AnomalyCounts["disagreement"] != 1 {
		t.Fatalf("want one disagreement: %+v", r)
	}
	a := r.Anomalies[0]
	for _, s := range []string{"disagree on k", "n1,n2 hold 1", "n3 hold 2"} {
		if !strings.Contains(a.Message, s) {
			t.Errorf("witness %q lacks %q", a.Message, s)
		}
	}
	if a.Fault == nil || a.Fault.F != "partition" || len(a.Nodes) != 3 {
		t.Errorf("witness fault %v nodes %v", a.Fault, a.Nodes)
	}
}

func TestAcknowledgedWriteLost(t *testing.T) {
	b := newBuilder("n1", "n2")
	b.write(0, "k", "n1", 1, history.OK, 300, 10) // newest, acknowledged
	b.write(1, "k", "n2", 2, history.OK, 200, 10)
	b.dump(0, "n1", 100, held{"k", "2", 200, "n2", 11})
	b.dump(1, "n2", 100, held{"k", "2", 200, "n2", 11})
	r := b.check(t)
	if r.Valid != checkers.Invalid || r.AnomalyCounts["lost-write"] != 1 {
		t.Fatalf("want lost-write: %+v", r)
	}
	if !strings.Contains(r.Anomalies[0].Message, "acknowledged write of 1") {
		t.Fatalf("witness: %s", r.Anomalies[0].Message)
	}
}

func TestKeyNobodyHolds(t *testing.T) {
	b := newBuilder("n1", "n2")
	b.write(0, "k", "n1", 1, history.OK, 300, 10)
	b.dump(0, "n1", 100)
	b.dump(1, "n2", 100)
	r := b.check(t)
	if r.Valid != checkers.Invalid || r.AnomalyCounts["lost-write"] != 1 {
		t.Fatalf("want lost-write: %+v", r)
	}
}

func TestIndeterminateWrites(t *testing.T) {
	// An info write that nobody saw is neither required nor forbidden.
	b := newBuilder("n1", "n2")
	b.write(0, "k", "n1", 1, history.OK, 100, 10)
	b.write(1, "k", "n2", 2, history.Info, 0, 10)
	b.dump(0, "n1", 100, held{"k", "1", 100, "n1", 11})
	b.dump(2, "n2", 100, held{"k", "1", 100, "n1", 12})
	if r := b.check(t); r.Valid != checkers.Valid {
		t.Fatalf("unseen info write: %+v", r)
	}

	// An info write that took effect wins like any other.
	b = newBuilder("n1", "n2")
	b.write(0, "k", "n1", 1, history.OK, 100, 10)
	b.write(1, "k", "n2", 2, history.Info, 0, 10)
	b.dump(0, "n1", 100, held{"k", "1", 100, "n1", 11}, held{"k", "2", 200, "n2", 15})
	b.dump(2, "n2", 100, held{"k", "2", 200, "n2", 12})
	if r := b.check(t); r.Valid != checkers.Valid {
		t.Fatalf("visible info write as winner: %+v", r)
	}

	// A visible info write newer than the final value was lost.
	b = newBuilder("n1", "n2")
	b.write(0, "k", "n1", 1, history.OK, 100, 10)
	b.write(1, "k", "n2", 2, history.Info, 0, 10)
	b.dump(0, "n1", 100, held{"k", "1", 100, "n1", 11})
	b.dump(2, "n2", 100, held{"k", "2", 200, "n2", 12}, held{"k", "1", 300, "n1", 13})
	b.ops[len(b.ops)-1].Value = func() json.RawMessage {
		// n2 ends on an entry older than what its log shows it saw.
		return history.JSON(map[string]any{"node": "n2", "quiesced": true,
			"entries": []map[string]any{{"key": "k", "value": "1", "hlc": 100, "origin": "n1"}},
			"log":     map[string]any{"k": []map[string]any{{"value": "2", "hlc": 200, "origin": "n2", "at": 1}}}})
	}()
	if r := b.check(t); r.Valid != checkers.Invalid || r.AnomalyCounts["lww-violation"] != 1 {
		t.Fatalf("want lww-violation: %+v", r)
	}
}

func TestFailedWriteMustNotBeSeen(t *testing.T) {
	b := newBuilder("n1")
	b.write(0, "k", "n1", 1, history.Fail, 0, 10)
	b.read(1, "k", "n1", "1", 20)
	b.dump(0, "n1", 100, held{"k", "1", 100, "n1", 11})
	r := b.check(t)
	if r.Valid != checkers.Invalid || r.AnomalyCounts["phantom-read"] != 1 || r.AnomalyCounts["phantom-value"] != 1 {
		t.Fatalf("want phantom read and value: %+v", r)
	}
}

func TestMissingDumpIsUnknown(t *testing.T) {
	b := newBuilder("n1", "n2")
	b.write(0, "k", "n1", 1, history.OK, 100, 10)
	b.dump(0, "n1", 100, held{"k", "1", 100, "n1", 11})
	b.add(1, "dump", "", "n2", nil, history.Info, nil, 100, 200)
	r := b.check(t)
	if r.Valid != checkers.Unknown || !strings.Contains(r.Error, "n2") {
		t.Fatalf("want unknown naming n2: %+v", r)
	}
}

func TestEmptyHistoryIsUnknown(t *testing.T) {
	if r := newBuilder("n1").check(t); r.Valid != checkers.Unknown {
		t.Fatalf("empty history: %+v", r)
	}
	if r := newBuilder().check(t); r.Valid != checkers.Unknown {
		t.Fatalf("empty history without nodes: %+v", r)
	}
}

func TestMalformedHistoryIsUnknown(t *testing.T) {
	b := newBuilder("n1")
	b.add(0, "write", "k", "n1", json.RawMessage(`"x"`), history.OK, nil, 1, 2)
	if r := b.check(t); r.Valid != checkers.Unknown {
		t.Fatalf("non-numeric write: %+v", r)
	}
	b = newBuilder("n1")
	b.add(0, "dump", "", "n1", nil, history.OK, json.RawMessage(`[1,2]`), 1, 2)
	if r := b.check(t); r.Valid != checkers.Unknown {
		t.Fatalf("undecodable dump: %+v", r)
	}
}

// FuzzCheck feeds arbitrary dump and write values: the checker must never
// panic, and never call a history it cannot read valid.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"node":"n1","entries":[{"key":"k","value":"1","hlc":1,"origin":"n1"}],"log":{"k":[{"value":"1","hlc":1,"origin":"n1","at":5}]}}`), []byte(`{"value":1,"hlc":1,"origin":"n1"}`), []byte(`1`))
	f.Add([]byte(`{}`), []byte(`null`), []byte(`null`))
	f.Add([]byte(`{"entries":[{"key":"k","deleted":true}]}`), []byte(`{"hlc":-1}`), []byte(`"x"`))
	f.Fuzz(func(t *testing.T, dump, written, read []byte) {
		b := newBuilder("n1")
		b.add(0, "write", "k", "n1", history.Int(1), history.OK, json.RawMessage(written), 1, 2)
		b.add(0, "read", "k", "n1", nil, history.OK, json.RawMessage(read), 3, 4)
		b.add(0, "dump", "", "n1", nil, history.OK, json.RawMessage(dump), 5, 6)
		h := &history.File{Header: history.Header{Nodes: b.nodes, Start: start}, Ops: b.ops}
		r := New().Check(context.Background(), h)
		if r.Valid == checkers.Valid && !json.Valid(dump) {
			t.Fatalf("valid verdict on an undecodable dump %q", dump)
		}
		_ = fmt.Sprint(r.Summary)
	})
}

// BenchmarkCheck shows the checker's cost growing about linearly with the
// history: n writes and n reads over 8 keys, 5 nodes whose logs hold every
// write.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("ops=%d", 2*n), func(b *testing.B) {
			nodes := []string{"n1", "n2", "n3", "n4", "n5"}
			bl := newBuilder(nodes...)
			var log []held
			for i := range n {
				key := fmt.Sprintf("k%d", i%8)
				node := nodes[i%5]
				at := int64(i) * 2
				bl.write(i%10, key, node, int64(i+1), history.OK, uint64(i+1), at)
				prev := "null" // the key's previous value: a stale read
				if i >= 8 {
					prev = fmt.Sprint(i - 8 + 1)
				}
				bl.read(10+i%10, key, node, prev, at+1)
				log = append(log, held{key, fmt.Sprint(i + 1), uint64(i + 1), node, at + 1})
			}
			for i, nd := range nodes {
				bl.dump(20+i, nd, int64(2*n+10), log...)
			}
			h := &history.File{Header: history.Header{Nodes: nodes, Start: start}, Ops: bl.ops}
			for b.Loop() {
				if r := New().Check(context.Background(), h); r.Valid != checkers.Valid {
					b.Fatalf("%s: %s", r.Valid, r.Summary)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(bl.ops)), "ns/record")
		})
	}
}
