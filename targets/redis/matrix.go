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

// idRow is one INCR scheme: how IDs are acknowledged, and which scenario
// run is its failover cell.
type idRow struct {
	name, doc string
	wait      bool
	// failover is the scenario and whether its control is the cell.
	failover string
	control  bool
	// onlyFailover: the scheme differs from plain INCR only in its
	// failover procedure, so the other columns are plain INCR's (n/a).
	onlyFailover bool
}

var idRows = []idRow{
	{name: "redis-incr", failover: "redis-incr-failover",
		doc: "INCR on the primary of a primary/asynchronous-replica pair, acknowledged by the primary: a failover to the replica hands out again the IDs it had not got; a restart without persistence starts the counter over"},
	{name: "redis-incr-wait", wait: true, failover: "redis-incr-failover", control: true,
		doc: "INCR then WAIT 1: an ID counts only once a replica has it, so a promoted replica never reissues one; no ID while no replica answers"},
	{name: "redis-incr-skip", failover: "redis-incr-failover-skip", control: true, onlyFailover: true,
		doc: "plain INCR whose failover procedure moves the promoted replica's counter on by 1,000,000 before it serves: unique across the failover (other columns: as redis-incr)"},
}

func (ir idRow) cell(fault, runtime string) (core.Config, bool) {
	p := idParams(ir.wait)
	cfg := core.Config{Target: IDsName, Workload: "ids", Nodes: 2, Concurrency: 4, Rate: 100,
		TimeLimit: 6 * time.Second, NemesisInterval: 1500 * time.Millisecond, Seed: matrixSeed,
		OpTimeout: 2 * time.Second, FinalTimeout: 10 * time.Second, CheckTimeout: time.Minute, Params: p}
	if ir.onlyFailover && fault != core.FaultNone && fault != core.FaultFailover {
		return cfg, false
	}
	switch fault {
	case core.FaultNone:
	case core.FaultPartition, core.FaultKill, core.FaultPause, core.FaultClock:
		cfg.Nemeses = []string{fault}
	case core.FaultFailover:
		s, _ := findScenario(ir.failover)
		cfg = s.config(ir.control)
		cfg.Seed = matrixSeed
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
	for _, ir := range idRows {
		r.AddMatrixRow(core.MatrixRow{Matrix: core.MatrixIDs, Name: ir.name, Doc: ir.doc, Cell: ir.cell})
	}
}
