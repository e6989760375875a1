package docker

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/linkproxy"
)

// Labels on everything this runtime creates. `chaos clean` finds leftovers
// by LabelManaged and spares runs whose owner process is still alive.
const (
	LabelManaged = "io.chaostest.managed"
	LabelRun     = "io.chaostest.run"
	LabelNode    = "io.chaostest.node"
	LabelOwner   = "io.chaostest.owner" // host name and pid of the harness
)

// NodeMainEnv tells the chaos binary in a container to run a node program
// (the same variable the local runtime sets).
const NodeMainEnv = "CHAOS_NODE_MAIN"

// dataDir is where a node's own directory is mounted in its container.
const dataDir = "/data"

// controlPort names the port our services take clock changes on. In a
// container it is bound on the container's loopback, out of reach of other
// nodes and clients; the harness reaches it from inside the namespace.
const controlPort = "control"

// basePort is the first port a node listens on inside its container; named
// ports follow in the order the spec lists them.
const basePort = 7001

// Runtime runs each node in its own container on a per-run bridge network.
type Runtime struct {
	binary       string
	startTimeout time.Duration
	stopGrace    time.Duration
	timings      *Timings

	mu       sync.Mutex
	cli      *testcontainers.DockerClient
	dir      string
	run      string // run id, as in the labels
	slug     string // run id as a docker name
	netName  string
	netID    string
	subnet   netip.Prefix
	gateway  netip.Addr
	next     netip.Addr // next free address for client aliases
	nodes    map[string]*node
	order    []string
	cut      map[core.Link]bool
	shapes   map[core.Link]linkproxy.Shape
	aliases  map[[2]string]netip.Addr
	torn     bool
	removed  bool // Teardown removed every container and the network
	opLog    *os.File
	imgMu    sync.Mutex
	imageTag map[string]string // image key → tag, per run
}

var _ core.Runtime = (*Runtime)(nil)

// Timings collects how long the runtime's steps took, for the figures of a
// benchmark or a test log.
type Timings struct {
	mu     sync.Mutex
	Builds []BuildTiming
	Starts []time.Duration // container create/start until the node is ready
}

// BuildTiming is one image preparation: built now, or found in the cache.
type BuildTiming struct {
	Tag    string
	Built  bool
	Took   time.Duration
	Source string
}

func (t *Timings) addBuild(b BuildTiming) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.Builds = append(t.Builds, b)
	t.mu.Unlock()
}

func (t *Timings) addStart(d time.Duration) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.Starts = append(t.Starts, d)
	t.mu.Unlock()
}

// Option configures a Runtime.
type Option func(*Runtime)

// WithBinary sets the chaos binary that runs our own node programs in the
// containers (default: this executable). A static binary (CGO_ENABLED=0)
// makes the smallest image; a dynamic one is shipped with its libraries.
func WithBinary(path string) Option { return func(r *Runtime) { r.binary = path } }

// WithStartTimeout bounds how long a node may take to become ready.
func WithStartTimeout(d time.Duration) Option { return func(r *Runtime) { r.startTimeout = d } }

// WithTimings records image build and container start times into t.
func WithTimings(t *Timings) Option { return func(r *Runtime) { r.timings = t } }

// New connects to the Docker engine. Testcontainers' reaper (Ryuk) is turned
// off: it would need an image pull, and this runtime removes what it creates
// itself (Teardown, and `chaos clean` after a crash).
func New(ctx context.Context, opts ...Option) (*Runtime, error) {
	r := &Runtime{startTimeout: 60 * time.Second, stopGrace: 3 * time.Second,
		nodes: map[string]*node{}, cut: map[core.Link]bool{}, shapes: map[core.Link]linkproxy.Shape{},
		aliases:  map[[2]string]netip.Addr{},
		imageTag: map[string]string{}}
	for _, o := range opts {
		o(r)
	}
	if r.binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("docker runtime: find this executable: %w", err)
		}
		r.binary = exe
	}
	cli, err := Connect(ctx)
	if err != nil {
		return nil, err
	}
	r.cli = cli
	return r, nil
}

var quietOnce sync.Once

