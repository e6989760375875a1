package redis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	idsworkload "github.com/chaostest/chaos/workloads/ids"
)

// IDs from Redis INCR: every request increments one counter on the
// primary and hands out the new value. With an asynchronous replica the
// primary acknowledges increments the replica has not got; when the
// primary dies and the replica is promoted, the replica's counter is
// behind, and it hands out again numbers the old primary already gave
// away. Two cures: acknowledge an ID only once a replica has it (INCR, then
// WAIT 1), or have the failover skip a range (the promoted replica moves the
// counter on by a large step before it serves).

// IDsName is the target's name.
const IDsName = "redis-ids"

// IDsKey is the counter's key.
const IDsKey = "chaos-ids"

// idsGenerate is the ids workload's request (checkers/ids.Generate).
const idsGenerate = "generate"

// IDsParams are the target's flags: the Redis nodes' own, and how an ID is
// acknowledged.
var IDsParams = append(slices.DeleteFunc(slices.Clone(Params), func(p core.Param) bool {
	return strings.HasPrefix(p.Name, "redis-lock") || p.Name == "redis-fencing" || p.Name == "redis-drift-factor"
}),
	core.Param{Name: "redis-ids-ack", Type: core.TypeChoice, Choices: []string{"primary", "wait"}, Default: "primary",
		Usage: "redis-ids: when an INCR counts as an issued ID: primary (the primary's answer) or wait (INCR, then WAIT 1 --redis-ids-wait-timeout: only an increment a replica has is issued)"},
	core.Param{Name: "redis-ids-wait-timeout", Type: core.TypeDuration, Default: "100ms",
		Usage: "redis-ids: WAIT's timeout with --redis-ids-ack wait; an ID no replica confirmed within it is not issued (fail)"},
)

// idsConfig is how IDs are acknowledged.
type idsConfig struct {
	wait        bool
	waitTimeout time.Duration
}

func parseIDsConfig(p core.Params) (idsConfig, error) {
	ack, err := p.Choice("redis-ids-ack", "primary", "wait")
	if err != nil {
		return idsConfig{}, err
	}
	d, err := p.Duration("redis-ids-wait-timeout", 100*time.Millisecond)
	if err != nil {
		return idsConfig{}, err
	}
	if d <= 0 {
		return idsConfig{}, fmt.Errorf("--redis-ids-wait-timeout %s: must be positive", d)
	}
	return idsConfig{wait: ack == "wait", waitTimeout: d}, nil
}

// incrClient asks its own node for the next ID when that node says it is
// the primary, and fails at once otherwise. Each worker keeps to the node
// the runner gave it, so the history's node of every ID is the server that
// handed it out, and a duplicate's witness names both primaries; a
// failover shows as the old primary's workers failing and the promoted
// replica's workers starting to succeed.
type incrClient struct {
	conns        []nodeConn
	probeTimeout time.Duration
	ids          idsConfig
}

var _ core.Client = (*incrClient)(nil)

func (t *Target) newIDsClient(ctx context.Context, cc core.ClientConfig) (core.Client, error) {
	conns := make([]nodeConn, 0, 1)
	for _, n := range []string{cc.Node} {
		a, err := cc.Addr(n, Port)
		if err != nil {
			closeAll(conns)
			return nil, err
		}
		conns = append(conns, nodeConn{name: n, c: newRedisClient(a, cc.OpTimeout)})
	}
	warm(ctx, conns, warmTimeout)
	return &incrClient{conns: conns, probeTimeout: t.cfg.NodeTimeout, ids: t.ids}, nil
}

func (c *incrClient) primary(ctx context.Context) (nodeConn, error) {
	var errs []string
	for _, n := range c.conns {
		pctx, cancel := context.WithTimeout(ctx, c.probeTimeout)
		role, err := n.c.Do(pctx, "ROLE").Slice()
		cancel()
		if err == nil && len(role) > 0 && role[0] == "master" {
			return n, nil
		}
		if err == nil && len(role) > 0 {
			err = fmt.Errorf("role %v", role[0])
		} else if err == nil {
			err = fmt.Errorf("empty ROLE answer")
		}
		errs = append(errs, n.name+": "+err.Error())
	}
	return nodeConn{}, fmt.Errorf("no primary among %s (%s)", names(c.conns), strings.Join(errs, "; "))
}

