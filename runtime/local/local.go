// Package local is the default runtime: every node is a child process of the
// harness, listening on 127.0.0.1 ports, so a scenario runs on a fresh machine
// with nothing but this binary and the target's programs.
//
// Faults are real: kill is SIGKILL, pause is SIGSTOP, both sent to the node's
// process group. Clocks move through the node's own clock (our services) or
// libfaketime's timestamp file (foreign programs); the host clock is never
// touched. Children die with the harness: each is started with a parent-death
// signal, so even a harness killed by SIGKILL leaves no node behind.
package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/linkproxy"
)

// NodeMainEnv tells a re-executed harness binary to run a node program.
const NodeMainEnv = "CHAOS_NODE_MAIN"

// Runtime runs nodes as local processes.
type Runtime struct {
	self         string
	host         string
	startTimeout time.Duration
	stopGrace    time.Duration
	links        LinkLayer
	linksSet     bool

	spawn        chan spawnReq
	closeSpawner sync.Once

	mu    sync.Mutex
	dir   string
	nodes map[string]*node
	torn  bool
	// ports are the node ports this runtime reserved; Teardown releases
	// them.
	ports []int
}

var _ core.Runtime = (*Runtime)(nil)

// LinkLayer is the runtime's fault layer for network links. Without one,
// every address is direct and partitions are not supported.
type LinkLayer interface {
	// Addr maps the direct address of to's port to the address from must
	// dial so that the link from→to can be cut.
	Addr(from, to, port, direct string) (string, error)
	Partition(ctx context.Context, cut []core.Link) error
	Heal(ctx context.Context) error
	Close() error
}

// Option configures a Runtime.
type Option func(*Runtime)

// WithSelf sets the binary that runs our own node programs (default: this
// executable, as `<self> node <kind> ...`).
func WithSelf(path string) Option { return func(r *Runtime) { r.self = path } }

// WithStartTimeout bounds how long a node may take to become ready.
func WithStartTimeout(d time.Duration) Option { return func(r *Runtime) { r.startTimeout = d } }

// WithLinkLayer routes node-to-node and client-to-node traffic through l so
// links can be cut. The default is a linkproxy layer (a loopback proxy per
// directed link, no root needed); WithLinkLayer(nil) makes every address
// direct, and partitions unsupported.
func WithLinkLayer(l LinkLayer) Option {
	return func(r *Runtime) { r.links, r.linksSet = l, true }
}

// New returns a local runtime.
func New(opts ...Option) (*Runtime, error) {
	// The start timeout is sized for a loaded machine: a JVM or a
	// PostgreSQL standby's base backup beside two CPU hogs takes well over
	// 30 s, and a node that dies while starting is reported at once anyway.
	r := &Runtime{host: "127.0.0.1", startTimeout: 2 * time.Minute, stopGrace: 3 * time.Second,
		nodes: map[string]*node{}}
	for _, o := range opts {
		o(r)
	}
	if !r.linksSet {
		r.links = linkproxy.New()
	}
	if r.self == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("local runtime: find this executable: %w", err)
		}
		r.self = exe
	}
	r.spawn = make(chan spawnReq)
	go spawner(r.spawn)
	return r, nil
}

// Name is "local".
func (r *Runtime) Name() string { return "local" }

type node struct {
	spec    core.NodeSpec
	ports   map[string]int
	dataDir string
	logPath string
	clockFn string // libfaketime timestamp file

	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
	paused bool
	offset time.Duration
}

func (n *node) running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Setup allocates ports and directories for every node.
func (r *Runtime) Setup(ctx context.Context, dir string, specs []core.NodeSpec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.nodes) > 0 {
		return errors.New("local runtime: Setup called twice")
	}
	// Nodes run in their own directories, so every path they get must be
	// absolute.
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("local runtime: %w", err)
	}
	dir = abs
	r.dir = dir
	for _, s := range specs {
		if s.Name == "" || r.nodes[s.Name] != nil {
			return fmt.Errorf("local runtime: node name %q is empty or repeated", s.Name)
		}
		n := &node{spec: s, ports: map[string]int{},
			dataDir: filepath.Join(dir, core.NodesDir, s.Name),
			logPath: filepath.Join(dir, core.NodesDir, s.Name+".log")}
		if err := os.MkdirAll(n.dataDir, 0o755); err != nil {
			return fmt.Errorf("local runtime: %w", err)
		}
		for _, p := range s.Ports {
			port, err := reserved.reserve(r.host)
			if err != nil {
				return fmt.Errorf("local runtime: allocate port %s for %s: %w", p, s.Name, err)
			}
			n.ports[p] = port
			r.ports = append(r.ports, port)
		}
		if s.Clock == core.ClockFaketime {
			n.clockFn = filepath.Join(n.dataDir, "faketime")
			if err := writeFaketime(n.clockFn, 0); err != nil {
				return err
			}
		}
		r.nodes[s.Name] = n
	}
	return nil
}