// Connect opens the Docker client that testcontainers uses, with Ryuk off.
func Connect(ctx context.Context) (*testcontainers.DockerClient, error) {
	// Both settings are per process in testcontainers: the reaper setting is
	// read once from the environment, and the engine banner goes to the
	// default logger (each container's messages go to its run's docker.log).
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	quietOnce.Do(func() { tclog.SetDefault(tclog.NewNoopLogger()) })
	if !testcontainers.ReadConfig().RyukDisabled {
		return nil, errors.New("docker runtime: testcontainers' reaper is enabled in this process (ryuk.disabled in ~/.testcontainers.properties?); it needs an image pull, which this engine cannot do")
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(cctx)
	if err != nil {
		return nil, fmt.Errorf("docker runtime: connect to the Docker engine (is it running, and is DOCKER_HOST right?): %w", err)
	}
	if _, err := cli.Ping(cctx, client.PingOptions{}); err != nil {
		return nil, fmt.Errorf("docker runtime: the Docker engine does not answer: %w", err)
	}
	return cli, nil
}

// Name is "docker".
func (r *Runtime) Name() string { return "docker" }

type node struct {
	spec      core.NodeSpec
	ip        netip.Addr
	ports     map[string]int
	hostDir   string
	logPath   string
	clockFile string // libfaketime timestamp file, on the host

	// op serializes lifecycle calls on this node; the fields below are
	// written under both op and Runtime.mu, so either suffices to read.
	op        sync.Mutex
	container string // container id; empty when none exists
	pid       int    // the container's main process while it runs
	// ns is the container's network namespace, held open from the first
	// rule change after a start until the container stops: the main
	// process's /proc entry may be gone by the next change (a restart
	// gives a new pid), the namespace stays while it is held. ns and
	// started are used under Runtime.mu only.
	ns      *netns
	started string // the start time that ns belongs to
	// queues are the NFQUEUE queues of ns that the harness reads for the
	// shaped links into this node, by number.
	queues  map[uint16]*packetQueue
	mac     net.HardwareAddr
	env     []string
	running bool
	paused  bool
	offset  time.Duration
}

var nameUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// Setup creates the run's network and fixes every node's address. No
// container exists yet.
func (r *Runtime) Setup(ctx context.Context, dir string, specs []core.NodeSpec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dir != "" {
		return errors.New("docker runtime: Setup called twice")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("docker runtime: %w", err)
	}
	r.dir = abs
	r.run = filepath.Base(filepath.Dir(abs)) + "/" + filepath.Base(abs)
	h := fnv.New32a()
	h.Write([]byte(abs))
	r.slug = strings.ToLower(nameUnsafe.ReplaceAllString(strings.ReplaceAll(r.run, "/", "-"), "")) +
		fmt.Sprintf("-%06x", h.Sum32()&0xffffff)
	if f, err := os.OpenFile(filepath.Join(abs, "docker.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		r.opLog = f
	}
	for _, s := range specs {
		if s.Name == "" || r.nodes[s.Name] != nil {
			return fmt.Errorf("docker runtime: node name %q is empty or repeated", s.Name)
		}
		n := &node{spec: s, ports: map[string]int{},
			hostDir: filepath.Join(abs, core.NodesDir, s.Name),
			logPath: filepath.Join(abs, core.NodesDir, s.Name+".log")}
		if err := os.MkdirAll(n.hostDir, 0o755); err != nil {
			return fmt.Errorf("docker runtime: %w", err)
		}
		for i, p := range s.Ports {
			n.ports[p] = basePort + i
		}
		if s.Clock == core.ClockFaketime {
			n.clockFile = filepath.Join(n.hostDir, "faketime")
			if err := writeFaketime(n.clockFile, 0); err != nil {
				return err
			}
		}
		r.nodes[s.Name] = n
		r.order = append(r.order, s.Name)
	}
	if err := r.createNetwork(ctx, h.Sum32()); err != nil {
		return err
	}
	addr := r.gateway.Next()
	for _, name := range r.order {
		r.nodes[name].ip = addr
		addr = addr.Next()
	}
	r.next = addr
	return nil
}

func (r *Runtime) labels() map[string]string {
	host, _ := os.Hostname()
	return map[string]string{LabelManaged: "true", LabelRun: r.run,
		LabelOwner: host + "/" + strconv.Itoa(os.Getpid())}
}

func (r *Runtime) logf(format string, args ...any) {
	if r.opLog != nil {
		fmt.Fprintf(r.opLog, time.Now().UTC().Format("15:04:05.000 ")+format+"\n", args...)
	}
}

// createNetwork creates the run's bridge network on a /22 of 10.192.0.0/10,
// trying candidates from a hash of the run directory until the engine finds
// one free. Addresses are ours to give, so they stay fixed across restarts.
func (r *Runtime) createNetwork(ctx context.Context, seed uint32) error {
	r.netName = "chaos-" + r.slug
	const candidates = 1024 // /22 blocks in 10.192.0.0/10
	var last error
	for i := 0; i < 64; i++ {
		k := (seed + uint32(i)*7919) % candidates
		base := netip.AddrFrom4([4]byte{10, byte(192 + k>>6), byte((k & 63) << 2), 0})
		subnet := netip.PrefixFrom(base, 22)
		gw := base.Next()
		res, err := r.cli.NetworkCreate(ctx, r.netName, client.NetworkCreateOptions{
			Driver: "bridge", Labels: r.labels(),
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet, Gateway: gw}}},
		})
		if err == nil {
			r.netID, r.subnet, r.gateway = res.ID, subnet, gw
			r.logf("network %s %s", r.netName, subnet)
			return nil
		}
		last = err
		if !strings.Contains(err.Error(), "overlap") {
			break
		}
	}
	return fmt.Errorf("docker runtime: create network %s: %w", r.netName, last)
}

