package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/workloads/lock"
)

// Name is the target's name.
const Name = "zookeeper"

// The node's named ports.
const (
	PortClient   = "client"
	PortQuorum   = "quorum"
	PortElection = "election"
)

// Params are the target's flags.
var Params = []core.Param{
	{Name: "zk-session-timeout", Type: core.TypeDuration, Default: "2s", Usage: "session timeout every client asks for (granted as asked between two ticks and a minute); a lock is held as long as its session lives"},
	{Name: "zk-fencing", Type: core.TypeBool, Default: "false", Usage: "lock-set: the protected resource rejects writes whose fencing token (the lock znode's sequence number) is lower than one it accepted, and grants report how long their session is certainly alive"},
	{Name: "zk-tick", Type: core.TypeDuration, Default: "250ms", Usage: "tickTime of every server (session expiry is checked once a tick)"},
	{Name: "zk-heap", Default: "96m", Usage: "maximum heap of every server's JVM (-Xmx)"},
	{Name: "zk-classpath", Default: "", Usage: "class path of the server (default: Debian's /usr/share/java/zookeeper.jar and slf4j-simple)"},
}

// Options are the target's settings, parsed from its params.
type Options struct {
	SessionTimeout time.Duration
	Fencing        bool
	Tick           time.Duration
	Heap           string
	Java           string
	Classpath      string
}

// ParseOptions reads the target's params; it fails when java or the server's
// jars are missing, saying how to install them.
func ParseOptions(p core.Params) (Options, error) {
	var o Options
	var err error
	if o.SessionTimeout, err = p.Duration("zk-session-timeout", 2*time.Second); err != nil {
		return o, err
	}
	if o.Fencing, err = p.Bool("zk-fencing", false); err != nil {
		return o, err
	}
	if o.Tick, err = p.Duration("zk-tick", 250*time.Millisecond); err != nil {
		return o, err
	}
	if o.Tick < 10*time.Millisecond || o.Tick > 10*time.Second {
		return o, fmt.Errorf("--zk-tick %s: want 10ms to 10s", o.Tick)
	}
	if o.SessionTimeout < 2*o.Tick || o.SessionTimeout > time.Minute {
		return o, fmt.Errorf("--zk-session-timeout %s: the servers grant %s (two ticks) to 1m; change --zk-session-timeout or --zk-tick", o.SessionTimeout, 2*o.Tick)
	}
	o.Heap = p.String("zk-heap", "96m")
	if o.Heap == "" || strings.ContainsAny(o.Heap, " \t") {
		return o, fmt.Errorf("--zk-heap %q: want a JVM size such as 96m", o.Heap)
	}
	if o.Java, err = FindJava(); err != nil {
		return o, err
	}
	if o.Classpath, err = Classpath(p.String("zk-classpath", "")); err != nil {
		return o, err
	}
	return o, nil
}

// Target is a ZooKeeper ensemble on the runtime.
type Target struct {
	opts Options
	// sets are lock-set's harness-held resources, shared by every client of
	// this run.
	sets *lock.Resources
	// pauses lets the holder-pause fault stop this run's lock clients.
	pauses *lock.Pauses

	mu     sync.Mutex
	joined map[string]bool   // servers that have been ready once
	probes map[string]*probe // readiness sessions still being set up
}

var _ core.Target = (*Target)(nil)

// New builds the target from its params.
func New(p core.Params) (core.Target, error) { return NewWithPauses(p, nil) }

// NewWithPauses builds the target with a pause board through which the
// holder-pause fault stops lock clients (nil: none can be stopped).
func NewWithPauses(p core.Params, pauses *lock.Pauses) (core.Target, error) {
	o, err := ParseOptions(p)
	if err != nil {
		return nil, err
	}
	return &Target{opts: o, sets: lock.NewResources(o.Fencing), pauses: pauses,
		joined: map[string]bool{}, probes: map[string]*probe{}}, nil
}

