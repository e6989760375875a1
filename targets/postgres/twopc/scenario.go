package twopc

import (
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/workloads/bank"
)

// scenarios are the target's named reproductions.
func scenarios() []core.ScenarioInfo {
	return []core.ScenarioInfo{{
		Name: "twopc-coordinator-crash",
		Summary: "the two-phase commit coordinator dies between its phases: a transfer is prepared on both participants and committed on one " +
			"when the coordinator is killed, then it is started again",
		Expect: "without a coordinator log the restarted coordinator knows nothing: the transfer stays prepared on one participant " +
			"after committing on the other (in-doubt, its row locks held, reads and transfers on that account blocked), and the money is out of the total",
		ControlExpect: "with the durable log (--twopc-log durable) the restarted coordinator finds the commit decision and commits the " +
			"prepared branch: every transfer is committed everywhere or nowhere, every read sums to the total",
		Config: func(control bool) core.Config {
			mode := LogNone
			if control {
				mode = LogDurable
			}
			return core.Config{Target: Name, Workload: bank.Name, Nodes: 3, Concurrency: 4,
				TimeLimit: 8 * time.Second, Nemeses: []string{CrashName}, NemesisInterval: time.Second,
				Seed: 1, Rate: 40,
				Params: core.Params{"twopc-log": mode, "bank-accounts": "4", "twopc-crash-after": "10", "twopc-crash-commits": "1"},
				// A transfer waits at most the lock timeout per branch; the
				// rest is the loaded machine.
				OpTimeout: 5 * time.Second, FinalTimeout: 30 * time.Second, CheckTimeout: time.Minute}
		},
	}, {
		Name: "twopc-prepare-unanswered",
		Summary: "a participant's answer to PREPARE never reaches the coordinator: the coordinator gives up, rolls back on the other " +
			"participant and cannot reach this one, which stays prepared",
		Expect: "without a coordinator log nothing resolves the abandoned prepared transaction: it stays prepared on one participant and rolled " +
			"back on the other (in-doubt), holding its row locks",
		ControlExpect: "with the durable log the coordinator's recovery finds a prepared transaction with no commit decision and rolls it back " +
			"(presumed abort): nothing is left in doubt",
		Config: func(control bool) core.Config {
			mode := LogNone
			if control {
				mode = LogDurable
			}
			return core.Config{Target: Name, Workload: bank.Name, Nodes: 3, Concurrency: 4,
				TimeLimit: 10 * time.Second, Nemeses: []string{UnansweredName}, NemesisInterval: time.Second,
				Seed: 1, Rate: 40,
				Params:    core.Params{"twopc-log": mode, "bank-accounts": "4", "twopc-unanswered-after": "10", "twopc-unanswered-for": "3s"},
				OpTimeout: 5 * time.Second, FinalTimeout: 30 * time.Second, CheckTimeout: time.Minute}
		},
	}}
}
