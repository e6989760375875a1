// Package linkproxy is a network fault layer that needs no root: every
// directed link (from endpoint, to node, port) gets its own loopback listener
// that forwards to the node's real address. The local runtime hands out the
// listener's address instead of the node's, so all traffic of a link passes
// through one proxy, and cutting a link is a decision inside that proxy.
//
// A cut is directional, like an iptables DROP rule on one side: bytes from a
// cut direction are dropped, so requests hang and time out instead of being
// refused (Jepsen's grudge semantics). A connection opened while either
// direction is cut is accepted and then black-holed, since a TCP handshake
// needs both. A connection that lost bytes is closed at the heal, because its
// stream is no longer whole; the peer reconnects, as it would after a real
// timeout. In Reject mode cut links refuse and close connections instead.
//
// Links can also be shaped: a fixed latency (with jitter, order preserved)
// and a loss probability, modelled at stream level as a retransmission delay,
// because a TCP stream never loses bytes, it only waits for them.
package linkproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaostest/chaos/core"
)

// Mode says what a cut link does to traffic.
type Mode int

const (
	// Drop black-holes traffic in the cut direction: senders hang.
	Drop Mode = iota
	// Reject closes connections on cut links and refuses new ones.
	Reject
)

// Shape degrades a link without cutting it.
type Shape struct {
	// Latency delays every chunk of data; Jitter adds up to that much more,
	// at random, without reordering.
	Latency time.Duration `json:"latency,omitempty"`
	Jitter  time.Duration `json:"jitter,omitempty"`
	// Loss is the probability that a chunk is lost once and arrives only
	// after a retransmission timeout.
	Loss float64 `json:"loss,omitempty"`
	// Rate limits the link to this many bytes per second (0: no limit).
	Rate int64 `json:"rate,omitempty"`
	// Packet faults that only a packet-level layer can make (the docker
	// runtime); a stream proxy refuses them, since TCP hides them from
	// the programs: the share of packets sent twice, sent at once ahead
	// of delayed ones, or with a flipped bit.
	Duplicate float64 `json:"duplicate,omitempty"`
	Reorder   float64 `json:"reorder,omitempty"`
	Corrupt   float64 `json:"corrupt,omitempty"`
}

func (s Shape) zero() bool { return s == Shape{} }

// Validate says what is wrong with s, whichever layer applies it.
func (s Shape) Validate() error {
	switch {
	case s.Latency < 0 || s.Jitter < 0:
		return fmt.Errorf("latency %s and jitter %s must not be negative", s.Latency, s.Jitter)
	case s.Rate < 0:
		return fmt.Errorf("rate %d must not be negative", s.Rate)
	}
	for name, p := range map[string]float64{"loss": s.Loss, "duplicate": s.Duplicate, "reorder": s.Reorder, "corrupt": s.Corrupt} {
		if p < 0 || p >= 1 || p != p {
			return fmt.Errorf("%s %g must be in [0, 1)", name, p)
		}
	}
	return nil
}

// StreamUnsupported names the parts of s that a stream proxy cannot make
// (duplicate, reorder, corrupt), or "" when it can make all of them.
func (s Shape) StreamUnsupported() string {
	var out []string
	if s.Duplicate > 0 {
		out = append(out, "duplicate")
	}
	if s.Reorder > 0 {
		out = append(out, "reorder")
	}
	if s.Corrupt > 0 {
		out = append(out, "corrupt")
	}
	return strings.Join(out, ", ")
}

// Option configures a Layer.
type Option func(*Layer)

// WithMode sets what cut links do (default Drop).
func WithMode(m Mode) Option { return func(l *Layer) { l.mode = m } }

// WithShape gives every link the shape that f returns for it, until Shape
// changes it. Use it for a run-wide latency between nodes.
func WithShape(f func(link core.Link) Shape) Option { return func(l *Layer) { l.base = f } }

// WithSeed seeds the jitter and loss draws.
func WithSeed(seed int64) Option { return func(l *Layer) { l.seed = seed } }

// WithRetransmit sets the delay a lost chunk suffers (default 200ms, Linux's
// minimum TCP retransmission timeout).
func WithRetransmit(d time.Duration) Option { return func(l *Layer) { l.rto = d } }