func (r *Runtime) node(name string) (*node, error) {
	n := r.nodes[name]
	if n == nil {
		return nil, fmt.Errorf("docker runtime: no node %q", name)
	}
	return n, nil
}

func (n *node) direct(port string) (string, error) {
	p, ok := n.ports[port]
	if !ok {
		return "", fmt.Errorf("docker runtime: node %s has no port %q", n.spec.Name, port)
	}
	if port == controlPort {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
	}
	return net.JoinHostPort(n.ip.String(), strconv.Itoa(p)), nil
}

// Addr is the address at which from reaches port of node to. Nodes reach each
// other at their own addresses. A client endpoint reaches a node at an
// address of the node's that only this client uses, so that a partition can
// cut one client off and leave the others (and the harness's own probes)
// alone.
func (r *Runtime) Addr(from, to, port string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.node(to)
	if err != nil {
		return "", err
	}
	if from == "" || from == to || r.nodes[from] != nil {
		return n.direct(port)
	}
	p, ok := n.ports[port]
	if !ok {
		return "", fmt.Errorf("docker runtime: node %s has no port %q", to, port)
	}
	ip, err := r.aliasLocked(from, n)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(p)), nil
}

// aliasLocked returns client's address of node n, adding it to the running
// container when it is new.
func (r *Runtime) aliasLocked(client string, n *node) (netip.Addr, error) {
	key := [2]string{client, n.spec.Name}
	if ip, ok := r.aliases[key]; ok {
		return ip, nil
	}
	if !r.subnet.Contains(r.next.Next()) {
		return netip.Addr{}, fmt.Errorf("docker runtime: no free address for client %s on %s: the network has room for about 1000 client links", client, n.spec.Name)
	}
	ip := r.next
	r.next = r.next.Next()
	r.aliases[key] = ip
	if n.running {
		if err := r.applyNetLocked(n); err != nil {
			return netip.Addr{}, err
		}
	}
	return ip, nil
}

// Start creates and starts the node's container, or starts the existing one
// again, and waits until the node is ready. A container is made anew only
// when its environment must change (a clock offset set while it was down).
// Nodes start in parallel; calls on one node are serialized.
func (r *Runtime) Start(ctx context.Context, name string) error {
	began := time.Now()
	n, err := r.lookup(name)
	if err != nil {
		return err
	}
	n.op.Lock()
	defer n.op.Unlock()
	r.mu.Lock()
	running, torn := n.running, r.torn
	r.mu.Unlock()
	if torn {
		return errors.New("docker runtime: torn down")
	}
	if running {
		return nil
	}
	image, cmd, env, err := r.prepare(ctx, n)
	if err != nil {
		return err
	}
	if n.container != "" && !sameEnv(env, n.env) {
		if err := r.remove(ctx, n); err != nil {
			return err
		}
	}
	if n.container == "" {
		if err := r.create(ctx, n, image, cmd, env); err != nil {
			return err
		}
	} else {
		if _, err := r.cli.ContainerStart(ctx, n.container, client.ContainerStartOptions{}); err != nil {
			return fmt.Errorf("docker runtime: start %s: %w", name, err)
		}
		r.logf("start %s", name)
	}
	r.mu.Lock()
	n.running, n.paused = true, false
	n.forgetNetnsLocked()
	err = r.applyNetLocked(n)
	r.mu.Unlock()
	if err != nil {
		return err
	}
	started := time.Now()
	if err := r.waitReady(ctx, n); err != nil {
		return err
	}
	r.logf("ready %s: %s after the container started, %s in all", name, time.Since(started).Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	r.timings.addStart(time.Since(began))
	return nil
}

// lookup finds a node; the node table is fixed by Setup.
func (r *Runtime) lookup(name string) (*node, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.node(name)
}

func sameEnv(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// prepare builds (or finds) the node's image and its command line and
// environment.
func (r *Runtime) prepare(ctx context.Context, n *node) (image string, cmd, env []string, err error) {
	s := n.spec
	ne := core.NodeEnv{Name: s.Name, DataDir: dataDir,
		Listen: func(port string) string {
			a, _ := n.direct(port)
			return a
		},
		Peer: func(to, port string) string {
			m := r.nodes[to]
			if m == nil {
				return "invalid-peer-address"
			}
			a, err := m.direct(port)
			if err != nil {
				return "invalid-peer-address"
			}
			return a
		},
	}
	if s.Args != nil {
		cmd = s.Args(ne)
	}
	env = append(env, s.Env...)
	var key string
	var spec imageSpec
	if s.Program == "" {
		key = "self:" + r.binary
		cmd = append([]string{"node", s.Kind}, cmd...)
		env = append(env, NodeMainEnv+"=1")
	} else {
		prog := s.Program
		if !strings.Contains(prog, "/") {
			if prog, err = lookPath(prog); err != nil {
				return "", nil, nil, fmt.Errorf("node %s: %w", s.Name, err)
			}
		}
		key = "prog:" + prog + "\x00" + strings.Join(preloads(env), ":")
	}
	if len(s.HostFiles) > 0 {
		key += "\x00files:" + strings.Join(s.HostFiles, ":")
	}
	r.mu.Lock()
	offset := n.offset
	r.mu.Unlock()
	switch s.Clock {
	case core.ClockControl:
		env = append(env, core.ClockOffsetEnv+"="+offset.String())
	case core.ClockFaketime:
		env = append(env, "FAKETIME_TIMESTAMP_FILE="+dataDir+"/faketime", "FAKETIME_NO_CACHE=1",
			"FAKETIME_DONT_FAKE_MONOTONIC=1")
	}
	// One build per image, however many nodes start at once.
	r.imgMu.Lock()
	defer r.imgMu.Unlock()
	if tag, ok := r.imageTag[key]; ok {
		return tag, cmd, env, nil
	}
	began := time.Now()
	var source string
	if s.Program == "" {
		source = r.binary
		spec, err = ownImage(r.binary)
	} else {
		source = strings.TrimPrefix(key, "prog:")
		prog := strings.SplitN(source, "\x00", 2)[0]
		spec, err = foreignImage(prog, preloads(env))
	}
	if err == nil {
		spec, err = withHostFiles(spec, s.HostFiles)
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("node %s: %w", s.Name, err)
	}
	tag, built, err := ensureImage(ctx, r.cli, spec, map[string]string{LabelManaged: "image"})
	if err != nil {
		return "", nil, nil, fmt.Errorf("node %s: %w", s.Name, err)
	}
	took := time.Since(began)
	r.timings.addBuild(BuildTiming{Tag: tag, Built: built, Took: took, Source: source})
	r.logf("image %s for %s: built=%v in %s", tag, strings.ReplaceAll(source, "\x00", " "), built, took)
	r.imageTag[key] = tag
	return tag, cmd, env, nil
}

// preloads lists the libraries that LD_PRELOAD in env names.
func preloads(env []string) []string {
	var out []string
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "LD_PRELOAD="); ok {
			for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == ':' || r == ' ' }) {
				out = append(out, p)
			}
		}
	}
	return out
}

