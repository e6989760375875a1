package redis

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/chaostest/chaos/core"
)

func TestPerNode(t *testing.T) {
	for _, c := range []struct{ spec, node, want string }{
		{"", "n1", "no"}, {"yes", "n1", "yes"}, {"n3=no,yes", "n3", "no"}, {"n3=no,yes", "n1", "yes"}, {"yes,n3=no", "n3", "no"},
	} {
		got, err := perNode(c.spec, c.node, "no", "yes", "no")
		if err != nil || got != c.want {
			t.Errorf("perNode(%q, %s) = %q, %v; want %q", c.spec, c.node, got, err, c.want)
		}
	}
	if _, err := perNode("maybe", "n1", "no", "yes", "no"); err == nil {
		t.Error("perNode accepted a value outside the choices")
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, p := range []core.Params{
		{"redis-lock": "paxos"}, {"redis-node-timeout": "0s"}, {"redis-drift-factor": "2"},
		{"redis-appendonly": "sometimes"}, {"redis-appendfsync": "n1=never"}, {"redis-replicas": "n2"},
		{"redis-server": "/nonexistent/redis-server"}, {"redis-fencing": "perhaps"},
	} {
		if _, err := ParseConfig(p); err == nil {
			t.Errorf("%v: no error", p)
		}
	}
}

func TestScriptPlanIgnoresSeed(t *testing.T) {
	plan := func(seed uint64) []string {
		steps, err := scriptSteps("redlock-crash-restart")
		if err != nil {
			t.Fatal(err)
		}
		s := NewScript("x", steps, nil)
		rng := rand.New(rand.NewPCG(seed, seed))
		var out []string
		for i := 0; i < 3; i++ {
			op := s.Next(rng, []string{"n1", "n2", "n3", "n4", "n5"})
			out = append(out, op.F+" "+op.Node+" "+string(op.Value))
		}
		heal := s.HealOps(nil)
		if len(heal) != 1 || heal[0].F != "heal" {
			t.Fatalf("heal ops %v, want one heal", heal)
		}
		return out
	}
	if a, b := plan(1), plan(99); !reflect.DeepEqual(a, b) {
		t.Fatalf("plans differ by seed:\n%v\n%v", a, b)
	}
	if _, err := scriptSteps("no-such"); err == nil {
		t.Fatal("unknown script accepted")
	}
}

func TestCutListsBothDirections(t *testing.T) {
	got := Cut([]string{"c0"}, []string{"n4"})
	want := []core.Link{{From: "c0", To: "n4"}, {From: "n4", To: "c0"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Cut = %v, want %v", got, want)
	}
}