// Layer is a set of link proxies. It implements the local runtime's
// LinkLayer. Every method is safe for concurrent use.
type Layer struct {
	mode Mode
	base func(core.Link) Shape
	seed int64
	rto  time.Duration
	host string

	mu       sync.Mutex
	nextPort int
	proxies  map[key]*proxy
	order    []key
	cut      map[core.Link]bool
	shapes   map[core.Link]Shape
	closed   bool
}

type key struct{ from, to, port string }

// New returns an empty layer; proxies are created by Addr.
func New(opts ...Option) *Layer {
	l := &Layer{host: "127.0.0.1", rto: 200 * time.Millisecond, proxies: map[key]*proxy{},
		cut: map[core.Link]bool{}, shapes: map[core.Link]Shape{}}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Addr returns the address at which from must dial port of node to: the
// proxy of that link, created on first use and kept until Close, so the
// address stays the same across node restarts.
func (l *Layer) Addr(from, to, port, direct string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return "", errors.New("linkproxy: closed")
	}
	k := key{from, to, port}
	if p, ok := l.proxies[k]; ok {
		if p.target != direct {
			return "", fmt.Errorf("linkproxy: link %s->%s port %s already forwards to %s, not %s", from, to, port, p.target, direct)
		}
		return p.addr, nil
	}
	ln, err := l.listen()
	if err != nil {
		return "", fmt.Errorf("linkproxy: listen for link %s->%s: %w", from, to, err)
	}
	p := &proxy{layer: l, from: from, to: to, target: direct, ln: ln, addr: ln.Addr().String(),
		conns: map[*pconn]struct{}{},
		rng:   rand.New(rand.NewPCG(uint64(l.seed), hash(from+"\x00"+to+"\x00"+port)))}
	l.refreshLocked(p)
	l.proxies[k] = p
	l.order = append(l.order, k)
	go p.serve(ln)
	return p.addr, nil
}

// Retarget points every link to port of node to at a new direct address:
// the node came back on another port (its old one was taken while it was
// down). The links' own addresses, which the other nodes and the clients
// dial, stay the same.
func (l *Layer) Retarget(to, port, direct string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range l.order {
		if k.to == to && k.port == port {
			l.proxies[k].target = direct
		}
	}
}

// NodeDown closes the listener of every link to node, so that dialers get
// "connection refused" from the kernel, as they would dialling a dead node
// directly, instead of a connection the proxy accepts and then drops (which
// a client must take as an indeterminate outcome). Connections already open
// end when the node's side does.
func (l *Layer) NodeDown(node string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range l.order {
		if p := l.proxies[k]; k.to == node && p.ln != nil {
			p.ln.Close()
			p.ln = nil
		}
	}
}

// NodeUp listens again, on the same addresses, for every link to node.
func (l *Layer) NodeUp(node string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, k := range l.order {
		p := l.proxies[k]
		if k.to != node || p.ln != nil || p.closed {
			continue
		}
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("linkproxy: listen again for link %s->%s at %s: %w", p.from, p.to, p.addr, err))
			continue
		}
		p.ln = ln
		go p.serve(ln)
	}
	return errors.Join(errs...)
}

// listen binds a proxy's listener. The local runtime reserves node ports by
// binding port 0 and closing, so a proxy taking its port the same way could
// steal a node's port before the node binds it. Proxies therefore take ports
// below the kernel's ephemeral range, which bind(0) and connect never hand
// out, and fall back to port 0 only when that range is too small.
func (l *Layer) listen() (net.Listener, error) {
	lo, hi := proxyPortRange()
	if hi-lo < 100 {
		return net.Listen("tcp", net.JoinHostPort(l.host, "0"))
	}
	if l.nextPort == 0 {
		// Spread parallel harnesses over the range.
		l.nextPort = lo + int(hash(fmt.Sprint(os.Getpid(), time.Now().UnixNano()))%uint64(hi-lo))
	}
	var last error
	for range 500 {
		port := l.nextPort
		if l.nextPort++; l.nextPort >= hi {
			l.nextPort = lo
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(l.host, strconv.Itoa(port)))
		if err == nil {
			return ln, nil
		}
		last = err
	}
	return nil, last
}

// proxyPortRange is [10000, start of the ephemeral range).
func proxyPortRange() (lo, hi int) {
	lo, hi = 10000, 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				hi = n
			}
		}
	}
	return lo, hi
}