func lookPath(prog string) (string, error) {
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(d, prog)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("program %s not found on PATH", prog)
}

// create creates and starts the node's container through testcontainers, at
// the node's fixed address on the run's network.
func (r *Runtime) create(ctx context.Context, n *node, image string, cmd, env []string) error {
	labels := r.labels()
	labels[LabelNode] = n.spec.Name
	envMap := map[string]string{}
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		envMap[k] = v
	}
	ip := n.ip
	netName := r.netName
	c, err := testcontainers.Run(ctx, image,
		testcontainers.WithLogger(tcLogger{r}),
		testcontainers.WithName("chaos-"+r.slug+"-"+nameUnsafe.ReplaceAllString(n.spec.Name, "")),
		testcontainers.WithCmd(cmd...),
		testcontainers.WithEnv(envMap),
		testcontainers.WithLabels(labels),
		tcnetwork.WithNetworkName([]string{n.spec.Name}, netName),
		testcontainers.WithEndpointSettingsModifier(func(es map[string]*network.EndpointSettings) {
			if es[netName] == nil {
				es[netName] = &network.EndpointSettings{}
			}
			es[netName].IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ip}
		}),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.Binds = append(hc.Binds, n.hostDir+":"+dataDir)
			// Clocks move through the node's own clock or libfaketime,
			// never through the kernel's.
			hc.CapDrop = append(hc.CapDrop, "SYS_TIME")
		}),
	)
	r.mu.Lock()
	if c != nil && c.GetContainerID() != "" {
		n.container = c.GetContainerID()
	}
	r.mu.Unlock()
	if err != nil {
		return fmt.Errorf("docker runtime: create container for %s: %w", n.spec.Name, err)
	}
	n.env = env
	r.logf("created %s as %s (%s) at %s: %s", n.spec.Name, n.container[:12], image, ip, strings.Join(cmd, " "))
	return nil
}

// tcLogger sends testcontainers' messages to the run's docker.log.
type tcLogger struct{ r *Runtime }

func (l tcLogger) Printf(format string, args ...any) {
	l.r.logf("testcontainers: "+strings.TrimRight(format, "\n"), args...)
}

