package lock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// ErrNotGranted is wrapped by Locker.Acquire when the lock was certainly not
// taken (held by another, no quorum and every partial hold given back...).
var ErrNotGranted = errors.New("lock not granted")

// ErrNotHeld is wrapped by Locker.Release when the client certainly held
// nothing any more (its lease had run out, or another holds the lock).
var ErrNotHeld = errors.New("lock not held")

// Locker is a lock as one client of a target speaks it. Errors other than
// ErrNotGranted and ErrNotHeld mean the outcome is unknown. Used by one
// goroutine at a time.
type Locker interface {
	// Acquire takes the named lock for ttl and says what the lock granted.
	// Validity in the grant counts from the moment Acquire was called (the
	// caller moves it to the op's invocation); Client is filled in by the
	// caller.
	Acquire(ctx context.Context, key string, ttl time.Duration) (Grant, error)
	// Release gives a hold back and returns the nodes where that took
	// effect.
	Release(ctx context.Context, key string, g Grant) ([]string, error)
	Close() error
}

// Client adapts a Locker to core.Client under the op contract of this
// package, and plays the protected resource for read and write.
type Client struct {
	locker   Locker
	endpoint string
	res      *Resources
	pauses   *Pauses
	set      bool

	held     *Grant
	heldKey  string
	lastRead []int64
}