func (r *Runtime) node(name string) (*node, error) {
	n := r.nodes[name]
	if n == nil {
		return nil, fmt.Errorf("local runtime: no node %q", name)
	}
	return n, nil
}

func (r *Runtime) direct(n *node, port string) (string, error) {
	p, ok := n.ports[port]
	if !ok {
		return "", fmt.Errorf("local runtime: node %s has no port %q", n.spec.Name, port)
	}
	return net.JoinHostPort(r.host, strconv.Itoa(p)), nil
}

// Addr is the address at which from reaches port of node to.
func (r *Runtime) Addr(from, to, port string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addrLocked(from, to, port)
}

func (r *Runtime) addrLocked(from, to, port string) (string, error) {
	n, err := r.node(to)
	if err != nil {
		return "", err
	}
	d, err := r.direct(n, port)
	if err != nil || r.links == nil || from == "" || from == to {
		return d, err
	}
	return r.links.Addr(from, to, port, d)
}

// portRetries bounds the starts of a node whose port was taken between its
// reservation and its own bind.
const portRetries = 3

// Start starts a node and waits until it is ready. A node port is reserved
// by binding port 0 and closing it, and the node binds it later: in between,
// any process on the host (an outgoing connection's ephemeral port, another
// harness) may take it. A node that exits while starting because its
// address is in use is therefore given fresh ports and started again, with
// its links pointed at them, up to portRetries times.
func (r *Runtime) Start(ctx context.Context, name string) error {
	for attempt := 1; ; attempt++ {
		err := r.start(ctx, name)
		var pe *portInUseError
		if !errors.As(err, &pe) || attempt >= portRetries {
			return err
		}
		if rerr := r.repickPorts(pe.node); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
}

// portInUseError is the start of a node that exited because a port it was
// given was taken.
type portInUseError struct {
	node *node
	err  error
}

func (e *portInUseError) Error() string { return e.err.Error() }
func (e *portInUseError) Unwrap() error { return e.err }

// repickPorts gives n fresh ports and points the links to it at them. The
// old ports stay reserved until Teardown, so they are not handed out again
// in this process.
func (r *Runtime) repickPorts(n *node) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rt, _ := r.links.(interface{ Retarget(to, port, direct string) })
	if rt == nil {
		// Without proxies the other nodes were given the direct address.
		return fmt.Errorf("local runtime: node %s lost its port, and without a link layer that can follow it the other nodes cannot be told of another", n.spec.Name)
	}
	for _, p := range n.spec.Ports {
		port, err := reserved.reserve(r.host)
		if err != nil {
			return fmt.Errorf("local runtime: allocate port %s for %s: %w", p, n.spec.Name, err)
		}
		n.ports[p] = port
		r.ports = append(r.ports, port)
		fmt.Fprintf(n.log, "=== chaos: %s: port %s was taken; moving it to %d\n", n.spec.Name, p, port)
		d, _ := r.direct(n, p)
		rt.Retarget(n.spec.Name, p, d)
	}
	return nil
}

func (r *Runtime) start(ctx context.Context, name string) error {
	r.mu.Lock()
	n, err := r.node(name)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	if r.torn {
		r.mu.Unlock()
		return errors.New("local runtime: torn down")
	}
	if n.running() {
		r.mu.Unlock()
		return nil
	}
	cmd, err := r.command(n)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	if err := r.startProcess(n, cmd); err != nil {
		r.mu.Unlock()
		return err
	}
	exited := n.exited
	r.mu.Unlock()
	if err := r.waitReady(ctx, n, exited); err != nil {
		return err
	}
	if nw, ok := r.links.(nodeWatcher); ok {
		return nw.NodeUp(name)
	}
	return nil
}

// nodeWatcher is a link layer that wants to know when a node dies and when
// it serves again, so that dialling a dead node through it is refused as it
// would be directly.
type nodeWatcher interface {
	NodeDown(node string)
	NodeUp(node string) error
}