// applyNetLocked writes the node's client addresses and the drop rules of
// the current partition into its network namespace. It runs after every
// start, because a container's namespace is new each time it starts.
func (r *Runtime) applyNetLocked(n *node) error {
	if !n.running || n.container == "" {
		return nil
	}
	ns, err := r.netnsLocked(n)
	if err != nil {
		return err
	}
	var mine []netip.Addr
	for k, ip := range r.aliases {
		if k[1] == n.spec.Name {
			mine = append(mine, ip)
		}
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].Less(mine[j]) })
	if err := ns.addAddrs("eth0", mine); err != nil {
		return fmt.Errorf("docker runtime: node %s: %w", n.spec.Name, err)
	}
	if err := setNeighbours("br-"+short(r.netID), n.mac, append([]netip.Addr{n.ip}, mine...)); err != nil {
		return fmt.Errorf("docker runtime: node %s: %w", n.spec.Name, err)
	}
	rules, queues := rulesWithShapes(n.spec.Name, r.addressing(), r.cut, r.shapes)
	// Queues are bound before the rules feed them and closed after the
	// rules stop: a packet is never sent to a queue nobody reads (it
	// would pass unshaped, through the bypass flag, but not wait).
	want := map[uint16]bool{}
	for _, q := range queues {
		want[q.Num] = true
		if old := n.queues[q.Num]; old != nil {
			old.setShape(q.Shape)
			continue
		}
		h := fnv.New64a()
		h.Write([]byte(r.slug + "/" + n.spec.Name))
		pq, err := openQueue(ns, q.Num, q.Shape, h.Sum64())
		if err != nil {
			return fmt.Errorf("docker runtime: node %s: %w", n.spec.Name, err)
		}
		if n.queues == nil {
			n.queues = map[uint16]*packetQueue{}
		}
		n.queues[q.Num] = pq
	}
	if err := ns.setRules(n.ip, mine, rules); err != nil {
		return fmt.Errorf("docker runtime: node %s: %w", n.spec.Name, err)
	}
	for num, q := range n.queues {
		if !want[num] {
			q.close()
			delete(n.queues, num)
		}
	}
	return nil
}

// netnsLocked returns the handle on the running node's network namespace.
// The handle is held from the first use after a start until the container
// stops, and checked against a fresh inspect each time: a container that
// was restarted (by us, or behind our back) has a new main process and a
// new namespace, and reading the /proc entry of the old pid would fail or,
// worse, find a stranger. If the process that the inspect names is gone
// before its namespace is opened, the inspect is repeated a few times
// before the node is declared not running.
func (r *Runtime) netnsLocked(n *node) (*netns, error) {
	var last error
	for try := 0; try < 5; try++ {
		ins, err := r.cli.ContainerInspect(context.Background(), n.container, client.ContainerInspectOptions{})
		if err != nil {
			return nil, fmt.Errorf("docker runtime: inspect %s: %w", n.spec.Name, err)
		}
		st := ins.Container.State
		if st == nil || st.Pid == 0 || !st.Running {
			return nil, fmt.Errorf("docker runtime: node %s is not running (%s)", n.spec.Name, describeState(st))
		}
		if n.ns != nil && n.pid == st.Pid && n.started == st.StartedAt {
			return n.ns, nil
		}
		n.forgetNetnsLocked()
		if ep := ins.Container.NetworkSettings; ep != nil && ep.Networks[r.netName] != nil {
			n.mac = net.HardwareAddr(ep.Networks[r.netName].MacAddress)
		}
		ns, err := openNetns(st.Pid)
		if err == nil {
			n.pid, n.started, n.ns = st.Pid, st.StartedAt, ns
			return ns, nil
		}
		last = err
		time.Sleep(time.Duration(try+1) * 20 * time.Millisecond)
	}
	return nil, fmt.Errorf("docker runtime: node %s: %w", n.spec.Name, last)
}

// forgetNetnsLocked drops the namespace handle of a node that stopped.
func (n *node) forgetNetnsLocked() {
	for num, q := range n.queues {
		q.close()
		delete(n.queues, num)
	}
	if n.ns != nil {
		n.ns.Close()
		n.ns = nil
	}
	n.pid, n.started = 0, ""
}

func describeState(st *container.State) string {
	if st == nil {
		return "no state"
	}
	return fmt.Sprintf("%s, exit code %d %s", st.Status, st.ExitCode, st.Error)
}

func (r *Runtime) addressing() addressing {
	a := addressing{node: map[string]netip.Addr{}, gateway: r.gateway, alias: r.aliases}
	for name, n := range r.nodes {
		a.node[name] = n.ip
	}
	return a
}

func (r *Runtime) waitReady(ctx context.Context, n *node) error {
	ctx, cancel := context.WithTimeout(ctx, r.startTimeout)
	defer cancel()
	addr := func(port string) (string, error) { return n.direct(port) }
	var last error
	for i := 0; ; i++ {
		if i%10 == 0 || n.spec.Ready == nil {
			if err := r.checkAlive(ctx, n); err != nil {
				return err
			}
		}
		if n.spec.Ready == nil {
			return nil
		}
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		last = n.spec.Ready(pctx, addr)
		pcancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not ready after %s (last probe: %v); its log goes to %s", n.spec.Name, r.startTimeout, last, n.logPath)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// checkAlive fails when the node's container has exited, with the tail of
// its log.
func (r *Runtime) checkAlive(ctx context.Context, n *node) error {
	r.mu.Lock()
	id := n.container
	r.mu.Unlock()
	ins, err := r.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("docker runtime: inspect %s: %w", n.spec.Name, err)
	}
	if st := ins.Container.State; st != nil && (st.Running || st.Paused) {
		return nil
	}
	r.mu.Lock()
	n.running = false
	r.mu.Unlock()
	return fmt.Errorf("node %s exited while starting (%s):\n%s", n.spec.Name, describeState(ins.Container.State), r.logTail(ctx, id, 15))
}

func (r *Runtime) logTail(ctx context.Context, id string, lines int) string {
	rc, err := r.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(lines)})
	if err != nil {
		return "  (no log: " + err.Error() + ")"
	}
	defer rc.Close()
	var b strings.Builder
	_, _ = stdcopy.StdCopy(&b, &b, io.LimitReader(rc, 1<<16))
	return "  " + strings.ReplaceAll(strings.TrimRight(b.String(), "\n"), "\n", "\n  ")
}