// Invoke issues one ID. No primary: fail (nothing was sent). An INCR
// without an answer: info (the counter may have moved; no ID was handed
// out, and none is recorded). With WAIT, an increment no replica confirmed
// is not issued: fail, with the number it would have been in the error.
func (c *incrClient) Invoke(ctx context.Context, op history.Op) history.Op {
	n, err := c.primary(ctx)
	if err != nil {
		op.Type, op.Error = history.Fail, err.Error()
		return op
	}
	id, err := n.c.Incr(ctx, IDsKey).Result()
	if err != nil && strings.HasPrefix(err.Error(), "READONLY") {
		// It became a replica since the probe: it refused, nothing moved.
		op.Type, op.Error = history.Fail, n.name+": INCR: "+err.Error()
		return op
	}
	if err != nil {
		op.Type, op.Error = history.Info, n.name+": INCR: "+err.Error()
		return op
	}
	if c.ids.wait {
		acks, err := n.c.Do(ctx, "WAIT", 1, c.ids.waitTimeout.Milliseconds()).Int64()
		switch {
		case err != nil:
			op.Type, op.Error = history.Fail, fmt.Sprintf("%s: INCR gave %d, WAIT failed (%v): not issued", n.name, id, err)
			return op
		case acks < 1:
			op.Type, op.Error = history.Fail, fmt.Sprintf("%s: INCR gave %d, no replica had it within %s: not issued", n.name, id, c.ids.waitTimeout)
			return op
		}
	}
	if id <= 0 {
		op.Type, op.Value = history.OK, history.JSON(id) // the checker flags it
		return op
	}
	op.Type, op.Value = history.OK, history.Uint(uint64(id))
	return op
}

func (c *incrClient) Close() error { return closeAll(c.conns) }

// idsWorkloadDefaults: INCR values are plain numbers from one counter, so
// any ID asked for after another was acknowledged must be larger.
var idsWorkloadDefaults = core.Params{idsworkload.LayoutParam: "counter", idsworkload.OrderParam: "global"}

// idFailoverSteps is the failover script of the ID scenarios. Each fault
// is aimed by counting ID requests: once 40 have completed (about half of
// them on the primary, the others refused by the replica), replication is
// cut; once 40 more have completed (the primary has acknowledged
// increments the replica lacks, or, with WAIT, refused to issue them), the
// primary is killed (the record says whether the replica had caught up)
// and the replica promoted, skipping skip IDs first when skip > 0. Then the
// old primary rejoins as a replica of the new one, out of the clients'
// reach until it is one (a restarted primary without persistence would
// otherwise serve an empty counter).
func idFailoverSteps(skip int64) []Step {
	return []Step{
		{On: &Event{Completions: 40}, F: "partition", Cut: Cut([]string{"n1"}, []string{"n2"})},
		{On: &Event{Completions: 40}, F: "kill", Node: "n1", Replica: "n2"},
		{F: "promote", Node: "n2", Skip: skip},
		{F: "heal"},
		{F: "partition", Cut: Cut([]string{"c*"}, []string{"n1"})},
		{F: "start", Node: "n1"},
		{F: "replicaof", Node: "n1", Primary: "n2"},
		{F: "heal"},
	}
}

// idsSkip is the range the failover skips: far more IDs than a primary
// acknowledges in the replication lag of a run.
const idsSkip = 1_000_000

func idParams(wait bool) core.Params {
	p := core.Params{"redis-replicas": "n2=n1", "redis-node-timeout": "150ms"}
	if wait {
		p["redis-ids-ack"] = "wait"
	}
	return p
}

var idScenarios = []scenario{
	{
		name:          "redis-incr-failover",
		summary:       "IDs from INCR on a primary with an asynchronous replica: replication cut, the primary acknowledges about 20 more IDs, dies, and the replica is promoted",
		expect:        "invalid (exit 1): the promoted replica hands out again IDs the old primary acknowledged; the witness names both requests and the kill",
		controlExpect: "valid (exit 0): with INCR then WAIT 1, an ID counts only once the replica has it; the ones the replica never got were never issued",
		timeLimit:     8 * time.Second, nodes: 2, ids: true,
		params: idParams,
		script: func(control bool) []Step { return idFailoverSteps(0) },
	},
	{
		name:          "redis-incr-failover-skip",
		summary:       "the redis-incr-failover run; its control is the notes' fix: the promoted replica moves the counter on by 1,000,000 before it serves",
		expect:        "invalid (exit 1): without the skip the promoted replica hands out again IDs the old primary acknowledged",
		controlExpect: "valid (exit 0): after the skip every new ID is above any the old primary could have handed out",
		timeLimit:     8 * time.Second, nodes: 2, ids: true,
		params: func(bool) core.Params { return idParams(false) },
		script: func(control bool) []Step {
			if control {
				return idFailoverSteps(idsSkip)
			}
			return idFailoverSteps(0)
		},
	},
}
