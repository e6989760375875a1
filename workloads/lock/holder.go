package lock

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// HolderPauseValue is the value of a holder-pause or holder-resume record.
type HolderPauseValue struct {
	// Client is the holder's endpoint, Token the hold the pause answered.
	Client string `json:"client"`
	Token  string `json:"token,omitempty"`
	// Duration is how long the holder stays stopped.
	Duration string `json:"duration"`
	// Links says the holder's links to every node are cut while it is
	// stopped, so nothing it left running (a lease keep-alive) gets through.
	Links bool `json:"links"`
	// Nodes are the nodes whose links to the holder are cut.
	Nodes []string `json:"nodes,omitempty"`
}

// HolderPauseParams are the holder-pause nemesis's flags.
var HolderPauseParams = []core.Param{
	{Name: "holder-pause-duration", Type: core.TypeDuration, Default: "", Usage: "how long a holder stays stopped (default: twice --lock-ttl, so the hold outlives its lease)"},
	{Name: "holder-pause-clients", Default: "", Usage: "client endpoints whose holds may be struck, comma-separated (default: every client)"},
	{Name: "holder-pause-links", Type: core.TypeBool, Default: "true", Usage: "also cut the holder's links to every node while it is stopped (stops lease keep-alives that run beside the client)"},
	{Name: "holder-pause-gap", Type: core.TypeDuration, Default: "", Usage: "least time between two acquires that are struck (default: twice the pause)"},
	{Name: "holder-pause-count", Type: core.TypeInt, Default: "0", Usage: "how many holds to strike in a run (0: no limit)"},
}

// HolderPause is the event-triggered process pause of a lock holder: when an
// acquire completes ok, the holder stops for Duration at its next pause
// point (see Pauses), and while it is stopped its links to every node are
// cut, so whatever keeps its lease alive beside it (etcd's keep-alive
// goroutine) is silenced too, like a GC pause of the whole client process.
// The fault is planned from the acquire's completion alone; each record names
// that acquire under "trigger".
type HolderPause struct {
	board   *Pauses
	d, gap  time.Duration
	clients []string
	links   bool
	count   int

	// Plan state (Trigger only).
	struck int
	lastAt int64

	// Apply state (the runner applies one fault at a time), under the
	// links' mutex.
	holderLinks
	started time.Time // when the current pause began; zero: none
}

var (
	_ core.Nemesis   = (*HolderPause)(nil)
	_ core.Triggered = (*HolderPause)(nil)
)

// NewHolderPause builds the fault over board from its params (and
// --lock-ttl).
func NewHolderPause(board *Pauses, p core.Params) (*HolderPause, error) {
	ttl, err := p.Duration("lock-ttl", 2*time.Second)
	if err != nil {
		return nil, err
	}
	n := &HolderPause{board: board}
	if n.d, err = p.Duration("holder-pause-duration", 2*ttl); err != nil {
		return nil, err
	}
	if n.gap, err = p.Duration("holder-pause-gap", 2*n.d); err != nil {
		return nil, err
	}
	if n.links, err = p.Bool("holder-pause-links", true); err != nil {
		return nil, err
	}
	if n.count, err = p.Int("holder-pause-count", 0); err != nil {
		return nil, err
	}
	if n.d <= 0 || n.gap < 0 || n.count < 0 {
		return nil, fmt.Errorf("--holder-pause-duration must be positive, --holder-pause-gap and --holder-pause-count not negative")
	}
	n.clients = splitClients(p.String("holder-pause-clients", ""))
	return n, nil
}

// Name is "holder-pause".
func (n *HolderPause) Name() string { return "holder-pause" }

// Next is never asked for: the fault is planned from events only.
func (n *HolderPause) Next(*rand.Rand, []string) history.Op {
	return history.Op{F: "holder-pause-unplanned"}
}

// Trigger strikes the holder of an acquire that completed ok, unless the
// last strike was less than the gap before it or the count is used up. It
// plans the pause and the resume that ends it.
func (n *HolderPause) Trigger(_ *rand.Rand, ev history.Op, nodes []string) []history.Op {
	if ev.IsNemesis() || ev.F != FAcquire || ev.Type != history.OK {
		return nil
	}
	if n.count > 0 && n.struck >= n.count {
		return nil
	}
	if n.struck > 0 && ev.Time < n.lastAt+int64(n.gap) {
		return nil
	}
	g, ok := struckGrant(ev, n.clients)
	if !ok {
		return nil
	}
	n.struck++
	n.lastAt = ev.Time
	v := history.JSON(HolderPauseValue{Client: g.Client, Token: g.Token, Duration: n.d.String(), Links: n.links, Nodes: nodes})
	return []history.Op{
		{F: "holder-pause", Node: ev.Node, Value: v},
		{F: "holder-resume", Node: ev.Node, Value: v},
	}
}