// lockRunning looks a node up and takes its operation lock, which the
// caller releases; it fails, without the lock, when the node is not running.
func (r *Runtime) lockRunning(name string) (n *node, paused bool, err error) {
	if n, err = r.lookup(name); err != nil {
		return nil, false, err
	}
	n.op.Lock()
	r.mu.Lock()
	running, paused := n.running, n.paused
	r.mu.Unlock()
	if !running {
		n.op.Unlock()
		return nil, false, fmt.Errorf("docker runtime: node %s is not running", name)
	}
	return n, paused, nil
}

// Kill sends SIGKILL to the container and waits until it has stopped.
func (r *Runtime) Kill(ctx context.Context, name string) error {
	n, paused, err := r.lockRunning(name)
	if err != nil {
		return err
	}
	defer n.op.Unlock()
	if paused {
		// A frozen cgroup would hold SIGKILL until thawed.
		_, _ = r.cli.ContainerUnpause(ctx, n.container, client.ContainerUnpauseOptions{})
	}
	if _, err := r.cli.ContainerKill(ctx, n.container, client.ContainerKillOptions{Signal: "KILL"}); err != nil && !errdefs.IsConflict(err) {
		return fmt.Errorf("docker runtime: kill %s: %w", name, err)
	}
	r.logf("kill %s", name)
	err = r.waitStopped(ctx, n)
	r.mu.Lock()
	n.paused = false
	if err == nil {
		n.running = false
		n.forgetNetnsLocked()
	}
	r.mu.Unlock()
	return err
}

