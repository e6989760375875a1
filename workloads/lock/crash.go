package lock

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// HolderCrashName is the holder-crash nemesis's registered name.
const HolderCrashName = "holder-crash"

// HolderCrashValue is the value of a holder-crash record.
type HolderCrashValue struct {
	// Client is the holder's endpoint, Process its process and Token the
	// hold it crashed in.
	Client  string `json:"client"`
	Process int    `json:"process"`
	Token   string `json:"token,omitempty"`
	// Nodes are the nodes whose links to the holder are cut while it is
	// down, so nothing of it (a session's keep-alive) reaches them.
	Nodes []string `json:"nodes,omitempty"`
}

// HolderCrashParams are the holder-crash nemesis's flags.
var HolderCrashParams = []core.Param{
	{Name: "holder-crash-clients", Default: "", Usage: "client endpoints whose holds may be struck, comma-separated (default: every client)"},
	{Name: "holder-crash-count", Type: core.TypeInt, Default: "1", Usage: "how many holders crash in a run"},
}

// HolderCrash is the event-triggered death of a lock holder: when an
// acquire completes ok, that holder crashes at its next pause point (see
// Pauses): it never releases, never writes, and stays down until the main
// phase ends; its links to every node are cut meanwhile, as a dead
// process's connections would close. The operation it was in ends as info.
// The record of the crash names the acquire under "trigger" and the
// holder's client, process and token, which the lock-liveness checker
// reads.
type HolderCrash struct {
	board   *Pauses
	clients []string
	count   int

	struck int // plan state (Trigger only)

	holderLinks // its mutex also guards wake
	wake        chan struct{}
}

var (
	_ core.Nemesis   = (*HolderCrash)(nil)
	_ core.Triggered = (*HolderCrash)(nil)
)

// NewHolderCrash builds the fault over board from its params.
func NewHolderCrash(board *Pauses, p core.Params) (*HolderCrash, error) {
	n := &HolderCrash{board: board}
	var err error
	if n.count, err = p.Int("holder-crash-count", 1); err != nil {
		return nil, err
	}
	if n.count < 1 {
		return nil, fmt.Errorf("--holder-crash-count %d: must be at least 1", n.count)
	}
	n.clients = splitClients(p.String("holder-crash-clients", ""))
	return n, nil
}

// Name is "holder-crash".
func (n *HolderCrash) Name() string { return HolderCrashName }

// Next is never asked for: the fault is planned from events only.
func (n *HolderCrash) Next(*rand.Rand, []string) history.Op {
	return history.Op{F: "holder-crash-unplanned"}
}

// Trigger crashes the holder of an acquire that completed ok, until the
// count is used up. It plans the crash and the end of the run's wait for
// it.
func (n *HolderCrash) Trigger(_ *rand.Rand, ev history.Op, nodes []string) []history.Op {
	if ev.IsNemesis() || ev.F != FAcquire || ev.Type != history.OK || n.struck >= n.count {
		return nil
	}
	g, ok := struckGrant(ev, n.clients)
	if !ok {
		return nil
	}
	n.struck++
	v := history.JSON(HolderCrashValue{Client: g.Client, Process: ev.Process, Token: g.Token, Nodes: nodes})
	return []history.Op{
		{F: HolderCrashName, Node: ev.Node, Value: v},
		{F: "holder-crash-over", Node: ev.Node, Value: v},
	}
}

// Apply crashes the holder (holder-crash completes when it reaches its
// pause point, or after 10 s of its links being cut if it never does) and,
// with holder-crash-over, waits for the main phase to end, heals the links
// and lets the dead client's operation end.
func (n *HolderCrash) Apply(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	var v HolderCrashValue
	if err := op.DecodeValue(&v); err != nil && op.F != "heal" {
		return fail(op, "bad holder-crash value: "+err.Error())
	}
	switch op.F {
	case HolderCrashName:
		return n.crash(ctx, rt, op, v)
	case "holder-crash-over":
		<-ctx.Done()
		n.release()
		return n.heal(context.WithoutCancel(ctx), rt, op)
	case "heal":
		n.release()
		return n.heal(ctx, rt, op)
	}
	return fail(op, fmt.Sprintf("holder-crash: unknown fault %q", op.F))
}

func (n *HolderCrash) crash(ctx context.Context, rt core.Runtime, op history.Op, v HolderCrashValue) history.Op {
	n.mu.Lock()
	n.cut = true
	if n.wake == nil {
		n.wake = make(chan struct{})
	}
	wake := n.wake
	n.mu.Unlock()
	// Armed before the links are cut, so a holder that reaches its pause
	// point meanwhile dies there, in the hold the record names.
	started, cancel := (<-chan struct{})(nil), func() {}
	if n.board != nil {
		started, cancel = n.board.ArmCrash(v.Client, wake)
	}
	if err := rt.Partition(ctx, clientLinks(v.Client, v.Nodes)); err != nil {
		cancel()
		op.Type, op.Error = history.Info, "cut the holder's links: "+err.Error()
		return op
	}
	if n.board == nil {
		op.Type, op.Error = history.Info, "no pause board: only the holder's links were cut"
		return op
	}
	if awaitStarted(ctx, started, cancel, 10*time.Second) {
		op.Type = history.OK
		return op
	}
	// The holder reached no pause point: it may still act, so the crash
	// did not happen as planned.
	op.Type, op.Error = history.Info, "the holder reached no pause point; only its links were cut"
	return op
}

// release lets a crashed client's operation end.
func (n *HolderCrash) release() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.wake != nil {
		close(n.wake)
		n.wake = nil
	}
}

// HealOps heals the links and wakes the dead client if the phase ended
// before holder-crash-over did.
func (n *HolderCrash) HealOps([]string) []history.Op {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.cut && n.wake == nil {
		return nil
	}
	return []history.Op{{F: "heal"}}
}