func hash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Partition cuts the given links in addition to those already cut. An
// endpoint ending in "*" matches every endpoint with that prefix ("c*": every
// client).
func (l *Layer) Partition(ctx context.Context, cut []core.Link) error {
	for _, c := range cut {
		if c.From == "" || c.To == "" {
			return fmt.Errorf("linkproxy: link %q->%q names no endpoint", c.From, c.To)
		}
	}
	l.mu.Lock()
	for _, c := range cut {
		l.cut[c] = true
	}
	var victims []*pconn
	for _, k := range l.order {
		p := l.proxies[k]
		l.refreshLocked(p)
		if l.mode == Reject && (p.up.cut.Load() || p.down.cut.Load()) {
			victims = append(victims, p.connsLocked()...)
		}
	}
	l.mu.Unlock()
	for _, c := range victims {
		c.close()
	}
	return nil
}

// Heal restores every link and removes every shape set by Shape. Connections
// that lost data while cut are closed.
func (l *Layer) Heal(ctx context.Context) error {
	l.mu.Lock()
	l.cut = map[core.Link]bool{}
	l.shapes = map[core.Link]Shape{}
	var damaged []*pconn
	for _, k := range l.order {
		p := l.proxies[k]
		l.refreshLocked(p)
		for _, c := range p.connsLocked() {
			if c.damaged.Load() {
				damaged = append(damaged, c)
			}
		}
	}
	l.mu.Unlock()
	for _, c := range damaged {
		c.close()
	}
	return nil
}

// SetShape degrades the given links (replacing their earlier shape); a zero
// Shape restores their base shape. Heal removes every shape.
func (l *Layer) SetShape(ctx context.Context, links []core.Link, s Shape) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("linkproxy: %w", err)
	}
	if u := s.StreamUnsupported(); u != "" {
		return fmt.Errorf("linkproxy: %s: a stream proxy cannot make these packet faults (TCP repairs them before any program sees them): %w", u, core.ErrUnsupported)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, lk := range links {
		if s.zero() {
			delete(l.shapes, lk)
		} else {
			l.shapes[lk] = s
		}
	}
	for _, k := range l.order {
		l.refreshLocked(l.proxies[k])
	}
	return nil
}

// Cut returns the links cut now, sorted.
func (l *Layer) Cut() []core.Link {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]core.Link, 0, len(l.cut))
	for c := range l.cut {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].From != out[j].From {
			return out[i].From < out[j].From
		}
		return out[i].To < out[j].To
	})
	return out
}

// Close stops every proxy and closes every connection.
func (l *Layer) Close() error {
	l.mu.Lock()
	l.closed = true
	var ps []*proxy
	var cs []*pconn
	for _, k := range l.order {
		p := l.proxies[k]
		ps = append(ps, p)
		cs = append(cs, p.connsLocked()...)
		p.closed = true
	}
	l.mu.Unlock()
	var errs []error
	for _, p := range ps {
		if p.ln == nil {
			continue
		}
		if err := p.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for _, c := range cs {
		c.close()
	}
	return errors.Join(errs...)
}

func match(pattern, name string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, p)
	}
	return pattern == name
}

func (l *Layer) isCutLocked(from, to string) bool {
	if l.cut[core.Link{From: from, To: to}] {
		return true
	}
	for c := range l.cut {
		if match(c.From, from) && match(c.To, to) {
			return true
		}
	}
	return false
}

func (l *Layer) shapeLocked(from, to string) Shape {
	if s, ok := l.shapes[core.Link{From: from, To: to}]; ok {
		return s
	}
	for lk, s := range l.shapes {
		if match(lk.From, from) && match(lk.To, to) {
			return s
		}
	}
	if l.base != nil {
		return l.base(core.Link{From: from, To: to})
	}
	return Shape{}
}

// refreshLocked recomputes a proxy's view of its two directions.
func (l *Layer) refreshLocked(p *proxy) {
	p.up.cut.Store(l.isCutLocked(p.from, p.to))
	p.down.cut.Store(l.isCutLocked(p.to, p.from))
	up, down := l.shapeLocked(p.from, p.to), l.shapeLocked(p.to, p.from)
	p.up.shape.Store(&up)
	p.down.shape.Store(&down)
}

// direction is one way of a link as a proxy sees it.
type direction struct {
	cut   atomic.Bool
	shape atomic.Pointer[Shape]
}

type proxy struct {
	layer    *Layer
	from, to string
	target   string
	addr     string
	ln       net.Listener // nil while the node is down; guarded by layer.mu
	up, down direction    // up: from->to (requests), down: to->from (answers)

	rngMu sync.Mutex
	rng   *rand.Rand

	// guarded by layer.mu
	conns  map[*pconn]struct{}
	closed bool
}

