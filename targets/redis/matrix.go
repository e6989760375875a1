package redis

import (
	"maps"
	"time"

	"github.com/chaostest/chaos/core"
)

// The rows of the comparison matrices (`chaos matrix locks`, `chaos matrix
// ids`) that Redis provides. Every cell is a short lock-set (or ids) run with
// a fixed seed; the fault column picks the nemesis. The failover column is
// the scripted failover of the redis-failover scenario (and, for IDs,
// redis-incr-failover): replication cut, the primary acknowledges what the
// replica has not got, the primary dies, the replica is promoted.

// matrixSeed is every Redis cell's seed.
const matrixSeed = 11

// lockRow is one lock implementation: its target parameters and its node
// count.
type lockRow struct {
	name, doc string
	nodes     int
	params    core.Params
}

var lockRows = []lockRow{
	{name: "redis-single", nodes: 1, params: core.Params{"redis-lock": "single"},
		doc: "one Redis instance, SET NX PX and a compare-and-delete release: a holder paused past its TTL, a restart without persistence or a failover to a replica that lacks the key gives the lock to two clients"},
	{name: "redis-single-fenced", nodes: 1, params: core.Params{"redis-lock": "single", "redis-fencing": "true"},
		doc: "the single-instance lock with fencing tokens (an INCR beside the lock key) that the resource checks: a stale holder's write is rejected, but the lock itself still breaks"},
	{name: "redlock", nodes: 5, params: core.Params{"redis-lock": "redlock"},
		doc: "Redlock over five independent masters (quorum 3, validity ttl - elapsed - drift): a clock jump or a restart without persistence on one of the quorum gives the lock to two clients (Kleppmann 2016)"},
	{name: "redsync", nodes: 5, params: core.Params{"redis-lock": "redsync"},
		doc: "github.com/go-redsync/redsync's Redlock over five masters, for comparison with ours: the same weaknesses"},
}

// lockCell is the run of a lock row against one fault column.
func (lr lockRow) cell(fault, runtime string) (core.Config, bool) {
	p := maps.Clone(lr.params)
	maps.Copy(p, core.Params{"lock-ttl": "1s", "lock-hold": "200ms", "redis-node-timeout": "100ms"})
	cfg := core.Config{Target: "redis", Workload: "lock-set", Nodes: lr.nodes, Concurrency: 3,
		TimeLimit: 6 * time.Second, NemesisInterval: 1500 * time.Millisecond, Seed: matrixSeed,
		OpTimeout: 3 * time.Second, FinalTimeout: 10 * time.Second, CheckTimeout: time.Minute, Params: p}
	switch fault {
	case core.FaultNone:
	case core.FaultPartition, core.FaultKill, core.FaultClock:
		cfg.Nemeses = []string{fault}
	case core.FaultPause:
		// The holder stops for 2.5 s right after its acquire, past its 1 s
		// lease, at most every 3 s.
		cfg.Nemeses = []string{"holder-pause"}
		maps.Copy(p, core.Params{"holder-pause-duration": "2500ms", "holder-pause-gap": "3s", "holder-pause-links": "false"})
	case core.FaultFailover:
		if lr.params["redis-lock"] != "single" {
			return cfg, false // independent masters: nothing to fail over to
		}
		s, _ := findScenario("redis-failover")
		cfg = s.config(false)
		cfg.Seed = matrixSeed
		if lr.params["redis-fencing"] == "true" {
			cfg.Params["redis-fencing"] = "true"
		}
	default:
		return cfg, false
	}
	return cfg, true
}

// registerMatrix adds the Redis rows to r.
func registerMatrix(r *core.Registry) {
	for _, lr := range lockRows {
		r.AddMatrixRow(core.MatrixRow{Matrix: core.MatrixLocks, Name: lr.name, Doc: lr.doc, Cell: lr.cell})
	}
}
