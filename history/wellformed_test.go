package history

import (
	"errors"
	"strings"
	"testing"
)

func rec(i int64, p int, t Type, f string, tm int64) Op {
	return Op{Index: i, Process: p, Type: t, F: f, Time: tm}
}

func TestWellFormedRefusesBrokenProtocols(t *testing.T) {
	ok := func() []Op {
		return []Op{rec(0, 0, Invoke, "read", 1), rec(1, 0, OK, "read", 2)}
	}
	for name, tc := range map[string]struct {
		ops  func() []Op
		fs   []string
		want string
	}{
		"completion without invocation": {func() []Op { return []Op{rec(0, 0, OK, "read", 1)} }, nil, "no open invocation"},
		"double invocation": {func() []Op {
			return []Op{rec(0, 0, Invoke, "read", 1), rec(1, 0, Invoke, "read", 2)}
		}, nil, "still open"},
		"completion of another f": {func() []Op {
			return []Op{rec(0, 0, Invoke, "read", 1), rec(1, 0, OK, "write", 2)}
		}, nil, "invoked"},
		"completion on another node": {func() []Op {
			o := ok()
			o[0].Node, o[1].Node = "n1", "n2"
			return o
		}, nil, "node"},
		"completion of another key": {func() []Op {
			o := ok()
			o[0].Key, o[1].Key = "a", "b"
			return o
		}, nil, "key"},
		"duplicate index": {func() []Op {
			o := ok()
			o[1].Index = 0
			return o
		}, nil, "two records"},
		"indexes out of order": {func() []Op {
			return []Op{rec(1, 0, Invoke, "read", 1), rec(0, 0, OK, "read", 2)}
		}, nil, "out of order"},
		"negative index": {func() []Op { return []Op{rec(-1, 0, Invoke, "read", 1)} }, nil, "negative record index"},
		"negative time":  {func() []Op { return []Op{rec(0, 0, Invoke, "read", -5)} }, nil, "negative time"},
		"time backwards": {func() []Op {
			return []Op{rec(0, 0, Invoke, "read", 5), rec(1, 0, OK, "read", 4)}
		}, nil, "earlier than its invocation"},
		"unknown type":   {func() []Op { return []Op{rec(0, 0, "done", "read", 1)} }, nil, "type"},
		"no f":           {func() []Op { return []Op{rec(0, 0, Invoke, "", 1)} }, nil, "no operation name"},
		"bad process":    {func() []Op { return []Op{rec(0, -7, Invoke, "read", 1)} }, nil, "process -7"},
		"unknown f":      {func() []Op { return []Op{rec(0, 0, Invoke, "reed", 1)} }, []string{"read", "write"}, "contract"},
		"node not utf-8": {func() []Op { o := ok(); o[0].Node = "n\xff"; return o }, nil, "UTF-8"},
		"value not utf-8": {func() []Op {
			o := ok()
			o[1].Value = []byte("\"v\xfe\"")
			return o
		}, nil, "UTF-8"},
		"value surrogate": {func() []Op { o := ok(); o[1].Value = []byte(`"\udc00"`); return o }, nil, "surrogate"},
		"value not json":  {func() []Op { o := ok(); o[1].Value = []byte(`{`); return o }, nil, "not JSON"},
		"nemesis completion without invocation": {func() []Op {
			return []Op{rec(0, NemesisProcess, Info, "kill", 1)}
		}, nil, "nemesis"},
		"nemesis completion of another node": {func() []Op {
			a, b := rec(0, NemesisProcess, Invoke, "kill", 1), rec(1, NemesisProcess, OK, "kill", 2)
			a.Node, b.Node = "n1", "n2"
			return []Op{a, b}
		}, nil, "nemesis"},
	} {
		err := WellFormed(tc.ops(), tc.fs...)
		var me *MalformedError
		if !errors.As(err, &me) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want a MalformedError saying %q", name, err, tc.want)
		}
	}
	if err := WellFormed(ok(), "read"); err != nil {
		t.Errorf("well-formed history refused: %v", err)
	}
	if err := WellFormed(nil); err != nil {
		t.Errorf("empty history refused: %v", err)
	}
}

// Faults may overlap: a triggered fault is applied while a scheduled one
// is under way. Each completion closes the oldest open fault of its kind
// and node, so a failed fault is dropped even when another one was invoked
// before it completed.
func TestOverlappingFaultsPair(t *testing.T) {
	n := func(i int64, ty Type, f, node string) Op {
		o := rec(i, NemesisProcess, ty, f, i)
		o.Node = node
		return o
	}
	ops := []Op{
		n(0, Invoke, "clock-bump", "n1"),
		n(1, Invoke, "kill", "n2"),
		rec(2, 0, Invoke, "read", 2),
		n(3, Invoke, "clock-bump", "n3"),
		n(4, OK, "kill", "n2"),
		n(5, Fail, "clock-bump", "n1"),
		rec(6, 0, OK, "read", 6),
		n(7, Info, "clock-bump", "n3"),
	}
	if err := WellFormed(ops); err != nil {
		t.Fatal(err)
	}
	partner, err := PairIndex(ops)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{5, 4, 6, 7, 1, 0, 2, 3} {
		if partner[i] != want {
			t.Errorf("partner[%d] = %d, want %d", i, partner[i], want)
		}
	}
	var got []string
	for _, f := range Faults(ops) {
		got = append(got, f.F+" "+f.Node)
	}
	if strings.Join(got, ",") != "kill n2,clock-bump n3" {
		t.Errorf("faults = %v, want the kill and the second clock bump (the first failed)", got)
	}
	pairs, err := Pairs(ops)
	if err != nil || len(pairs) != 4 || pairs[0].Complete.Index != 5 || pairs[3].Complete.Index != 7 {
		t.Errorf("pairs = %v, %v", pairs, err)
	}
}