func (r *Runtime) waitStopped(ctx context.Context, n *node) error {
	for {
		ins, err := r.cli.ContainerInspect(ctx, n.container, client.ContainerInspectOptions{})
		if err != nil {
			return fmt.Errorf("docker runtime: inspect %s: %w", n.spec.Name, err)
		}
		if st := ins.Container.State; st == nil || !st.Running {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("docker runtime: node %s did not stop: %w", n.spec.Name, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM, then SIGKILL after a grace period.
func (r *Runtime) Stop(ctx context.Context, name string) error {
	n, err := r.lookup(name)
	if err != nil {
		return err
	}
	n.op.Lock()
	defer n.op.Unlock()
	return r.stop(ctx, n)
}

// stop stops a running container; the caller holds n.op.
func (r *Runtime) stop(ctx context.Context, n *node) error {
	r.mu.Lock()
	running, paused := n.running, n.paused
	r.mu.Unlock()
	if !running {
		return nil
	}
	if paused {
		_, _ = r.cli.ContainerUnpause(ctx, n.container, client.ContainerUnpauseOptions{})
	}
	secs := int(r.stopGrace / time.Second)
	if _, err := r.cli.ContainerStop(ctx, n.container, client.ContainerStopOptions{Timeout: &secs}); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("docker runtime: stop %s: %w", n.spec.Name, err)
	}
	r.logf("stop %s", n.spec.Name)
	r.mu.Lock()
	n.running, n.paused = false, false
	n.forgetNetnsLocked()
	r.mu.Unlock()
	return nil
}

// Pause freezes the container's processes (the cgroup freezer): like
// SIGSTOP, but nothing in the container can notice or catch it.
func (r *Runtime) Pause(ctx context.Context, name string) error {
	n, paused, err := r.lockRunning(name)
	if err != nil {
		return err
	}
	defer n.op.Unlock()
	if paused {
		return nil
	}
	if _, err := r.cli.ContainerPause(ctx, n.container, client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("docker runtime: pause %s: %w", name, err)
	}
	r.logf("pause %s", name)
	r.mu.Lock()
	n.paused = true
	r.mu.Unlock()
	return nil
}

// Resume thaws the container, then applies a clock change made while it was
// paused.
func (r *Runtime) Resume(ctx context.Context, name string) error {
	n, err := r.lookup(name)
	if err != nil {
		return err
	}
	n.op.Lock()
	r.mu.Lock()
	running, wasPaused := n.running, n.paused
	r.mu.Unlock()
	if !running {
		n.op.Unlock()
		return fmt.Errorf("docker runtime: node %s is not running", name)
	}
	if wasPaused {
		if _, err := r.cli.ContainerUnpause(ctx, n.container, client.ContainerUnpauseOptions{}); err != nil {
			n.op.Unlock()
			return fmt.Errorf("docker runtime: unpause %s: %w", name, err)
		}
		r.logf("unpause %s", name)
	}
	r.mu.Lock()
	n.paused = false
	offset := n.offset
	r.mu.Unlock()
	n.op.Unlock()
	if wasPaused && n.spec.Clock == core.ClockControl && offset != 0 {
		return r.SetClockOffset(ctx, name, offset)
	}
	return nil
}

// SetClockOffset moves a node's clock: through its control port (our own
// services) or libfaketime's timestamp file, which is on the node's mounted
// directory. A paused node gets the change when it resumes, a stopped one
// when it starts. No container may set the kernel clock.
func (r *Runtime) SetClockOffset(ctx context.Context, name string, offset time.Duration) error {
	r.mu.Lock()
	n, err := r.node(name)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	n.offset = offset
	method, running, paused, file := n.spec.Clock, n.running, n.paused, n.clockFile
	addr, aerr := n.direct(controlPort)
	var ns *netns
	if method == core.ClockControl && running && !paused && aerr == nil {
		// A copy of the handle: the node may stop while the request is
		// on its way, which closes the node's own.
		if ns, err = r.netnsLocked(n); err == nil {
			ns, err = ns.dup()
		}
	}
	r.mu.Unlock()
	switch method {
	case core.ClockFaketime:
		return writeFaketime(file, offset)
	case core.ClockControl:
		if !running || paused {
			return nil
		}
		if aerr != nil {
			return aerr
		}
		if err != nil {
			return fmt.Errorf("docker runtime: node %s: %w", name, err)
		}
		defer ns.Close()
		if err := putClock(ctx, ns, addr, offset); err != nil {
			return fmt.Errorf("docker runtime: node %s: %w", name, err)
		}
		return nil
	}
	return fmt.Errorf("docker runtime: node %s's clock cannot be moved: %w", name, core.ErrUnsupported)
}

func writeFaketime(path string, offset time.Duration) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%+.6f\n", offset.Seconds())), 0o644); err != nil {
		return fmt.Errorf("write faketime file: %w", err)
	}
	return os.Rename(tmp, path)
}

// Partition cuts links, in addition to those already cut, with nftables
// rules in the receiving containers' network namespaces.
func (r *Runtime) Partition(ctx context.Context, cut []core.Link) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	touched := map[string]bool{}
	for _, l := range cut {
		if l.From == l.To {
			continue
		}
		from, to := r.nodes[l.From], r.nodes[l.To]
		if from == nil && to == nil {
			return fmt.Errorf("docker runtime: link %s→%s names no node", l.From, l.To)
		}
		// A client's own address of the node must exist before it can be
		// cut; AllClients covers the addresses that exist and those made
		// later (every new address rewrites the node's rules).
		switch {
		case to == nil && l.To != AllClients:
			if _, err := r.aliasLocked(l.To, from); err != nil {
				return err
			}
		case from == nil && l.From != AllClients:
			if _, err := r.aliasLocked(l.From, to); err != nil {
				return err
			}
		}
		r.cut[l] = true
		touched[l.From], touched[l.To] = true, true
	}
	return r.applyAllLocked(touched)
}

// ShapeLinks degrades links without cutting them, each in the namespace
// of the node it leads to: loss by random drops in an nftables rule, and
// latency, jitter, reordering and a rate through NFQUEUE, where the harness
// holds each packet for its delay (queue.go). Duplicate and corrupt are not
// done: they need sch_netem, which many kernels (this project's CI one
// among them) do not have. A zero shape restores the links; Heal restores
// them all.
func (r *Runtime) ShapeLinks(ctx context.Context, links []core.Link, s linkproxy.Shape) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("docker runtime: %w", err)
	}
	if s.Duplicate > 0 || s.Corrupt > 0 {
		return fmt.Errorf("docker runtime: duplicate and corrupt packets need sch_netem, which this runtime does not use: %w", core.ErrUnsupported)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	touched := map[string]bool{}
	for _, l := range links {
		if l.From == l.To || (r.nodes[l.From] == nil && r.nodes[l.To] == nil) {
			continue
		}
		if s == (linkproxy.Shape{}) {
			delete(r.shapes, l)
		} else {
			r.shapes[l] = s
		}
		touched[l.From], touched[l.To] = true, true
	}
	return r.applyAllLocked(touched)
}

// Heal restores every link.
func (r *Runtime) Heal(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cut) == 0 && len(r.shapes) == 0 {
		return nil
	}
	r.cut, r.shapes = map[core.Link]bool{}, map[core.Link]linkproxy.Shape{}
	return r.applyAllLocked(nil)
}

// applyAllLocked rewrites the rules of the running nodes in touched (all
// when nil).
func (r *Runtime) applyAllLocked(touched map[string]bool) error {
	var errs []error
	for _, name := range r.order {
		n := r.nodes[name]
		if (touched == nil || touched[name]) && n.running {
			errs = append(errs, r.applyNetLocked(n))
		}
	}
	return errors.Join(errs...)
}