// Nodes describes one server per name, each `chaos node zookeeper` (which
// becomes the server's JVM). Server ids follow the names' order.
func (t *Target) Nodes(names []string, _ core.Params) ([]core.NodeSpec, error) {
	if len(names) == 0 || len(names) > 255 {
		return nil, fmt.Errorf("zookeeper needs 1 to 255 servers, not %d", len(names))
	}
	specs := make([]core.NodeSpec, 0, len(names))
	for i, name := range names {
		id := i + 1
		specs = append(specs, core.NodeSpec{
			Name:  name,
			Kind:  Name,
			Ports: []string{PortClient, PortQuorum, PortElection},
			Args: func(env core.NodeEnv) []string {
				var servers []string
				for j, other := range names {
					q, e := env.Peer(other, PortQuorum), env.Peer(other, PortElection)
					if other == env.Name {
						q, e = env.Listen(PortQuorum), env.Listen(PortElection)
					}
					entry, err := serverEntry(j+1, q, e)
					if err != nil {
						entry = fmt.Sprintf("%d=invalid:%v", j+1, err)
					}
					servers = append(servers, entry)
				}
				return []string{
					"--id", strconv.Itoa(id),
					"--data-dir", env.DataDir,
					"--client", env.Listen(PortClient),
					"--servers", strings.Join(servers, ","),
					"--tick", t.opts.Tick.String(),
					"--heap", t.opts.Heap,
					"--java", t.opts.Java,
					"--classpath", t.opts.Classpath,
				}
			},
			Ready: t.readyProbe(name),
		})
	}
	return specs, nil
}

// serverEntry is one --servers entry: id=host:quorumPort:electionPort. Both
// addresses of a server must share a host, as zoo.cfg's server lines do.
func serverEntry(id int, quorum, election string) (string, error) {
	qh, qp, err := net.SplitHostPort(quorum)
	if err != nil {
		return "", err
	}
	eh, ep, err := net.SplitHostPort(election)
	if err != nil {
		return "", err
	}
	if qh != eh {
		return "", fmt.Errorf("server %d: quorum host %s and election host %s differ", id, qh, eh)
	}
	return fmt.Sprintf("%d=%s:%s:%s", id, qh, qp, ep), nil
}

// readyProbe says when server name is ready. The first start waits until a
// real client session on that server is established and answers a read: a
// server accepts sessions only once it has joined a quorum with a leader. A
// restart waits only until the server listens again: a server restarted
// inside a minority partition cannot join a quorum before the heal, and that
// is ZooKeeper's behaviour under test, not a failed start.
func (t *Target) readyProbe(name string) func(context.Context, func(string) (string, error)) error {
	return func(ctx context.Context, addr func(port string) (string, error)) error {
		a, err := addr(PortClient)
		if err != nil {
			return err
		}
		t.mu.Lock()
		joined := t.joined[name]
		t.mu.Unlock()
		if joined {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", a)
			if err != nil {
				return err
			}
			return c.Close()
		}
		if err := t.sessionReady(ctx, name, a); err != nil {
			return err
		}
		t.mu.Lock()
		t.joined[name] = true
		t.mu.Unlock()
		return nil
	}
}

// probe is a readiness session kept across probes: the runtime gives every
// probe a second, and on a loaded machine a JVM may take longer than that to
// answer a new session's handshake. A probe session nobody asks about for
// probeIdle is closed, so an abandoned start leaves nothing open.
type probe struct {
	conn *zk.Conn
	idle *time.Timer
}

const probeIdle = 5 * time.Second

func (t *Target) sessionReady(ctx context.Context, name, addr string) error {
	t.mu.Lock()
	p := t.probes[name]
	if p == nil {
		conn, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogger(quiet{}), zk.WithLogInfo(false))
		if err != nil {
			t.mu.Unlock()
			return err
		}
		p = &probe{conn: conn}
		p.idle = time.AfterFunc(probeIdle, func() { t.dropProbe(name, p) })
		t.probes[name] = p
	}
	p.idle.Reset(probeIdle)
	t.mu.Unlock()
	if s := p.conn.State(); s != zk.StateHasSession {
		return fmt.Errorf("no session with server %s yet (%s)", name, s)
	}
	if _, err := call(ctx, func() (bool, error) { ok, _, err := p.conn.Exists("/"); return ok, err }); err != nil {
		return fmt.Errorf("read on server %s: %w", name, err)
	}
	t.dropProbe(name, p)
	return nil
}

func (t *Target) dropProbe(name string, p *probe) {
	t.mu.Lock()
	if t.probes[name] == p {
		delete(t.probes, name)
	}
	t.mu.Unlock()
	p.idle.Stop()
	p.conn.Close()
}