func (r *Runtime) command(n *node) (*exec.Cmd, error) {
	env := core.NodeEnv{
		Name:    n.spec.Name,
		DataDir: n.dataDir,
		Listen: func(port string) string {
			a, _ := r.direct(n, port)
			return a
		},
		Peer: func(to, port string) string {
			a, err := r.addrLocked(n.spec.Name, to, port)
			if err != nil {
				return "invalid-peer-address"
			}
			return a
		},
	}
	var args []string
	if n.spec.Args != nil {
		args = n.spec.Args(env)
	}
	prog := n.spec.Program
	if prog == "" {
		prog = r.self
		args = append([]string{"node", n.spec.Kind}, args...)
	} else if !strings.Contains(prog, "/") {
		p, err := exec.LookPath(prog)
		if err != nil {
			return nil, fmt.Errorf("node %s: program %s not found on PATH", n.spec.Name, prog)
		}
		prog = p
	}
	cmd := exec.Command(prog, args...)
	cmd.Dir = n.dataDir
	cmd.Env = append(os.Environ(), n.spec.Env...)
	if n.spec.Program == "" {
		cmd.Env = append(cmd.Env, NodeMainEnv+"=1")
	}
	switch n.spec.Clock {
	case core.ClockControl:
		cmd.Env = append(cmd.Env, core.ClockOffsetEnv+"="+n.offset.String())
	case core.ClockFaketime:
		cmd.Env = append(cmd.Env, "FAKETIME_TIMESTAMP_FILE="+n.clockFn, "FAKETIME_NO_CACHE=1",
			"FAKETIME_DONT_FAKE_MONOTONIC=1")
	}
	// Setpgid lets signals reach the node and anything it spawned;
	// Pdeathsig kills it if the harness dies without tearing down.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd, nil
}

func (r *Runtime) startProcess(n *node, cmd *exec.Cmd) error {
	if n.log == nil {
		f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("node %s: open log: %w", n.spec.Name, err)
		}
		n.log = f
	}
	fmt.Fprintf(n.log, "=== chaos: starting %s at %s: %s\n", n.spec.Name, time.Now().UTC().Format(time.RFC3339Nano), strings.Join(cmd.Args, " "))
	cmd.Stdout, cmd.Stderr = n.log, n.log
	errc := make(chan error, 1)
	r.spawn <- spawnReq{cmd: cmd, err: errc}
	if err := <-errc; err != nil {
		return fmt.Errorf("node %s: start %s: %w", n.spec.Name, cmd.Path, err)
	}
	n.cmd = cmd
	n.paused = false
	exited := make(chan struct{})
	n.exited = exited
	faketime := n.spec.Clock == core.ClockFaketime
	if faketime {
		markFaketime(cmd.Process.Pid)
	}
	go func() {
		err := cmd.Wait()
		if faketime {
			// Reaped, so the pid is still ours until now: a SIGKILL
			// left libfaketime no chance to remove its files.
			removeFaketimeFiles(cmd.Process.Pid)
		}
		if nw, ok := r.links.(nodeWatcher); ok {
			nw.NodeDown(n.spec.Name)
		}
		fmt.Fprintf(n.log, "=== chaos: %s exited at %s: %v\n", n.spec.Name, time.Now().UTC().Format(time.RFC3339Nano), err)
		close(exited)
	}()
	return nil
}

