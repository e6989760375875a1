package redis

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/workloads/lock"
)

// A scenario's clients are c0 and c1 (Kleppmann's clients 1 and 2) and its
// nodes n1..n5 (his A..E). c0 takes the lock first; the fault that matters
// strikes when c0's acquire completes ok (the script's steps are
// event-triggered, and each record names the acquire), and c1 tries while c0
// still holds it by the lock's own promise. Faults come from a script (the
// redis-script nemesis), so the seed changes nothing that matters; every seed
// gives the same verdict.

// scenario is one named reproduction.
type scenario struct {
	name, summary, expect, controlExpect string
	timeLimit                            time.Duration
	nodes                                int
	params                               func(control bool) core.Params
	script                               func(control bool) []Step
	// ids marks a scenario of the redis-ids target (the ids workload);
	// the others run lock-set on the redis target.
	ids bool
}

var (
	abc = []string{"n1", "n2", "n3"}
	// c0 cannot reach D and E; c1 cannot reach A and B.
	redlockSplit = append(Cut([]string{"c0"}, []string{"n4", "n5"}), Cut([]string{"c1"}, []string{"n1", "n2"})...)
	// c0Granted holds a step back until c0's acquire completes ok: the
	// fault lands on the lock c0 has just been granted, however long a busy
	// machine took to grant it.
	c0Granted = &Event{Client: "c0"}
	// bothClients are held until the redlock partition is in place (a
	// container engine on a loaded machine takes longer to cut links than
	// c0's 0.3 s start, and a c0 that reaches D and E holds a majority no
	// fault can take away); their starts count from the cut.
	bothClients = []string{"c0", "c1"}
)

// redlockParams: both clients are held until the partition is in place;
// from then c0 takes A, B, C after 0.3s (done by about 1s on a quiet
// machine) and holds 4s of its 5s lease; the fault comes as soon as c0 is
// granted; c1 tries from 2.5s after the cut for about 2s, inside c0's hold,
// so a node that takes a second to come back (a container) is still caught. The per-node timeout of 150ms is
// still small against the TTL and leaves room for a loaded machine.
func redlockParams(control bool) core.Params {
	return core.Params{"redis-lock": "redlock", "redis-node-timeout": "150ms", "lock-ttl": "5s", "lock-hold": "4s,200ms",
		"lock-start": "300ms,2500ms", "lock-attempts": "1,10", "lock-retry": "150ms"}
}

var scenarios = []scenario{
	{
		name:          "redlock-clock-jump",
		summary:       "Redlock: c0 holds A, B, C (D, E unreachable for it); C's clock jumps +30s; c1 (cut off from A, B) takes C, D, E",
		expect:        "two holders at once inside their validity, and c1's write lost; the witness names c0, c1, n3 and the clock jump",
		controlExpect: "no clock jump: c1 reaches only D and E, no quorum, no violation",
		timeLimit:     5500 * time.Millisecond, nodes: 5,
		params: redlockParams,
		script: func(control bool) []Step {
			steps := []Step{{F: "partition", Cut: redlockSplit, Releases: bothClients}}
			if !control {
				steps = append(steps, Step{On: c0Granted, F: "clock-jump", Node: "n3", Offset: 30 * time.Second})
			}
			return steps
		},
	},
	{
		name:          "redlock-crash-restart",
		summary:       "Redlock without persistence: c0 holds A, B, C; C is killed and restarted at once, empty; c1 (cut off from A, B) takes C, D, E",
		expect:        "two holders at once inside their validity; the witness names c0, c1, n3 and the restart",
		controlExpect: "C stays down 5.5s, longer than the 5s TTL (antirez's delayed restart): c1 gets no quorum; --redis-appendonly yes --redis-appendfsync always is the other cure",
		timeLimit:     8 * time.Second, nodes: 5,
		params: redlockParams,
		script: func(control bool) []Step {
			delay := time.Duration(0)
			if control {
				delay = 5500 * time.Millisecond
			}
			return []Step{{F: "partition", Cut: redlockSplit, Releases: bothClients},
				{On: c0Granted, F: "restart", Node: "n3", Delay: delay}}
		},
	},
	{
		name:          "lock-pause",
		summary:       "single Redis lock: c0 acquires, reads, pauses 3s past its 1s TTL; c1 acquires and writes; c0 wakes and writes",
		expect:        "c1's update is lost and c0 wrote after its lease ran out; the witness names c0, c1, n1 and the client pause",
		controlExpect: "with fencing tokens the resource rejects c0's stale write and no update is lost",
		timeLimit:     4500 * time.Millisecond, nodes: 1,
		// c0's lease ends near 1.2s, c1 takes the lock at 1.9s and writes
		// at 2.0s, c0 wakes near 3.3s: well apart either side.
		params: func(control bool) core.Params {
			return core.Params{"redis-lock": "single", "redis-lock-nodes": "n1", "redis-fencing": fmt.Sprint(control),
				"lock-ttl": "1s", "lock-hold": "100ms", "lock-start": "200ms,1900ms", "lock-attempts": "1,1"}
		},
		script: func(control bool) []Step {
			return []Step{{F: "client-pause", Client: "c0", Pause: 3 * time.Second}}
		},
	},
	{
		name:          "redis-failover",
		summary:       "single Redis lock on a primary with a replica: replication cut, c0 locks the primary, the primary is killed and the replica promoted, c1 locks",
		expect:        "two holders at once: n1 granted c0, the promoted n2 granted c1; the witness names the promotion",
		controlExpect: "replication intact: the replica has c0's lock when promoted and refuses c1",
		timeLimit:     5500 * time.Millisecond, nodes: 2,
		// c0 holds 3.5s from its grant; the kill follows the grant by at
		// most a second (the wait for the replica); c1 is held until the
		// promotion is done (however long the runtime took to kill and
		// promote) and then tries 6 times, 250ms apart, inside c0's hold.
		params: func(control bool) core.Params {
			return core.Params{"redis-lock": "single", "redis-lock-nodes": "n1,n2", "redis-replicas": "n2=n1", "redis-node-timeout": "150ms",
				"lock-ttl": "5s", "lock-hold": "3500ms,200ms", "lock-start": "300ms,0s", "lock-attempts": "1,6", "lock-retry": "250ms"}
		},
		script: func(control bool) []Step {
			var steps []Step
			if !control {
				// c0 is held until the cut is in place: a lock taken
				// before it would reach the replica.
				steps = append(steps, Step{F: "partition", Cut: Cut([]string{"n1"}, []string{"n2"}), Releases: []string{"c0"}})
			}
			return append(steps,
				Step{On: c0Granted, F: "kill", Node: "n1", Replica: "n2"},
				Step{F: "promote", Node: "n2", Releases: []string{"c1"}})
		},
	},
}

