package txn

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// hb builds histories by hand: every call appends records with increasing
// times, so the record order is the real-time order.
type hb struct {
	ops  []history.Op
	open map[int]int // process -> invocation record
}

func newHB() *hb { return &hb{open: map[int]int{}} }

func (b *hb) rec(op history.Op) {
	op.Index = int64(len(b.ops))
	op.Time = int64(len(b.ops)+1) * 1000
	b.ops = append(b.ops, op)
}

// inv opens a transaction of process p with the micro-operations of its
// completion value (reads become null in the invocation).
func (b *hb) inv(p int, value string) {
	var mops [][]any
	if err := json.Unmarshal([]byte(value), &mops); err != nil {
		panic(err)
	}
	for _, m := range mops {
		if m[0] == "r" {
			m[2] = nil
		}
	}
	b.open[p] = len(b.ops)
	b.rec(history.Op{Process: p, Type: history.Invoke, F: F, Value: history.JSON(mops)})
}

// done completes process p's open transaction.
func (b *hb) done(p int, typ history.Type, value string) {
	op := history.Op{Process: p, Type: typ, F: F}
	if value != "" {
		op.Value = json.RawMessage(value)
	} else {
		op.Value = b.ops[b.open[p]].Value
	}
	delete(b.open, p)
	b.rec(op)
}

// txn records a transaction that runs alone.
func (b *hb) txn(p int, typ history.Type, value string) {
	b.inv(p, value)
	if typ == history.OK {
		b.done(p, typ, value)
	} else {
		b.done(p, typ, "")
	}
}

func (b *hb) file() *history.File {
	return &history.File{Header: history.Header{Format: history.Format}, Ops: b.ops}
}

func check(t *testing.T, b *hb, m Model) checkers.Result {
	t.Helper()
	return New(ListAppend, WithModel(m)).Check(context.Background(), b.file())
}

func models(r checkers.Result) (sat, vio []string) {
	d, _ := r.Details.(map[string]any)
	s, _ := d["satisfies"].([]string)
	v, _ := d["violates"].([]string)
	return s, v
}