func (r *Runtime) waitReady(ctx context.Context, n *node, exited chan struct{}) error {
	if n.spec.Ready == nil {
		return nil
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, r.startTimeout)
	defer cancel()
	addr := func(port string) (string, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.direct(n, port)
	}
	var last error
	for {
		select {
		case <-exited:
			err := fmt.Errorf("node %s exited while starting; the last lines of %s:\n%s", n.spec.Name, n.logPath, tail(lastStart(n.logPath), tailLines))
			if strings.Contains(lastStart(n.logPath), "address already in use") {
				return &portInUseError{node: n, err: err}
			}
			return err
		default:
		}
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		last = n.spec.Ready(pctx, addr)
		pcancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				// Ctrl-C (or the caller's deadline), not our timeout.
				return fmt.Errorf("node %s: start-up interrupted before it was ready: %w", n.spec.Name, context.Cause(parent))
			}
			// The log is in the run directory, which a test's temporary
			// store does not outlive: the error carries its tail, so a
			// start that failed in CI can be diagnosed from the output.
			return fmt.Errorf("node %s not ready after %s (last probe: %v); the last lines of %s:\n%s",
				n.spec.Name, r.startTimeout, last, n.logPath, tail(lastStart(n.logPath), tailLines))
		case <-exited:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// lastStart is the node's log since its last start.
func lastStart(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndex(s, "=== chaos: starting "); i >= 0 {
		s = s[i:]
	}
	return s
}

// tailLines is how much of a node's log a failed start quotes: enough for a
// JVM's stack trace or a server's last election rounds.
const tailLines = 40

// tail is the last lines of a log, indented.
func tail(log string, lines int) string {
	if log == "" {
		return "  (the log is empty)"
	}
	ls := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return "  " + strings.Join(ls, "\n  ")
}

func (r *Runtime) signal(name string, sig syscall.Signal) (*node, error) {
	n, _, err := r.signalAll(name, sig)
	return n, err
}

// signalAll signals the node's group and its descendants outside it (see
// tree.go) and returns those descendants.
func (r *Runtime) signalAll(name string, sig syscall.Signal) (*node, []int, error) {
	n, err := r.node(name)
	if err != nil {
		return nil, nil, err
	}
	if !n.running() {
		return n, nil, fmt.Errorf("local runtime: node %s is not running", name)
	}
	strays, err := signalTree(n.cmd.Process.Pid, sig)
	if err != nil {
		return n, strays, fmt.Errorf("local runtime: signal %v to %s: %w", sig, name, err)
	}
	return n, strays, nil
}

// Kill sends SIGKILL to the node and everything it started and waits until
// all of it is gone, so a restart finds its ports and data directory free.
func (r *Runtime) Kill(ctx context.Context, name string) error {
	r.mu.Lock()
	n, strays, err := r.signalAll(name, syscall.SIGKILL)
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if err := waitExit(ctx, n); err != nil {
		return err
	}
	for !gone(strays) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("local runtime: processes %v of node %s did not exit: %w", strays, name, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// Stop sends SIGTERM, then SIGKILL after a grace period.
func (r *Runtime) Stop(ctx context.Context, name string) error {
	r.mu.Lock()
	n, err := r.node(name)
	if err != nil || !n.running() {
		r.mu.Unlock()
		return err
	}
	r.stopLocked(n)
	r.mu.Unlock()
	return waitExit(ctx, n)
}

func (r *Runtime) stopLocked(n *node) {
	pid := n.cmd.Process.Pid
	if n.paused {
		_, _ = signalTree(pid, syscall.SIGCONT)
		n.paused = false
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	exited := n.exited
	grace := r.stopGrace
	go func() {
		select {
		case <-exited:
		case <-time.After(grace):
			_, _ = signalTree(pid, syscall.SIGKILL)
		}
	}()
}

func waitExit(ctx context.Context, n *node) error {
	select {
	case <-n.exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("node %s did not exit: %w", n.spec.Name, ctx.Err())
	}
}

// Pause sends SIGSTOP and returns once every thread of the node has
// stopped: the signal is asynchronous, and a fault recorded as done must be
// in effect.
func (r *Runtime) Pause(ctx context.Context, name string) error {
	r.mu.Lock()
	n, strays, err := r.signalAll(name, syscall.SIGSTOP)
	if err == nil {
		n.paused = true
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	pid := n.cmd.Process.Pid
	for !stopped(pid) || !allStopped(strays) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("local runtime: node %s did not stop: %w", name, ctx.Err())
		case <-n.exited:
			return fmt.Errorf("local runtime: node %s exited while pausing", name)
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// stopped reports whether every thread of pid is in the stopped state, as
// /proc tells.
func stopped(pid int) bool {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		return false
	}
	for _, p := range stats {
		if st, ok := readStatFile(p); !ok || (st.state != 'T' && st.state != 't') {
			return false
		}
	}
	return true
}

// Resume sends SIGCONT, then applies a clock change made while paused.
func (r *Runtime) Resume(ctx context.Context, name string) error {
	r.mu.Lock()
	n, err := r.signal(name, syscall.SIGCONT)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	wasPaused := n.paused
	n.paused = false
	offset := n.offset
	r.mu.Unlock()
	if wasPaused && n.spec.Clock == core.ClockControl && offset != 0 {
		return r.SetClockOffset(ctx, name, offset)
	}
	return nil
}

// SetClockOffset moves a node's clock. A paused node gets the change when it
// resumes; a stopped one when it starts.
func (r *Runtime) SetClockOffset(ctx context.Context, name string, offset time.Duration) error {
	r.mu.Lock()
	n, err := r.node(name)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	n.offset = offset
	method, running, paused := n.spec.Clock, n.running(), n.paused
	clockFile := n.clockFn
	addr, aerr := r.direct(n, "control")
	r.mu.Unlock()
	switch method {
	case core.ClockFaketime:
		return writeFaketime(clockFile, offset)
	case core.ClockControl:
		if !running || paused {
			return nil
		}
		if aerr != nil {
			return aerr
		}
		return core.SetRemoteClockOffset(ctx, addr, offset)
	}
	return fmt.Errorf("local runtime: node %s's clock cannot be moved: %w", name, core.ErrUnsupported)
}

// writeFaketime writes libfaketime's relative offset atomically, so a node
// reading it at any moment sees either the old or the new offset.
func writeFaketime(path string, offset time.Duration) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%+.6f\n", offset.Seconds())), 0o644); err != nil {
		return fmt.Errorf("write faketime file: %w", err)
	}
	return os.Rename(tmp, path)
}

// Partition cuts links through the link layer.
func (r *Runtime) Partition(ctx context.Context, cut []core.Link) error {
	if r.links == nil {
		return fmt.Errorf("local runtime without a link layer cannot partition: %w", core.ErrUnsupported)
	}
	return r.links.Partition(ctx, cut)
}

// PacketFaults are the packet nemesis's faults this runtime makes, through
// its link proxy: a stream proxy delays, paces and holds back data, but
// TCP has repaired duplicates, reordering and corruption before a proxy
// sees the bytes.
const PacketFaults = "delay, jitter, loss (as a retransmission delay), rate; not duplicate, reorder, corrupt"

// ShapeLinks degrades links (latency, jitter, loss, rate) without cutting them; a
// zero shape restores them. Heal removes every shape. It needs a link layer
// that can shape, such as the default linkproxy.
func (r *Runtime) ShapeLinks(ctx context.Context, links []core.Link, s linkproxy.Shape) error {
	sh, ok := r.links.(interface {
		SetShape(context.Context, []core.Link, linkproxy.Shape) error
	})
	if !ok {
		return fmt.Errorf("local runtime: link layer cannot shape links: %w", core.ErrUnsupported)
	}
	return sh.SetShape(ctx, links, s)
}

// Heal restores every link.
func (r *Runtime) Heal(ctx context.Context) error {
	if r.links == nil {
		return nil
	}
	return r.links.Heal(ctx)
}

// Teardown heals, resumes and stops every node, in parallel, and closes logs.
func (r *Runtime) Teardown(ctx context.Context) error {
	var errs []error
	if r.links != nil {
		errs = append(errs, r.links.Heal(ctx))
	}
	r.mu.Lock()
	r.torn = true
	names := make([]string, 0, len(r.nodes))
	for name, n := range r.nodes {
		names = append(names, name)
		if n.running() {
			r.stopLocked(n)
		}
	}
	r.mu.Unlock()
	sort.Strings(names)
	for _, name := range names {
		n := r.nodes[name]
		if n.cmd != nil {
			select {
			case <-n.exited:
			case <-ctx.Done():
				_, _ = signalTree(n.cmd.Process.Pid, syscall.SIGKILL)
				<-n.exited
			}
		}
		if n.clockFn != "" {
			_ = writeFaketime(n.clockFn, 0)
		}
		if n.log != nil {
			errs = append(errs, n.log.Close())
			n.log = nil
		}
	}
	if r.links != nil {
		errs = append(errs, r.links.Close())
	}
	r.mu.Lock()
	reserved.release(r.ports)
	r.ports = nil
	r.mu.Unlock()
	r.closeSpawner.Do(func() { close(r.spawn) })
	return errors.Join(errs...)
}

// spawnReq asks the spawner to start a command.
type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

// spawner starts every child from one locked OS thread: Linux delivers the
// parent-death signal when the spawning thread exits, and this thread never
// does.
func spawner(reqs <-chan spawnReq) {
	goruntime.LockOSThread()
	for req := range reqs {
		req.err <- req.cmd.Start()
	}
}

// SupportsNemesis refuses, before any node starts, the nemeses that cut
// links (partition, read-isolate) when the runtime has no link layer to cut
// them with.
func (r *Runtime) SupportsNemesis(n core.Nemesis, _ []core.NodeSpec) error {
	if (n.Name() == "partition" || n.Name() == "read-isolate") && r.links == nil {
		return errors.New("this local runtime has no link layer (made with WithLinkLayer(nil)); use the default linkproxy layer or the docker runtime")
	}
	return nil
}