var _ core.Client = (*Client)(nil)

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithResources sets the protected resources (shared by every client of a
// run; required for lock-set).
func WithResources(rs *Resources) ClientOption { return func(c *Client) { c.res = rs } }

// WithPauses lets the client-pause fault stop this client.
func WithPauses(p *Pauses) ClientOption { return func(c *Client) { c.pauses = p } }

// NewClient returns a client for workload ("lock" or "lock-set") acting as
// endpoint.
func NewClient(l Locker, workload, endpoint string, opts ...ClientOption) *Client {
	c := &Client{locker: l, endpoint: endpoint, set: workload == "lock-set"}
	for _, o := range opts {
		o(c)
	}
	if c.res == nil {
		c.res = NewResources(false)
	}
	return c
}

// Close closes the locker.
func (c *Client) Close() error { return c.locker.Close() }

// Invoke performs one op of the contract.
func (c *Client) Invoke(ctx context.Context, op history.Op) history.Op {
	switch op.F {
	case FAcquire:
		return c.acquire(ctx, op)
	case FRelease:
		return c.release(ctx, op)
	case FRead:
		return c.read(ctx, op)
	case FWrite:
		return c.write(op)
	}
	return fail(op, fmt.Sprintf("unknown operation %q", op.F))
}

func (c *Client) acquire(ctx context.Context, op history.Op) history.Op {
	invoked := time.Now()
	var a AcquireArgs
	if len(op.Value) > 0 {
		if err := op.DecodeValue(&a); err != nil {
			return fail(op, "bad acquire arguments: "+err.Error())
		}
	}
	if err := c.pauses.pass(ctx, c.endpoint); err != nil {
		return fail(op, err.Error())
	}
	if a.Delay > 0 && sleep(ctx, time.Duration(a.Delay)) != nil {
		return fail(op, "interrupted before sending: "+ctx.Err().Error())
	}
	ttl := time.Duration(a.TTL)
	if ttl <= 0 {
		ttl = 2 * time.Second
	}
	sent := time.Now()
	g, err := c.locker.Acquire(ctx, op.Key, ttl)
	switch {
	case errors.Is(err, ErrNotGranted):
		return fail(op, err.Error())
	case err != nil:
		return info(op, err.Error())
	}
	g.Client = c.endpoint
	if g.Validity > 0 {
		// The lease began no earlier than the call; counting it from the
		// invocation (earlier still) can only make the deadline stricter.
		g.Validity += int64(sent.Sub(invoked))
	}
	c.held, c.heldKey, c.lastRead = &g, op.Key, nil
	if !c.set {
		// In the plain lock workload the pause strikes while the client
		// holds the lock, before it says so.
		if c.pauses.strike(ctx, c.endpoint) {
			c.held = nil
			return info(op, crashedMsg)
		}
	}
	op.Type, op.Value = history.OK, history.JSON(g)
	return op
}

func (c *Client) release(ctx context.Context, op history.Op) history.Op {
	g := c.held
	if g == nil || c.heldKey != op.Key {
		return fail(op, "holding nothing to release")
	}
	c.held, c.lastRead = nil, nil
	nodes, err := c.locker.Release(ctx, op.Key, *g)
	switch {
	case errors.Is(err, ErrNotHeld):
		return fail(op, err.Error())
	case err != nil:
		return info(op, err.Error())
	}
	op.Type, op.Value = history.OK, history.JSON(Release{Token: g.Token, Nodes: nodes})
	return op
}

func (c *Client) read(ctx context.Context, op history.Op) history.Op {
	var a ReadArgs
	if len(op.Value) > 0 {
		if err := op.DecodeValue(&a); err != nil {
			return fail(op, "bad read arguments: "+err.Error())
		}
	}
	r := c.res.Get(op.Key)
	if a.Final {
		op.Type, op.Value = history.OK, history.JSON(ReadResult{Set: r.Read(c.endpoint, "")})
		return op
	}
	if c.held == nil || c.heldKey != op.Key {
		return fail(op, "not holding the lock")
	}
	set := r.Read(c.endpoint, c.held.Token)
	c.lastRead = set
	if a.Hold > 0 {
		_ = sleep(ctx, time.Duration(a.Hold))
	}
	if c.pauses.strike(ctx, c.endpoint) {
		c.held, c.lastRead = nil, nil
		return info(op, crashedMsg)
	}
	op.Type, op.Value = history.OK, history.JSON(ReadResult{Set: set, Token: c.held.Token})
	return op
}

func (c *Client) write(op history.Op) history.Op {
	var a WriteArgs
	if err := op.DecodeValue(&a); err != nil {
		return fail(op, "bad write arguments: "+err.Error())
	}
	if c.held == nil || c.heldKey != op.Key || c.lastRead == nil {
		return fail(op, "not holding the lock with a read in hand")
	}
	set := append(append([]int64(nil), c.lastRead...), a.Add)
	seq, err := c.res.Get(op.Key).Write(c.endpoint, c.held.Token, c.held.Fence, set)
	if err != nil {
		return fail(op, err.Error())
	}
	c.lastRead = set
	op.Type = history.OK
	op.Value = history.JSON(WriteResult{Add: a.Add, Set: set, Token: c.held.Token, Fence: c.held.Fence, Seq: seq})
	return op
}

func fail(op history.Op, msg string) history.Op {
	op.Type, op.Error, op.Value = history.Fail, msg, nil
	return op
}

func info(op history.Op, msg string) history.Op {
	op.Type, op.Error, op.Value = history.Info, msg, nil
	return op
}

// sleep waits for d or ctx.
func sleep(ctx context.Context, d time.Duration) error { return core.RealClock{}.Sleep(ctx, d) }

// Pauses is the board through which the client-pause fault reaches clients
// inside the harness: a fault arms a pause for one client endpoint, and that
// client stops for the given time at its next pause point (right after it
// read under a fresh hold in lock-set, right after it was granted the lock in
// lock), like a long GC pause. Safe for concurrent use.
type Pauses struct {
	mu    sync.Mutex
	armed map[string]*armedPause
	gates map[string]*Gate
}

type armedPause struct {
	d       time.Duration
	started chan struct{}
	// wake, when set, makes the pause a crash: the client stays stopped
	// until wake closes (the end of the run), and the operation it was in
	// ends as info.
	wake <-chan struct{}
}

// NewPauses returns an empty board.
func NewPauses() *Pauses {
	return &Pauses{armed: map[string]*armedPause{}, gates: map[string]*Gate{}}
}

// Gate holds a client's acquires back until a fault has happened: a
// scripted nemesis closes it before the client's first acquire and opens it
// once the state the client should meet is there (a replica promoted), so
// the client tries then, however long a loaded machine took to get there,
// instead of at a fixed time. A held acquire sends nothing until the gate
// opens; one whose gate is cancelled fails, having sent nothing.
type Gate struct {
	p      *Pauses
	client string
	done   chan struct{}
	err    error // set before done closes: why the gate was cancelled
	once   sync.Once
}

// Hold closes a gate in front of client's acquires, replacing any gate it
// had. The client waits at its next acquire until Open or Cancel.
func (p *Pauses) Hold(client string) *Gate {
	g := &Gate{p: p, client: client, done: make(chan struct{})}
	p.mu.Lock()
	p.gates[client] = g
	p.mu.Unlock()
	return g
}

// Open lets the client's held and later acquires go.
func (g *Gate) Open() { g.end(nil) }

// Cancel fails the client's held acquire with why; later acquires go, as
// after Open, so a gate never outlives its run on a shared board.
func (g *Gate) Cancel(why string) {
	g.end(fmt.Errorf("not sent: the acquire was held for a fault that never came: %s", why))
}

func (g *Gate) end(err error) {
	g.once.Do(func() {
		g.err = err
		close(g.done)
		g.p.mu.Lock()
		if g.p.gates[g.client] == g {
			delete(g.p.gates, g.client)
		}
		g.p.mu.Unlock()
	})
}

// pass waits at client's gate, if there is one.
func (p *Pauses) pass(ctx context.Context, client string) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	g := p.gates[client]
	p.mu.Unlock()
	if g == nil {
		return nil
	}
	select {
	case <-g.done:
		return g.err
	case <-ctx.Done():
		return fmt.Errorf("interrupted before sending, held for a fault: %w", ctx.Err())
	}
}