// Teardown stops every container, copies its log into the run directory,
// and removes the containers and the network. Removing a container removes
// its namespace and with it every rule; clocks reset with the containers.
func (r *Runtime) Teardown(ctx context.Context) error {
	r.mu.Lock()
	if r.torn {
		r.mu.Unlock()
		return nil
	}
	r.torn = true
	r.cut = map[core.Link]bool{}
	r.mu.Unlock()
	errs := make([]error, len(r.order))
	var wg sync.WaitGroup
	for i, name := range r.order {
		n := r.nodes[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.op.Lock()
			defer n.op.Unlock()
			if n.container != "" {
				errs[i] = r.remove(ctx, n)
			}
			if n.clockFile != "" {
				_ = writeFaketime(n.clockFile, 0)
			}
		}()
	}
	wg.Wait()
	// A container whose creation was interrupted (Ctrl-C during a start)
	// may exist without the runtime knowing its id: the run label finds it.
	if r.run != "" {
		f := make(client.Filters).Add("label", LabelRun+"="+r.run)
		if cs, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f}); err == nil {
			for _, c := range cs.Items {
				if err := removeContainer(ctx, r.cli, c.ID); err != nil {
					errs = append(errs, fmt.Errorf("docker runtime: %w", err))
				}
				r.logf("removed stray container %s", short(c.ID))
			}
		}
	}
	if r.netID != "" {
		// The engine releases a removed container's endpoint some time
		// after the removal returns; removeNetwork waits for that.
		if err := removeNetwork(ctx, r.cli, r.netID, r.netName, r.run); err != nil {
			errs = append(errs, fmt.Errorf("docker runtime: %w", err))
		} else {
			r.logf("removed network %s", r.netName)
			r.netID = ""
		}
	}
	if r.netID == "" && errors.Join(errs...) == nil {
		r.mu.Lock()
		r.removed = true
		r.mu.Unlock()
	}
	if r.opLog != nil {
		errs = append(errs, r.opLog.Close())
		r.opLog = nil
	}
	errs = append(errs, r.cli.Close())
	return errors.Join(errs...)
}

// Leftover names this run when its containers or network may still exist
// on the engine: from Setup until a Teardown that removed everything. A
// harness that exits in between (a second Ctrl-C) prints the `chaos clean
// --run` line for it.
func (r *Runtime) Leftover() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.run == "" || r.removed {
		return ""
	}
	return r.run
}

// remove stops the node's container gracefully, appends its log to the
// node's log file and removes it. The caller holds n.op.
func (r *Runtime) remove(ctx context.Context, n *node) error {
	var errs []error
	if err := r.stop(ctx, n); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, r.saveLog(ctx, n))
	if err := removeContainer(ctx, r.cli, n.container); err != nil {
		errs = append(errs, fmt.Errorf("docker runtime: node %s: %w", n.spec.Name, err))
	}
	r.logf("removed %s", n.spec.Name)
	r.mu.Lock()
	n.container, n.running, n.paused, n.env = "", false, false, nil
	n.forgetNetnsLocked()
	r.mu.Unlock()
	return errors.Join(errs...)
}

// saveLog appends the container's output (all its starts) to the node's
// log file in the run directory.
func (r *Runtime) saveLog(ctx context.Context, n *node) error {
	f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("docker runtime: node %s log: %w", n.spec.Name, err)
	}
	defer f.Close()
	fmt.Fprintf(f, "=== chaos: log of container %s (%s) at %s\n", short(n.container), n.spec.Name, time.Now().UTC().Format(time.RFC3339Nano))
	rc, err := r.cli.ContainerLogs(ctx, n.container, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		fmt.Fprintf(f, "=== chaos: no log: %v\n", err)
		return nil
	}
	defer rc.Close()
	_, err = stdcopy.StdCopy(f, f, rc)
	if err != nil {
		fmt.Fprintf(f, "=== chaos: log cut short: %v\n", err)
	}
	return nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Nemeses says which of a target's fault kinds this runtime can inject, and
// how, given the target's node specs: kill and pause always (Docker kill and
// the cgroup freezer), clock when the nodes' clocks can move (our services'
// control port, or libfaketime), partition on every directed link, between
// nodes and between clients and nodes, slow and lossy links (the partition
// nemesis's plans), and the packet faults in PacketFaults.
// PacketFaults are the packet nemesis's faults this runtime makes.
const PacketFaults = "delay, jitter, loss, reorder, rate; not duplicate, corrupt"

func Nemeses(target []string, specs []core.NodeSpec) []string {
	clock := len(specs) > 0
	for _, s := range specs {
		clock = clock && s.Clock != core.ClockNone
	}
	var out []string
	for _, n := range target {
		switch n {
		case "clock":
			if clock {
				out = append(out, n)
			}
		case "partition":
			out = append(out, "partition(all links; slow and lossy too)")
		case "packet":
			out = append(out, "packet("+PacketFaults+")")
		default:
			out = append(out, n)
		}
	}
	return out
}