func TestHandBuilt(t *testing.T) {
	ok, fail, info := history.OK, history.Fail, history.Info
	cases := []struct {
		name      string
		build     func(b *hb)
		anomalies []string // kinds that must be reported
		strongest string   // strongest model satisfied, "" for none
	}{
		{"serial", func(b *hb) {
			b.txn(0, ok, `[["append","x",1]]`)
			b.txn(1, ok, `[["r","x",[1]],["append","x",2]]`)
			b.txn(0, ok, `[["r","x",[1,2]]]`)
		}, nil, "strict-serializable"},
		{"G0 write cycle", func(b *hb) {
			b.inv(0, `[["append","x",1],["append","y",1]]`)
			b.inv(1, `[["append","x",2],["append","y",2]]`)
			b.done(0, ok, `[["append","x",1],["append","y",1]]`)
			b.done(1, ok, `[["append","x",2],["append","y",2]]`)
			b.txn(2, ok, `[["r","x",[1,2]],["r","y",[2,1]]]`)
		}, []string{G0}, ""},
		{"G1a aborted read", func(b *hb) {
			b.txn(0, fail, `[["append","x",1]]`)
			b.txn(1, ok, `[["r","x",[1]]]`)
		}, []string{G1a}, ""},
		{"G1b intermediate read", func(b *hb) {
			b.inv(0, `[["append","x",1],["append","x",2]]`)
			b.txn(1, ok, `[["r","x",[1]]]`)
			b.done(0, ok, `[["append","x",1],["append","x",2]]`)
			b.txn(1, ok, `[["r","x",[1,2]]]`)
		}, []string{G1b}, ""},
		{"G1c circular information flow", func(b *hb) {
			b.inv(0, `[["append","x",1],["r","y",[1]]]`)
			b.inv(1, `[["append","y",1],["r","x",[1]]]`)
			b.done(0, ok, `[["append","x",1],["r","y",[1]]]`)
			b.done(1, ok, `[["append","y",1],["r","x",[1]]]`)
		}, []string{G1c}, ""},
		{"G-single read skew", func(b *hb) {
			b.inv(0, `[["r","x",[]],["r","y",[1]]]`)
			b.txn(1, ok, `[["append","x",1],["append","y",1]]`)
			b.done(0, ok, `[["r","x",[]],["r","y",[1]]]`)
			b.txn(1, ok, `[["r","x",[1]]]`)
		}, []string{GSingle}, "read-committed"},
		{"G2-item write skew", func(b *hb) {
			b.inv(0, `[["r","x",[]],["append","y",1]]`)
			b.inv(1, `[["r","y",[]],["append","x",1]]`)
			b.done(0, ok, `[["r","x",[]],["append","y",1]]`)
			b.done(1, ok, `[["r","y",[]],["append","x",1]]`)
			b.txn(2, ok, `[["r","x",[1]],["r","y",[1]]]`)
		}, []string{G2Item}, "snapshot-isolation"},
		{"lost update", func(b *hb) {
			b.inv(0, `[["r","x",[]],["append","x",1]]`)
			b.inv(1, `[["r","x",[]],["append","x",2]]`)
			b.done(0, ok, `[["r","x",[]],["append","x",1]]`)
			b.done(1, ok, `[["r","x",[]],["append","x",2]]`)
			b.txn(2, ok, `[["r","x",[1,2]]]`)
		}, []string{LostUpdate, GSingle}, "read-committed"},
		{"stale read after completion", func(b *hb) {
			b.txn(0, ok, `[["append","x",1]]`)
			b.txn(1, ok, `[["r","x",[]]]`)
			b.txn(2, ok, `[["r","x",[1]]]`)
		}, []string{GSingleRT}, "serializable"},
		{"non-repeatable read", func(b *hb) {
			b.inv(0, `[["r","x",[]],["r","x",[1]]]`)
			b.txn(1, ok, `[["append","x",1]]`)
			b.done(0, ok, `[["r","x",[]],["r","x",[1]]]`)
		}, []string{GSingle}, "read-committed"},
		{"blind to its own append", func(b *hb) {
			b.txn(0, ok, `[["append","x",1],["r","x",[]]]`)
		}, []string{Internal}, ""},
		{"incompatible orders", func(b *hb) {
			b.txn(0, ok, `[["append","x",1]]`)
			b.txn(1, ok, `[["append","x",2]]`)
			b.txn(2, ok, `[["r","x",[1,2]]]`)
			b.txn(3, ok, `[["r","x",[2,1]]]`)
		}, []string{IncompatibleOrd}, ""},
		{"garbage read", func(b *hb) {
			b.txn(0, ok, `[["r","x",[9]]]`)
		}, []string{GarbageRead}, ""},
		{"duplicate element", func(b *hb) {
			b.txn(0, ok, `[["append","x",1]]`)
			b.txn(1, ok, `[["r","x",[1,1]]]`)
		}, []string{DuplicateElement}, ""},
		{"info never seen is left out", func(b *hb) {
			b.txn(0, info, `[["append","x",5]]`)
			b.txn(1, ok, `[["r","x",[]]]`)
		}, nil, "strict-serializable"},
		{"info seen committed", func(b *hb) {
			b.txn(0, info, `[["append","x",5],["append","y",6]]`)
			b.txn(1, ok, `[["r","x",[5]],["r","y",[]]]`)
		}, []string{GSingle}, "read-committed"},
		{"own appends seen", func(b *hb) {
			b.txn(0, ok, `[["append","x",1],["r","x",[1]],["append","x",2],["r","x",[1,2]]]`)
			b.txn(1, ok, `[["r","x",[1,2]],["append","x",3]]`)
		}, nil, "strict-serializable"},
		{"unseen append after every read", func(b *hb) {
			b.txn(0, ok, `[["append","x",1]]`)
			b.txn(1, ok, `[["r","x",[1]]]`)
			b.txn(2, ok, `[["append","x",2]]`)
		}, nil, "strict-serializable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newHB()
			c.build(b)
			r := check(t, b, StrictSerializable)
			for _, k := range c.anomalies {
				if r.AnomalyCounts[k] == 0 {
					t.Errorf("want %s; got %v: %s", k, r.AnomalyCounts, r.Summary)
				}
			}
			if len(c.anomalies) == 0 && len(r.AnomalyCounts) > 0 {
				t.Errorf("want no anomaly; got %v: %s", r.AnomalyCounts, r.Summary)
			}
			d, _ := r.Details.(map[string]any)
			got, _ := d["strongest_satisfied"].(string)
			if got != c.strongest {
				t.Errorf("strongest model satisfied %q, want %q (%s)", got, c.strongest, r.Summary)
			}
			want := checkers.Valid
			if c.strongest != "strict-serializable" {
				want = checkers.Invalid
			}
			if r.Valid != want {
				t.Errorf("verdict %v, want %v: %s %s", r.Valid, want, r.Summary, r.Error)
			}
			for _, an := range r.Anomalies {
				if an.Message == "" || len(an.Ops) == 0 {
					t.Errorf("anomaly %s without a witness: %+v", an.Kind, an)
				}
			}
		})
	}
}

