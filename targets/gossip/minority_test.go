package gossip_test

import (
	"context"
	"testing"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/runtime/local"
	"github.com/chaostest/chaos/targets/gossip"
)

// A write acknowledged by a node cut off from the majority survives the
// heal: the majority does not see it while the partition lasts, and every
// node holds it afterwards.
func TestMinorityWriteSurvivesHeal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	tgt, err := gossip.NewTarget(core.Params{"gossip-fanout": "2", "gossip-k": "2", "gossip-rumor": "true",
		"gossip-rumor-interval": "50ms", "gossip-anti-entropy": "true", "gossip-anti-entropy-interval": "200ms",
		"gossip-ring": "false", "gossip-broken-anti-entropy": "false", "gossip-quiesce-timeout": "5s"})
	if err != nil {
		t.Fatal(err)
	}
	specs, err := tgt.Nodes(nodes, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := local.New()
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Teardown(context.WithoutCancel(ctx))
	if err := rt.Setup(ctx, t.TempDir(), specs); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if err := rt.Start(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	client := func(node string) core.Client {
		c, err := tgt.NewClient(ctx, "kv", core.ClientConfig{Endpoint: "c0", Node: node, Nodes: nodes,
			Addr: func(n, port string) (string, error) { return rt.Addr("c0", n, port) }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	invoke := func(node, f, key string, v int64) history.Op {
		op := history.Op{F: f, Key: key, Node: node}
		if f == "write" {
			op.Value = history.Int(v)
		}
		octx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return client(node).Invoke(octx, op)
	}

	var cut []core.Link
	for _, n := range nodes[1:] {
		cut = append(cut, core.Link{From: "n1", To: n}, core.Link{From: n, To: "n1"})
	}
	if err := rt.Partition(ctx, cut); err != nil {
		t.Fatal(err)
	}
	if w := invoke("n1", "write", "minority", 111); w.Type != history.OK {
		t.Fatalf("write on the minority side: %s %s", w.Type, w.Error)
	}
	if w := invoke("n3", "write", "majority", 333); w.Type != history.OK {
		t.Fatalf("write on the majority side: %s %s", w.Type, w.Error)
	}
	// Several rumor and anti-entropy rounds: the partition must hold.
	time.Sleep(time.Second)
	for _, n := range nodes[1:] {
		if r := invoke(n, "read", "minority", 0); r.Type != history.OK || string(r.Value) != "null" {
			t.Fatalf("%s read the minority write across the partition: %s %s", n, r.Type, r.Value)
		}
	}
	if r := invoke("n1", "read", "majority", 0); string(r.Value) != "null" {
		t.Fatalf("n1 read the majority write across the partition: %s", r.Value)
	}

	if err := rt.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for _, n := range nodes {
		for _, kv := range []struct {
			key  string
			want string
		}{{"minority", "111"}, {"majority", "333"}} {
			for {
				r := invoke(n, "read", kv.key, 0)
				if r.Type == history.OK && string(r.Value) == kv.want {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("15s after the heal %s reads %s = %s, want %s", n, kv.key, r.Value, kv.want)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}
