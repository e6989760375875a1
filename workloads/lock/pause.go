package lock

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// PauseValue is the value of a client-pause record.
type PauseValue struct {
	Client   string `json:"client"`
	Duration string `json:"duration"`
}

// PauseParams are the client-pause nemesis's flags.
var PauseParams = []core.Param{
	{Name: "client-pause-clients", List: true, Default: "c0", Usage: "client endpoints the client-pause fault may stop, comma-separated"},
	{Name: "client-pause-duration", Type: core.TypeDuration, Default: "3s", Usage: "how long a paused client stays stopped (longer than --lock-ttl to outlive its lease)"},
}

// PauseNemesis is the client-pause fault: a chosen client stops for a chosen
// time right after it acquired (see Pauses), a stand-in for a GC pause. The
// fault's completion is recorded when the pause begins, so it is the fault
// "just before" whatever the pause lets happen.
type PauseNemesis struct {
	board   *Pauses
	clients []string
	d       time.Duration
}

var _ core.Nemesis = (*PauseNemesis)(nil)

// NewPauseNemesis builds the fault over board.
func NewPauseNemesis(board *Pauses, p core.Params) (*PauseNemesis, error) {
	d, err := p.Duration("client-pause-duration", 3*time.Second)
	if err != nil {
		return nil, err
	}
	if d <= 0 {
		return nil, fmt.Errorf("--client-pause-duration %s: must be positive", d)
	}
	n := &PauseNemesis{board: board, d: d}
	n.clients = splitClients(p.String("client-pause-clients", "c0"))
	if len(n.clients) == 0 {
		return nil, fmt.Errorf("--client-pause-clients: name at least one client (c0, c1, ...)")
	}
	return n, nil
}

// Board is the pause board clients must share with this fault.
func (n *PauseNemesis) Board() *Pauses { return n.board }

// Name is "client-pause".
func (n *PauseNemesis) Name() string { return "client-pause" }

// Next pauses one of the configured clients.
func (n *PauseNemesis) Next(rng *rand.Rand, nodes []string) history.Op {
	c := n.clients[rng.IntN(len(n.clients))]
	return history.Op{F: "client-pause", Value: history.JSON(PauseValue{Client: c, Duration: n.d.String()})}
}

// Apply arms the pause and completes when the client stops; it fails when
// the client never reaches a pause point before ctx ends.
func (n *PauseNemesis) Apply(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	return ApplyPause(ctx, n.board, op)
}

// ApplyPause performs a client-pause op (value PauseValue) on board.
func ApplyPause(ctx context.Context, board *Pauses, op history.Op) history.Op {
	var v PauseValue
	if err := op.DecodeValue(&v); err != nil {
		return fail(op, "bad client-pause value: "+err.Error())
	}
	d, err := time.ParseDuration(v.Duration)
	if err != nil {
		return fail(op, "bad client-pause duration: "+err.Error())
	}
	if board == nil {
		return fail(op, "this target's clients cannot be paused")
	}
	started, cancel := board.Arm(v.Client, d)
	if awaitStarted(ctx, started, cancel, 0) {
		op.Type = history.OK
		return op
	}
	return fail(op, "client "+v.Client+" did not reach a pause point (no acquire) before the phase ended")
}

// HealOps is empty: a pause ends by itself.
func (n *PauseNemesis) HealOps(nodes []string) []history.Op { return nil }

// PausesOf returns the pause board of the run r is preparing, so the
// run's target's clients and its faults share it, and a fault of one run
// never pauses another run's client of the same name (matrix cells side by
// side share a registry). Call it from a target's or nemesis's New; nil
// when r has no client-pause fault.
func PausesOf(r *core.Registry) *Pauses {
	if _, err := r.Nemesis("client-pause"); err != nil {
		return nil
	}
	return r.RunValue(pausesKey{}, func() any { return NewPauses() }).(*Pauses)
}

// pausesKey keys the pause board among a run's shared values.
type pausesKey struct{}
