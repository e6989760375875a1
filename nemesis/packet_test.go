package nemesis

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/runtime/linkproxy"
)

func packetInfo() core.NemesisInfo {
	return core.NemesisInfo{Name: "packet", Params: PacketParams, New: NewPacket}
}

// Each packet fault degrades both directions of every link that touches
// the chosen nodes, with the flags' shape, and the next op heals.
func TestPacketPlansAndApplies(t *testing.T) {
	n := newNemesis(t, packetInfo(), core.Params{"packet-delay": "50ms", "packet-jitter": "5ms",
		"packet-loss": "0.1", "packet-rate": "100000", "packet-targets": "one"})
	rng := rand.New(rand.NewPCG(1, 2))
	rt := &recorder{}
	op := n.Next(rng, nodes)
	if op.F != "packet" || op.Node == "" {
		t.Fatalf("first op %+v, want a packet fault on one node", op)
	}
	v, err := DecodePartitionValue(&op)
	if err != nil {
		t.Fatal(err)
	}
	want := linkproxy.Shape{Latency: 50 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.1, Rate: 100000}
	if v.Shape == nil || *v.Shape != want {
		t.Fatalf("shape %+v, want %+v", v.Shape, want)
	}
	if len(v.Shaped) != 6 {
		t.Fatalf("one node of three has 4 directed links to nodes and 2 to the clients, got %v", v.Shaped)
	}
	for _, l := range v.Shaped {
		if l.From != op.Node && l.To != op.Node {
			t.Errorf("link %v does not touch %s", l, op.Node)
		}
	}
	if got := n.Apply(context.Background(), rt, op); got.Type == history.Fail || got.Type == history.Info {
		t.Fatalf("apply: %+v", got)
	}
	if len(rt.calls) != 2 || rt.calls[0] != "heal" || !strings.HasPrefix(rt.calls[1], "shape ") {
		t.Fatalf("calls %v, want a heal then the shape", rt.calls)
	}
	if heal := n.Next(rng, nodes); heal.F != "heal" {
		t.Fatalf("second op %+v, want heal", heal)
	}
	// all: every link.
	n = newNemesis(t, packetInfo(), core.Params{"packet-targets": "all"})
	op = n.Next(rng, nodes)
	v, _ = DecodePartitionValue(&op)
	if len(v.Shaped) != 12 {
		t.Fatalf("all: %v, want 6 links between nodes and 6 to and from the clients", v.Shaped)
	}
}

// A runtime that cannot make a behaviour says so, and the fault is
// recorded as failed (it certainly did not happen), not as indeterminate.
func TestPacketUnsupportedFails(t *testing.T) {
	n := newNemesis(t, packetInfo(), core.Params{"packet-duplicate": "0.1"})
	op := n.Next(rand.New(rand.NewPCG(1, 2)), nodes)
	got := n.Apply(context.Background(), &refusing{}, op)
	if got.Type != history.Fail || !strings.Contains(got.Error, "not supported") {
		t.Fatalf("%+v, want fail: not supported", got)
	}
}

type refusing struct{ recorder }

func (r *refusing) ShapeLinks(context.Context, []core.Link, linkproxy.Shape) error {
	return core.ErrUnsupported
}

func TestPacketBadFlags(t *testing.T) {
	for _, p := range []core.Params{
		{"packet-loss": "1"}, {"packet-loss": "NaN"}, {"packet-delay": "-1s"},
		{"packet-rate": "-5"}, {"packet-targets": "everyone"}, {"packet-targets": ","},
		{"packet-delay": "0s"}, {"packet-delay": "0s", "packet-reorder": "0.5", "packet-loss": "0.1"},
	} {
		full := core.Params{}
		for _, x := range PacketParams {
			full[x.Name] = x.Default
		}
		for k, v := range p {
			full[k] = v
		}
		if _, err := NewPacket(full); err == nil {
			t.Errorf("%v accepted", p)
		}
	}
}