func (p *proxy) connsLocked() []*pconn {
	out := make([]*pconn, 0, len(p.conns))
	for c := range p.conns {
		out = append(out, c)
	}
	return out
}

func (p *proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *proxy) handle(client net.Conn) {
	pc := &pconn{client: client}
	l := p.layer
	l.mu.Lock()
	if p.closed {
		l.mu.Unlock()
		client.Close()
		return
	}
	p.conns[pc] = struct{}{}
	target := p.target
	l.mu.Unlock()
	defer func() {
		pc.close()
		l.mu.Lock()
		delete(p.conns, pc)
		l.mu.Unlock()
	}()

	if p.up.cut.Load() || p.down.cut.Load() {
		if l.mode == Reject {
			return
		}
		// The handshake cannot complete: hold the connection, swallow what
		// the sender writes, and let the heal close it.
		pc.damaged.Store(true)
		_, _ = io.Copy(io.Discard, client)
		return
	}
	server, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		// The node died before the runtime said so (NodeDown): reset
		// the connection, the closest to a refusal once it is accepted.
		if tc, ok := client.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		return
	}
	pc.setServer(server)
	done := make(chan struct{}, 2)
	go func() { p.pump(server, client, &p.up, pc); done <- struct{}{} }()
	go func() { p.pump(client, server, &p.down, pc); done <- struct{}{} }()
	<-done
	// One side finished: the other cannot make progress alone for long,
	// and a half-open proxy would hide a dead node.
	pc.close()
	<-done
}

type chunk struct {
	data []byte
	due  time.Time
}

// pump copies src to dst in one direction, dropping data while the direction
// is cut and delaying it when it is shaped.
func (p *proxy) pump(dst, src net.Conn, d *direction, pc *pconn) {
	buf := make([]byte, 32<<10)
	var (
		queue   chan chunk
		wdone   chan struct{}
		lastDue time.Time
		lastTx  time.Time
		werr    atomic.Bool
	)
	defer func() {
		if queue != nil {
			close(queue)
			<-wdone
		}
	}()
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if d.cut.Load() {
				pc.damaged.Store(true)
				if p.layer.mode == Reject {
					return
				}
			} else if s := d.shape.Load(); queue == nil && (s == nil || s.zero()) {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			} else {
				if queue == nil {
					queue, wdone = make(chan chunk, 1024), make(chan struct{})
					go delayedWriter(dst, queue, wdone, &werr)
				}
				if werr.Load() {
					return
				}
				now := time.Now()
				due := now.Add(p.delay(s))
				if due.Before(lastDue) {
					due = lastDue
				}
				if s != nil && s.Rate > 0 {
					// A rate spaces the chunks by their size.
					start := now
					if lastTx.After(start) {
						start = lastTx
					}
					lastTx = start.Add(time.Duration(float64(n) / float64(s.Rate) * float64(time.Second)))
					if lastTx.After(due) {
						due = lastTx
					}
				}
				lastDue = due
				queue <- chunk{data: append([]byte(nil), buf[:n]...), due: due}
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *proxy) delay(s *Shape) time.Duration {
	if s == nil || s.zero() {
		return 0
	}
	d := s.Latency
	if s.Jitter > 0 || s.Loss > 0 {
		p.rngMu.Lock()
		if s.Jitter > 0 {
			d += time.Duration(p.rng.Int64N(int64(s.Jitter) + 1))
		}
		if s.Loss > 0 && p.rng.Float64() < s.Loss {
			d += p.layer.rto
		}
		p.rngMu.Unlock()
	}
	return d
}

func delayedWriter(dst net.Conn, q <-chan chunk, done chan<- struct{}, failed *atomic.Bool) {
	defer close(done)
	for c := range q {
		if failed.Load() {
			continue
		}
		if w := time.Until(c.due); w > 0 {
			time.Sleep(w)
		}
		if _, err := dst.Write(c.data); err != nil {
			failed.Store(true)
		}
	}
}

// pconn is one proxied connection.
type pconn struct {
	client  net.Conn
	mu      sync.Mutex
	server  net.Conn
	closed  bool
	damaged atomic.Bool
}

func (c *pconn) setServer(s net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		s.Close()
		return
	}
	c.server = s
}

func (c *pconn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.client.Close()
	if c.server != nil {
		c.server.Close()
	}
}
