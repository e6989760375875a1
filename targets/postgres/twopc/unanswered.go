package twopc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	bankcheck "github.com/chaostest/chaos/checkers/bank"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/internal/httpnode"
)

// UnansweredName is the nemesis's registered name.
const UnansweredName = "twopc-prepare-unanswered"

// Fault names.
const (
	FCutAnswers  = "participant-answers-cut"
	FHealAnswers = "participant-answers-heal"
)

// UnansweredParams are the nemesis's flags.
var UnansweredParams = []core.Param{
	{Name: "twopc-unanswered-after", Type: core.TypeInt, Default: "10", Usage: "twopc-prepare-unanswered: how many transfers complete ok before the fault is aimed"},
	{Name: "twopc-unanswered-for", Type: core.TypeDuration, Default: "3s", Usage: "twopc-prepare-unanswered: how long the participant's answers are lost (longer than the coordinator waits for PREPARE, 1s)"},
}

// Unanswered is a participant whose answer to PREPARE never reaches the
// coordinator. It is aimed: once After transfers have completed ok, it
// arms the coordinator's hook (the next transfer spanning the last
// participant and another one stops right before it sends PREPARE
// TRANSACTION to the last), waits until a transfer is caught, cuts the link
// from that participant to the coordinator through the runtime (requests
// arrive, answers are lost) and lets the transfer go on. The participant
// prepares; the coordinator hears nothing, gives up after a second, rolls
// back what it prepared elsewhere, and cannot reach the participant to roll
// back there. For later the link heals. The durable coordinator's recovery
// then finds a prepared transaction without a commit decision and rolls it
// back (presumed abort); the coordinator without a log never hears of it
// again.
//
// A pause (SIGSTOP) does not make this fault on PostgreSQL: each backend
// calls setsid(), so stopping the server's process group stops the
// postmaster but not the backend that already holds the coordinator's
// connection, and the PREPARE is answered.
type Unanswered struct {
	After int
	For   time.Duration

	seen    int
	planned bool
	cut     bool // set by Apply: the cut is in place
}

var (
	_ core.Nemesis        = (*Unanswered)(nil)
	_ core.Triggered      = (*Unanswered)(nil)
	_ core.HealClassifier = (*Unanswered)(nil)
)

// NewUnanswered builds the nemesis from its params.
func NewUnanswered(p core.Params) (core.Nemesis, error) {
	n := &Unanswered{}
	var err error
	if n.After, err = p.Int("twopc-unanswered-after", 10); err != nil {
		return nil, err
	}
	if n.For, err = p.Duration("twopc-unanswered-for", 3*time.Second); err != nil {
		return nil, err
	}
	if n.After < 0 || n.For <= prepareTimeout {
		return nil, fmt.Errorf("--twopc-unanswered-after must not be negative and --twopc-unanswered-for must be longer than the coordinator's prepare timeout (%s)", prepareTimeout)
	}
	return n, nil
}

// Name is "twopc-prepare-unanswered".
func (n *Unanswered) Name() string { return UnansweredName }

// Next is never asked for: the fault is planned from events only.
func (n *Unanswered) Next(*rand.Rand, []string) history.Op {
	return history.Op{F: "participant-answers-unplanned"}
}

// IsHeal: the heal undoes the cut.
func (n *Unanswered) IsHeal(op history.Op) bool { return op.F == FHealAnswers }

type unansweredValue struct {
	Coordinator string `json:"coordinator"`
	Transfer    string `json:"transfer,omitempty"`
	For         string `json:"for,omitempty"`
}

// Trigger plans the cut of the last participant's answers and its heal
// once After transfers completed ok. The coordinator is the first node.
func (n *Unanswered) Trigger(_ *rand.Rand, ev history.Op, nodes []string) []history.Op {
	if n.planned || ev.IsNemesis() || ev.F != bankcheck.FTransfer || ev.Type != history.OK || len(nodes) < 3 {
		return nil
	}
	n.seen++
	if n.seen < n.After {
		return nil
	}
	n.planned = true
	last := nodes[len(nodes)-1]
	return []history.Op{
		{F: FCutAnswers, Node: last, Value: history.JSON(unansweredValue{Coordinator: nodes[0]})},
		{F: FHealAnswers, Node: last, Value: history.JSON(unansweredValue{Coordinator: nodes[0]})},
	}
}

// Apply cuts the participant's answers once a transfer is held before its
// PREPARE there (FCutAnswers), or heals the cut after For (FHealAnswers).
func (n *Unanswered) Apply(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	switch op.F {
	case FCutAnswers:
		return n.cutAnswers(ctx, rt, op)
	case FHealAnswers:
		if !n.cut {
			op.Type, op.Error = history.Fail, "no cut to heal"
			return op
		}
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := rt.Heal(hctx); err != nil {
			op.Type, op.Error = history.Info, err.Error()
			return op
		}
		n.cut = false
		op.Type = history.OK
		return op
	}
	op.Type, op.Error = history.Fail, "unknown fault "+op.F
	return op
}

func (n *Unanswered) cutAnswers(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	var v unansweredValue
	if err := op.DecodeValue(&v); err != nil || v.Coordinator == "" {
		op.Type, op.Error = history.Fail, fmt.Sprintf("bad fault value %s: %v", op.Value, err)
		return op
	}
	ctl, err := rt.Addr("", v.Coordinator, PortControl)
	if err != nil {
		op.Type, op.Error = history.Fail, "the coordinator's control port: "+err.Error()
		return op
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	base := "http://" + ctl
	transfer, err := awaitHold(ctx, hc, base, "at=prepare&on="+op.Node)
	if errors.Is(err, errNotReached) {
		op.Type, op.Error = history.Fail, "no transfer spanning "+op.Node+" and another participant reached its PREPARE before the phase ended"
		return op
	}
	if err != nil {
		op.Type, op.Error = history.Fail, "arm the prepare hook: "+err.Error()
		return op
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	n.cut = true
	err = rt.Partition(pctx, []core.Link{{From: op.Node, To: v.Coordinator}})
	// Let the transfer send its PREPARE whatever happened.
	_, _, rerr := httpnode.Do(pctx, hc, http.MethodPost, base+"/release", "")
	if err != nil {
		op.Type, op.Error = history.Info, err.Error()
		return op
	}
	if rerr != nil {
		op.Type, op.Error = history.Info, "release the held transfer: "+rerr.Error()
		return op
	}
	op.Type = history.OK
	op.Value = history.JSON(unansweredValue{Coordinator: v.Coordinator, Transfer: transfer, For: n.For.String()})
	// The cut lasts For; the heal planned with it follows at once,
	// so its record says when the link came back.
	select {
	case <-ctx.Done():
	case <-time.After(n.For):
	}
	return op
}

// HealOps heals the cut if it is still in place.
func (n *Unanswered) HealOps(nodes []string) []history.Op {
	if !n.cut || len(nodes) == 0 {
		return nil
	}
	return []history.Op{{F: FHealAnswers, Node: nodes[len(nodes)-1], Value: history.JSON(unansweredValue{Coordinator: nodes[0]})}}
}