// allScenarios lists the lock scenarios and the ID scenarios.
func allScenarios() []scenario { return append(slices.Clone(scenarios), idScenarios...) }

func findScenario(name string) (scenario, bool) {
	for _, s := range allScenarios() {
		if s.name == name {
			return s, true
		}
	}
	return scenario{}, false
}

// scriptParam names the script: a scenario, with "/control" for its control.
const scriptParam = "redis-script"

func scriptNames() []string {
	var out []string
	for _, s := range allScenarios() {
		out = append(out, s.name, s.name+"/control")
	}
	sort.Strings(out)
	return out
}

// scriptSteps resolves --redis-script.
func scriptSteps(name string) ([]Step, error) {
	base, control := strings.CutSuffix(name, "/control")
	s, ok := findScenario(base)
	if !ok {
		return nil, fmt.Errorf("--%s %q: unknown script (known: %s)", scriptParam, name, strings.Join(scriptNames(), ", "))
	}
	return s.script(control), nil
}

// config is a scenario's run.
func (s scenario) config(control bool) core.Config {
	p := s.params(control)
	name := s.name
	if control {
		name += "/control"
	}
	p[scriptParam] = name
	if s.ids {
		// Four workers, two on each node: the primary's serve, the
		// replica's are refused until it is promoted.
		return core.Config{Target: IDsName, Workload: "ids", Nodes: s.nodes, Concurrency: 4, Rate: 100,
			TimeLimit: s.timeLimit, Nemeses: []string{"redis-script"}, NemesisInterval: time.Millisecond,
			Seed: 1, Params: p, OpTimeout: 2 * time.Second, FinalTimeout: 10 * time.Second, CheckTimeout: time.Minute}
	}
	return core.Config{Target: "redis", Workload: "lock-set", Nodes: s.nodes, Concurrency: 2,
		TimeLimit: s.timeLimit, Nemeses: []string{"redis-script"}, NemesisInterval: time.Millisecond,
		Seed: 1, Params: p, OpTimeout: 10 * time.Second, FinalTimeout: 10 * time.Second, CheckTimeout: time.Minute}
}

// Register adds the redis target, its scripted nemesis and the named
// reproductions to r. The client-pause board is the one package
// workloads/lock registered, looked up when a run is built.
func Register(r *core.Registry) {
	r.AddTarget(core.TargetInfo{Name: "redis", Params: Params,
		Summary:   "real redis-server nodes; Redlock over all of them or the single-instance lock, with a harness-owned resource and optional fencing",
		Workloads: []string{"lock-set", "lock"},
		Nemeses:   []string{"kill", "pause", "clock", "partition", "packet", "client-pause", "holder-pause", "redis-script"},
		New: func(p core.Params) (core.Target, error) {
			return New(p, lock.PausesOf(r))
		}})
	r.AddNemesis(core.NemesisInfo{Name: "redis-script",
		Summary: "a fixed fault script of a named Redis scenario (partitions, clock jumps, restarts, promotion, client pauses)",
		Params:  []core.Param{{Name: scriptParam, Type: core.TypeChoice, Choices: scriptNames(), Default: scenarios[0].name, Usage: "script to play: " + strings.Join(scriptNames(), ", ")}},
		New: func(p core.Params) (core.Nemesis, error) {
			name := p.String(scriptParam, scenarios[0].name)
			steps, err := scriptSteps(name)
			if err != nil {
				return nil, err
			}
			return NewScript(name, steps, lock.PausesOf(r)), nil
		}})
	r.AddTarget(core.TargetInfo{Name: IDsName, Params: IDsParams,
		Summary:          "IDs from Redis INCR on the primary of a primary/replica pair (--redis-replicas n2=n1): acknowledged by the primary, or only once a replica has them (WAIT)",
		Workloads:        []string{"ids"},
		Nemeses:          []string{"kill", "pause", "clock", "partition", "packet", "redis-script"},
		WorkloadDefaults: idsWorkloadDefaults,
		New: func(p core.Params) (core.Target, error) {
			return New(p, lock.PausesOf(r))
		}})
	registerMatrix(r)
	for _, s := range allScenarios() {
		r.AddScenario(core.ScenarioInfo{Name: s.name, Summary: s.summary, Expect: s.expect,
			ControlExpect: s.controlExpect, Config: s.config})
	}
}