// Apply stops the holder: holder-pause cuts its links and completes when it
// reaches its pause point (or after the pause's length, if it never does:
// a client without pause points is still cut off); holder-resume completes
// when the pause is over and its links are healed.
func (n *HolderPause) Apply(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	var v HolderPauseValue
	if err := op.DecodeValue(&v); err != nil {
		return fail(op, "bad holder-pause value: "+err.Error())
	}
	d, err := time.ParseDuration(v.Duration)
	if err != nil {
		return fail(op, "bad holder-pause duration: "+err.Error())
	}
	switch op.F {
	case "holder-pause":
		return n.pause(ctx, rt, op, v, d)
	case "holder-resume":
		return n.resume(ctx, rt, op)
	case "heal":
		return n.heal(ctx, rt, op)
	}
	return fail(op, fmt.Sprintf("holder-pause: unknown fault %q", op.F))
}

func (n *HolderPause) pause(ctx context.Context, rt core.Runtime, op history.Op, v HolderPauseValue, d time.Duration) history.Op {
	begin := time.Now()
	if v.Links {
		n.mu.Lock()
		n.cut = true
		n.mu.Unlock()
		if err := rt.Partition(ctx, clientLinks(v.Client, v.Nodes)); err != nil {
			op.Type, op.Error = history.Info, "cut the holder's links: "+err.Error()
			n.mu.Lock()
			n.started = begin
			n.mu.Unlock()
			return op
		}
	}
	var started <-chan struct{}
	cancel := func() {}
	if n.board != nil {
		started, cancel = n.board.Arm(v.Client, d)
	}
	if awaitStarted(ctx, started, cancel, d) {
		n.setStarted(time.Now())
		op.Type = history.OK
		return op
	}
	// The holder never reached a pause point: its links were cut for the
	// pause's length all the same.
	n.setStarted(begin)
	op.Type, op.Error = history.OK, "the holder reached no pause point; only its links were cut"
	if ctx.Err() != nil {
		op.Type, op.Error = history.Info, "the phase ended before the holder reached a pause point"
	}
	return op
}

func (n *HolderPause) setStarted(t time.Time) {
	n.mu.Lock()
	n.started = t
	n.mu.Unlock()
}

func (n *HolderPause) resume(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	var v HolderPauseValue
	_ = op.DecodeValue(&v)
	d, _ := time.ParseDuration(v.Duration)
	n.mu.Lock()
	started := n.started
	n.started = time.Time{}
	n.mu.Unlock()
	if !started.IsZero() {
		_ = sleep(ctx, time.Until(started.Add(d)))
	}
	return n.heal(context.WithoutCancel(ctx), rt, op)
}

// holderLinks is whether a holder fault's cut of the holder's links may be
// in place. Its mutex also guards the fault's other Apply state.
type holderLinks struct {
	mu  sync.Mutex
	cut bool
}

// heal heals the holder's links if they may be cut.
func (l *holderLinks) heal(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	l.mu.Lock()
	cut := l.cut
	l.mu.Unlock()
	if cut {
		if err := rt.Heal(ctx); err != nil {
			op.Type, op.Error = history.Info, "heal the holder's links: "+err.Error()
			return op
		}
		l.mu.Lock()
		l.cut = false
		l.mu.Unlock()
	}
	op.Type = history.OK
	return op
}

// struckGrant is the grant of an acquire that completed ok, if a holder
// fault over clients (empty: every client) may strike its holder.
func struckGrant(ev history.Op, clients []string) (Grant, bool) {
	var g Grant
	if err := ev.DecodeValue(&g); err != nil || g.Client == "" {
		return Grant{}, false
	}
	if len(clients) > 0 && !slices.Contains(clients, g.Client) {
		return Grant{}, false
	}
	return g, true
}

// splitClients are the client endpoints of a comma-separated flag.
func splitClients(s string) []string {
	var out []string
	for _, c := range strings.Split(s, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// awaitStarted waits until a client armed on the pause board reaches its
// pause point (started closes), for at most limit (0: until ctx ends). If
// it has not by then, it disarms with cancel and looks once more, since the
// client may have reached the point meanwhile.
func awaitStarted(ctx context.Context, started <-chan struct{}, cancel func(), limit time.Duration) bool {
	var expired <-chan time.Time
	if limit > 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-started:
		return true
	case <-expired:
	case <-ctx.Done():
	}
	cancel()
	select {
	case <-started:
		return true
	default:
		return false
	}
}

// clientLinks are both directions between a client endpoint and every node.
func clientLinks(client string, nodes []string) []core.Link {
	var out []core.Link
	for _, node := range nodes {
		out = append(out, core.Link{From: client, To: node}, core.Link{From: node, To: client})
	}
	return out
}

// HealOps heals the links a pause may have left cut.
func (n *HolderPause) HealOps(nodes []string) []history.Op {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.cut {
		return nil
	}
	return []history.Op{{F: "heal", Value: history.JSON(HolderPauseValue{Duration: "0s"})}}
}