// NewClient opens a client of the given workload. Every client has one
// session with the ensemble, over the runtime's links from this client to
// every server, its own node first: ZooKeeper's clients move their session
// to another server when theirs fails.
func (t *Target) NewClient(ctx context.Context, workload string, cfg core.ClientConfig) (core.Client, error) {
	switch workload {
	case "lock", "lock-set", "ids":
	default:
		return nil, fmt.Errorf("zookeeper target has no client for workload %q (it runs lock, lock-set, ids)", workload)
	}
	conn, names, err := dial(ctx, cfg, t.opts.SessionTimeout)
	if err != nil {
		return nil, err
	}
	if workload == "ids" {
		return newIDClient(conn, names), nil
	}
	fenced := workload == "lock-set" && t.opts.Fencing
	l := newLocker(conn, cfg.Endpoint, names, t.opts.SessionTimeout, fenced)
	return lock.NewClient(l, workload, cfg.Endpoint, lock.WithResources(t.sets), lock.WithPauses(t.pauses)), nil
}

// dial opens the client's session: the servers in order from cfg.Node, each
// through this client's link to it. It waits for the session for at most the
// op timeout; a session not yet established (a server cut off at the start)
// is not an error: the client's operations say what happened.
func dial(ctx context.Context, cfg core.ClientConfig, timeout time.Duration) (*zk.Conn, serverNames, error) {
	var servers []string
	names := serverNames{}
	start := 0
	for i, n := range cfg.Nodes {
		if n == cfg.Node {
			start = i
		}
	}
	for i := range cfg.Nodes {
		n := cfg.Nodes[(start+i)%len(cfg.Nodes)]
		a, err := cfg.Addr(n, PortClient)
		if err != nil {
			return nil, nil, err
		}
		servers = append(servers, a)
		names[a] = n
	}
	if len(servers) == 0 {
		return nil, nil, errors.New("zookeeper: no servers")
	}
	conn, _, err := zk.Connect(servers, timeout, zk.WithHostProvider(&inOrder{servers: servers}), zk.WithLogger(quiet{}), zk.WithLogInfo(false))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to zookeeper at %s: %w", strings.Join(servers, ","), err)
	}
	wait := cfg.OpTimeout
	if wait <= 0 {
		wait = 5 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	_ = waitSession(wctx, conn)
	return conn, names, nil
}

// serverNames maps the addresses a client dials to node names.
type serverNames map[string]string

// of names the server conn is connected to now (nil when none is known).
func (s serverNames) of(conn *zk.Conn) []string {
	if n, ok := s[conn.Server()]; ok && conn.State() == zk.StateHasSession {
		return []string{n}
	}
	return nil
}

// waitSession waits until conn has a session.
func waitSession(ctx context.Context, conn *zk.Conn) error {
	for conn.State() != zk.StateHasSession {
		select {
		case <-ctx.Done():
			return fmt.Errorf("no session: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// inOrder is a zk.HostProvider that tries the servers in the order given
// (the client's own node first) instead of go-zookeeper's shuffled order, so
// which server a client starts on is the same in every run.
type inOrder struct {
	servers []string
	next    int
	tried   int
}

func (h *inOrder) Init(servers []string) error {
	// zk.Connect shuffles its list before it calls Init: keep the order
	// the provider was made with.
	if len(h.servers) == 0 {
		h.servers = append([]string(nil), servers...)
	}
	return nil
}

func (h *inOrder) Len() int { return len(h.servers) }

func (h *inOrder) Next() (string, bool) {
	s := h.servers[h.next%len(h.servers)]
	h.next++
	h.tried++
	retryStart := h.tried > len(h.servers)
	if retryStart {
		h.tried = 1
	}
	return s, retryStart
}

func (h *inOrder) Connected() { h.tried = 0 }

// call runs one request under ctx. go-zookeeper's requests take no context:
// a request still pending when ctx ends is abandoned (its answer, if one
// comes, is dropped) and ctx's error returned.
func call[T any](ctx context.Context, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// quiet drops go-zookeeper's log lines (connection attempts under faults
// would flood the harness's output).
type quiet struct{}

func (quiet) Printf(string, ...any) {}
