package gen

import (
	"reflect"
	"testing"
	"time"

	"github.com/chaostest/chaos/history"
)

func drain(g Generator, c *Context, max int) []string {
	var out []string
	for i := 0; i < max; i++ {
		op, ok := g.Next(c)
		if !ok {
			break
		}
		out = append(out, op.F)
	}
	return out
}

func TestCombinators(t *testing.T) {
	c := &Context{Rand: NewRand(1, "t", 0)}
	g := Seq(Limit(2, Repeat(history.Op{F: "a"})), Ops(history.Op{F: "b"}, history.Op{F: "c"}))
	if got := drain(g, c, 10); !reflect.DeepEqual(got, []string{"a", "a", "b", "c"}) {
		t.Fatalf("got %v", got)
	}
	tl := TimeLimit(time.Second, Repeat(history.Op{F: "x"}))
	if _, ok := tl.Next(&Context{Elapsed: 2 * time.Second}); ok {
		t.Fatal("TimeLimit ran past its limit")
	}
}

func TestMixIsSeededAndWeighted(t *testing.T) {
	mix := func(seed int64) []string {
		g := Mix(Weighted{3, Repeat(history.Op{F: "read"})}, Weighted{1, Repeat(history.Op{F: "write"})})
		return drain(g, &Context{Rand: NewRand(seed, "worker", 0)}, 4000)
	}
	a, b := mix(5), mix(5)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed mixed differently")
	}
	if reflect.DeepEqual(a, mix(6)) {
		t.Fatal("different seeds mixed the same")
	}
	reads := 0
	for _, f := range a {
		if f == "read" {
			reads++
		}
	}
	if reads < 2800 || reads > 3200 {
		t.Fatalf("%d reads of 4000 with weight 3:1", reads)
	}
	// An exhausted generator drops out of the mix.
	g := Mix(Weighted{1, Limit(1, Repeat(history.Op{F: "once"}))}, Weighted{1, Limit(3, Repeat(history.Op{F: "thrice"}))})
	if got := drain(g, &Context{Rand: NewRand(1, "w", 0)}, 10); len(got) != 4 {
		t.Fatalf("got %v", got)
	}
}

func TestStreamsAreIndependent(t *testing.T) {
	if NewRand(1, "worker", 0).Uint64() == NewRand(1, "worker", 1).Uint64() {
		t.Fatal("two workers share a stream")
	}
	if NewRand(1, "worker", 0).Uint64() == NewRand(1, "nemesis", 0).Uint64() {
		t.Fatal("worker and nemesis share a stream")
	}
}
