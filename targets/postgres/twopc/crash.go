package twopc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	bankcheck "github.com/chaostest/chaos/checkers/bank"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// CrashName is the coordinator-crash nemesis's registered name.
const CrashName = "twopc-coordinator-crash"

// Fault names.
const (
	FCrash   = "coordinator-crash"
	FRestart = "coordinator-restart"
)

// CrashParams are the nemesis's flags.
var CrashParams = []core.Param{
	{Name: "twopc-crash-after", Type: core.TypeInt, Default: "10", Usage: "twopc-coordinator-crash: how many transfers complete ok before the crash is aimed"},
	{Name: "twopc-crash-commits", Type: core.TypeInt, Default: "1", Usage: "twopc-coordinator-crash: on how many participants the transfer caught at the crash point commits before the coordinator dies (0: prepared everywhere, committed nowhere)"},
	{Name: "twopc-crash-down", Type: core.TypeDuration, Default: "1s", Usage: "twopc-coordinator-crash: how long the coordinator stays down before it is started again"},
}

// Crash kills the coordinator between the two phases of one transfer. It is
// aimed, not timed: once After transfers have completed ok, it arms the
// coordinator's test hook (the next transfer spanning more than Commits
// participants prepares on all of them, commits on the first Commits, and
// stops), waits until a transfer is caught there, and kills the coordinator
// through the runtime. Down later it starts the coordinator again, which
// then recovers (durable log) or knows nothing (no log).
type Crash struct {
	After, Commits int
	Down           time.Duration

	seen    int
	planned bool
	down    bool // set by Apply: the coordinator is killed and not restarted
}

var (
	_ core.Nemesis        = (*Crash)(nil)
	_ core.Triggered      = (*Crash)(nil)
	_ core.HealClassifier = (*Crash)(nil)
)

// NewCrash builds the nemesis from its params.
func NewCrash(p core.Params) (core.Nemesis, error) {
	n := &Crash{}
	var err error
	if n.After, err = p.Int("twopc-crash-after", 10); err != nil {
		return nil, err
	}
	if n.Commits, err = p.Int("twopc-crash-commits", 1); err != nil {
		return nil, err
	}
	if n.Down, err = p.Duration("twopc-crash-down", time.Second); err != nil {
		return nil, err
	}
	if n.After < 0 || n.Commits < 0 || n.Down < 0 {
		return nil, fmt.Errorf("--twopc-crash-after, --twopc-crash-commits and --twopc-crash-down must not be negative")
	}
	return n, nil
}

// Name is "twopc-coordinator-crash".
func (n *Crash) Name() string { return CrashName }

// Next is never asked for: the fault is planned from events only.
func (n *Crash) Next(*rand.Rand, []string) history.Op {
	return history.Op{F: "coordinator-crash-unplanned"}
}

// IsHeal: the restart undoes the crash.
func (n *Crash) IsHeal(op history.Op) bool { return op.F == FRestart }

type crashValue struct {
	AfterCommits int    `json:"after_commits"`
	Transfer     string `json:"transfer,omitempty"`
	Down         string `json:"down,omitempty"`
}

// Trigger plans the crash and the restart once After transfers completed
// ok. The coordinator is the first node.
func (n *Crash) Trigger(_ *rand.Rand, ev history.Op, nodes []string) []history.Op {
	if n.planned || ev.IsNemesis() || ev.F != bankcheck.FTransfer || ev.Type != history.OK || len(nodes) == 0 {
		return nil
	}
	n.seen++
	if n.seen < n.After {
		return nil
	}
	n.planned = true
	return []history.Op{
		{F: FCrash, Node: nodes[0], Value: history.JSON(crashValue{AfterCommits: n.Commits})},
		{F: FRestart, Node: nodes[0], Value: history.JSON(crashValue{AfterCommits: n.Commits})},
	}
}

// Apply arms the hook and kills the coordinator once a transfer is caught
// (FCrash), or starts it again after Down (FRestart).
func (n *Crash) Apply(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	switch op.F {
	case FCrash:
		return n.crash(ctx, rt, op)
	case FRestart:
		if !n.down {
			op.Type, op.Error = history.Fail, "the coordinator was not crashed"
			return op
		}
		// The restart completes even when the phase ends meanwhile, so the
		// final phase finds the coordinator recovered.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := rt.Start(sctx, op.Node); err != nil {
			op.Type, op.Error = history.Info, err.Error()
			return op
		}
		n.down = false
		op.Type = history.OK
		return op
	}
	op.Type, op.Error = history.Fail, "unknown fault "+op.F
	return op
}

func (n *Crash) crash(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	a, err := rt.Addr("", op.Node, PortControl)
	if err != nil {
		op.Type, op.Error = history.Fail, err.Error()
		return op
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	transfer, err := awaitHold(ctx, hc, "http://"+a, "at=commit&after="+strconv.Itoa(n.Commits))
	if errors.Is(err, errNotReached) {
		op.Type, op.Error = history.Fail, fmt.Sprintf("no transfer spanning more than %d participants reached the crash point before the phase ended", n.Commits)
		return op
	}
	if err != nil {
		op.Type, op.Error = history.Fail, "arm the crash point: "+err.Error()
		return op
	}
	// The coordinator stands between its phases: kill it there.
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	n.down = true
	if err := rt.Kill(kctx, op.Node); err != nil {
		op.Type, op.Error = history.Info, err.Error()
		return op
	}
	op.Type = history.OK
	op.Value = history.JSON(crashValue{AfterCommits: n.Commits, Transfer: transfer, Down: n.Down.String()})
	// Down for Down; the restart planned with the crash follows at
	// once, so its record says when the coordinator came back.
	select {
	case <-ctx.Done():
	case <-time.After(n.Down):
	}
	return op
}

// HealOps starts the coordinator again if it is still down.
func (n *Crash) HealOps(nodes []string) []history.Op {
	if !n.down || len(nodes) == 0 {
		return nil
	}
	return []history.Op{{F: FRestart, Node: nodes[0], Value: history.JSON(crashValue{AfterCommits: n.Commits})}}
}