// Arm makes client pause for d at its next pause point. The returned channel
// closes when the pause begins; cancel disarms a pause that has not begun.
func (p *Pauses) Arm(client string, d time.Duration) (started <-chan struct{}, cancel func()) {
	ap := &armedPause{d: d, started: make(chan struct{})}
	p.mu.Lock()
	p.armed[client] = ap
	p.mu.Unlock()
	return ap.started, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.armed[client] == ap {
			delete(p.armed, client)
		}
	}
}

// ArmCrash makes client crash at its next pause point: it stops there
// until wake closes and then reports the operation it was in as info, as a
// process that died would never have reported it. The returned channel
// closes when the crash happens; cancel disarms one that has not.
func (p *Pauses) ArmCrash(client string, wake <-chan struct{}) (started <-chan struct{}, cancel func()) {
	ap := &armedPause{started: make(chan struct{}), wake: wake}
	p.mu.Lock()
	p.armed[client] = ap
	p.mu.Unlock()
	return ap.started, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.armed[client] == ap {
			delete(p.armed, client)
		}
	}
}

// strike performs a pause armed for client, if any, and reports whether it
// was a crash.
func (p *Pauses) strike(ctx context.Context, client string) (crashed bool) {
	if p == nil {
		return false
	}
	p.mu.Lock()
	ap := p.armed[client]
	delete(p.armed, client)
	p.mu.Unlock()
	if ap == nil {
		return false
	}
	close(ap.started)
	if ap.wake != nil {
		// Dead until the run is over; ctx bounds it only on an interrupt
		// or an operation timeout the scenario chose shorter.
		select {
		case <-ap.wake:
		case <-ctx.Done():
		}
		return true
	}
	_ = sleep(ctx, ap.d)
	return false
}

// crashedMsg is the error of the operation a crashed client was in.
const crashedMsg = "the client crashed while holding the lock and stayed down until the run ended"