func TestWitnessExplainsEveryEdge(t *testing.T) {
	b := newHB()
	b.inv(0, `[["r","x",[]],["append","y",1]]`)
	b.inv(1, `[["r","y",[]],["append","x",1]]`)
	b.done(0, history.OK, `[["r","x",[]],["append","y",1]]`)
	b.done(1, history.OK, `[["r","y",[]],["append","x",1]]`)
	b.txn(2, history.OK, `[["r","x",[1]],["r","y",[1]]]`)
	r := check(t, b, Serializable)
	if r.Valid != checkers.Invalid || len(r.Anomalies) == 0 {
		t.Fatalf("want invalid with a witness: %+v", r)
	}
	msg := r.Anomalies[0].Message
	for _, want := range []string{"G2-item", "T0 -rw-> T1 -rw-> T0", "T0 read x without 1, which T1 appended next", "T1 read y without 1, which T0 appended next"} {
		if !strings.Contains(msg, want) {
			t.Errorf("witness %q lacks %q", msg, want)
		}
	}
	// Snapshot isolation allows write skew.
	if r := check(t, b, SnapshotIsolation); r.Valid != checkers.Valid {
		t.Errorf("snapshot isolation: %v %s", r.Valid, r.Summary)
	}
}

func TestNothingShownIsUnknown(t *testing.T) {
	for name, build := range map[string]func(b *hb){
		"empty":      func(*hb) {},
		"only fails": func(b *hb) { b.txn(0, history.Fail, `[["append","x",1]]`) },
		"no reads":   func(b *hb) { b.txn(0, history.OK, `[["append","x",1]]`) },
	} {
		b := newHB()
		build(b)
		if r := check(t, b, Serializable); r.Valid != checkers.Unknown {
			t.Errorf("%s: %v %s", name, r.Valid, r.Summary)
		}
	}
}

func TestContractBreaksAreUnknown(t *testing.T) {
	for name, build := range map[string]func(b *hb){
		"value appended twice": func(b *hb) {
			b.txn(0, history.OK, `[["append","x",1]]`)
			b.txn(1, history.OK, `[["append","x",1],["r","x",[1,1]]]`)
		},
		"not micro-operations": func(b *hb) {
			b.rec(history.Op{Process: 0, Type: history.Invoke, F: F, Value: json.RawMessage(`{"x":1}`)})
			b.rec(history.Op{Process: 0, Type: history.OK, F: F, Value: json.RawMessage(`{"x":1}`)})
		},
		"unknown micro-operation": func(b *hb) {
			b.txn(0, history.OK, `[["delete","x",1]]`)
		},
	} {
		b := newHB()
		build(b)
		r := check(t, b, Serializable)
		if r.Valid != checkers.Unknown || r.Error == "" {
			t.Errorf("%s: want unknown with a reason, got %v %q", name, r.Valid, r.Error)
		}
	}
}

func TestDecodeFastAndSlowAgree(t *testing.T) {
	for _, s := range []string{
		`[]`, `[["append","x",1]]`, `[["r","x",[1,2,3]],["append", "y", -4]]`,
		`[["r",3,null],["w",4,5],["r","k",7]]`, `[ [ "r" , "x" , [ ] ] ]`,
	} {
		d1, d2 := newDecoder(), newDecoder()
		fast, ok := (&parser{b: []byte(s)}).txn(d1, nil)
		if !ok {
			t.Errorf("fast path refused %s", s)
			continue
		}
		slow, err := d2.decodeSlow([]byte(s), nil)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if len(fast) != len(slow) {
			t.Fatalf("%s: %d vs %d micro-operations", s, len(fast), len(slow))
		}
		for i := range fast {
			f, w := fast[i], slow[i]
			if f.f != w.f || d1.names[f.key] != d2.names[w.key] || f.val != w.val || f.known != w.known || !equal(f.list, w.list) {
				t.Errorf("%s: micro-operation %d: fast %+v, slow %+v", s, i, f, w)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`[]`, `[["append","x",1]]`, `[["r","x",[1,2]]]`, `[["r",3,null]]`, `[["w","k",-1]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d1, d2 := newDecoder(), newDecoder()
		fast, ok := (&parser{b: b}).txn(d1, nil)
		slow, err := d2.decodeSlow(b, nil)
		if ok && err != nil {
			t.Fatalf("fast path accepted %q, slow path refused it: %v", b, err)
		}
		if ok && len(fast) != len(slow) {
			t.Fatalf("%q: %d vs %d micro-operations", b, len(fast), len(slow))
		}
	})
}
