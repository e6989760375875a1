// Package redis is the Redis lock target: real redis-server processes, one
// per node, each independent (Redlock's N masters) unless a replica is asked
// for, and two lock clients written from their descriptions: the
// single-instance lock (SET key token NX PX ttl, released by a Lua
// compare-and-delete) and Redlock over every node (quorum N/2+1, validity =
// ttl - elapsed - drift). The resource the lock protects belongs to the
// harness (package workloads/lock) and can enforce fencing tokens, which the
// single-instance lock hands out from an INCR beside the lock key.
//
// Clock faults reach a node through libfaketime. Debian's redis-server links
// the system jemalloc, which deadlocks under libfaketime at start-up, so a
// node runs under libfaketime only with a Redis built with MALLOC=libc
// (.ci/setup.d/redis.sh builds one as redis-server-libc).
package redis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/workloads/lock"
)

// Port is the name of a node's Redis port.
const Port = "redis"

// Params are the target's flags.
var Params = []core.Param{
	{Name: "redis-lock", Type: core.TypeChoice, Choices: []string{"redlock", "redsync", "single"}, Default: "redlock", Usage: "redis: lock algorithm: redlock (ours: every node, quorum), redsync (github.com/go-redsync/redsync's Redlock, for comparison) or single (one instance, see --redis-lock-nodes)"},
	{Name: "redis-lock-nodes", List: true, Default: "n1", Usage: "redis: single lock: nodes to try in order, using the first that answers as a primary (n1,n2 follows a failover)"},
	{Name: "redis-node-timeout", Type: core.TypeDuration, Default: "50ms", Usage: "redis: time allowed for each node's answer (redlock's per-node timeout, small against the TTL; the single lock's primary probe)"},
	{Name: "redis-drift-factor", Type: core.TypeFloat, Default: "0.01", Usage: "redis: redlock: clock drift allowed, as a fraction of the TTL (plus 2ms)"},
	{Name: "redis-fencing", Type: core.TypeBool, Default: "false", Usage: "redis: single lock: hand out fencing tokens (INCR next to the lock) and have the resource reject stale ones"},
	{Name: "redis-appendonly", Default: "no", Usage: "redis: appendonly, yes or no, for every node or per node (n3=no,yes: n3 no, the others yes)"},
	{Name: "redis-appendfsync", Default: "everysec", Usage: "redis: appendfsync, always, everysec or no, for every node or per node like --redis-appendonly"},
	{Name: "redis-replicas", Default: "", Usage: "redis: replica=primary pairs (n2=n1): those nodes start as replicas"},
	{Name: "redis-server", Default: "", Usage: "redis: redis-server binary (default: redis-server-libc when present, which libfaketime can run, else redis-server)"},
	{Name: "redis-faketime", Type: core.TypeChoice, Choices: []string{"auto", "yes", "no"}, Default: "auto", Usage: "redis: run nodes under libfaketime so their clocks can move: auto, yes or no"},
}

// Setup is what to tell a user who has no Redis.
const Setup = "install it with `sudo .ci/setup.d/redis.sh` (Debian's redis-server and libfaketime, and redis-server-libc built from Debian's source), or `apt-get install redis-server`"

// LibFaketime lists where libfaketime may live.
var LibFaketime = []string{
	"/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
	"/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
	"/usr/local/lib/faketime/libfaketime.so.1",
	"/usr/lib/faketime/libfaketime.so.1",
}

// Config is the target's settings.
type Config struct {
	Lock        string
	LockNodes   []string
	NodeTimeout time.Duration
	DriftFactor float64
	Fencing     bool
	AppendOnly  string
	AppendFsync string
	Replicas    map[string]string
	Server      string
	Faketime    string // path of libfaketime, empty when off
}

// ParseConfig reads the target's flags and finds the programs.
func ParseConfig(p core.Params) (Config, error) {
	var c Config
	var err error
	if c.Lock, err = p.Choice("redis-lock", "redlock", "single", "redsync"); err != nil {
		return c, err
	}
	c.LockNodes = splitList(p.String("redis-lock-nodes", "n1"))
	if c.NodeTimeout, err = p.Duration("redis-node-timeout", 50*time.Millisecond); err != nil {
		return c, err
	}
	if c.NodeTimeout <= 0 {
		return c, fmt.Errorf("--redis-node-timeout %s: must be positive", c.NodeTimeout)
	}
	if c.DriftFactor, err = p.Float("redis-drift-factor", 0.01); err != nil {
		return c, err
	}
	if c.DriftFactor < 0 || c.DriftFactor >= 1 {
		return c, fmt.Errorf("--redis-drift-factor %g: must be in [0, 1)", c.DriftFactor)
	}
	if c.Fencing, err = p.Bool("redis-fencing", false); err != nil {
		return c, err
	}
	c.AppendOnly = p.String("redis-appendonly", "no")
	if _, err := perNode(c.AppendOnly, "", "no", "yes", "no"); err != nil {
		return c, fmt.Errorf("--redis-appendonly: %w", err)
	}
	c.AppendFsync = p.String("redis-appendfsync", "everysec")
	if _, err := perNode(c.AppendFsync, "", "everysec", "always", "everysec", "no"); err != nil {
		return c, fmt.Errorf("--redis-appendfsync: %w", err)
	}
	c.Replicas = map[string]string{}
	for _, pair := range splitList(p.String("redis-replicas", "")) {
		r, pr, ok := strings.Cut(pair, "=")
		if !ok || r == "" || pr == "" || r == pr {
			return c, fmt.Errorf("--redis-replicas %q: want replica=primary pairs such as n2=n1", p["redis-replicas"])
		}
		c.Replicas[r] = pr
	}
	ft, err := p.Choice("redis-faketime", "auto", "yes", "no")
	if err != nil {
		return c, err
	}
	c.Server = p.String("redis-server", "")
	libc, _ := exec.LookPath("redis-server-libc")
	if c.Server == "" {
		c.Server = "redis-server"
		if libc != "" {
			c.Server = libc
		}
	}
	if _, err := exec.LookPath(c.Server); err != nil {
		return c, fmt.Errorf("redis: %s not found; %s", c.Server, Setup)
	}
	lib := findFaketime()
	switch ft {
	case "yes":
		if lib == "" {
			return c, fmt.Errorf("--redis-faketime yes: libfaketime not found; %s", Setup)
		}
		if filepath.Base(c.Server) == "redis-server" {
			return c, fmt.Errorf("--redis-faketime yes: %s links jemalloc, which deadlocks under libfaketime; use a Redis built with MALLOC=libc (--redis-server redis-server-libc; %s)", c.Server, Setup)
		}
		c.Faketime = lib
	case "auto":
		if lib != "" && filepath.Base(c.Server) != "redis-server" {
			c.Faketime = lib
		}
	}
	return c, nil
}

func findFaketime() string {
	for _, p := range LibFaketime {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// perNode resolves a per-node setting: "v" for all, or "n3=v1,v2" (n3 gets
// v1, the others v2); def when nothing applies. choices bound the values.
func perNode(spec, node, def string, choices ...string) (string, error) {
	val := def
	for _, f := range splitList(spec) {
		n, v, pinned := strings.Cut(f, "=")
		if !pinned {
			v = n
		}
		if !slices.Contains(choices, v) {
			return "", fmt.Errorf("%q: values must be one of %s", v, strings.Join(choices, ", "))
		}
		if !pinned {
			val = v
		}
	}
	// A value pinned to this node wins wherever it stands in the list.
	for _, f := range splitList(spec) {
		if n, v, pinned := strings.Cut(f, "="); pinned && n == node {
			val = v
		}
	}
	return val, nil
}

// Target starts Redis nodes and opens lock clients.
type Target struct {
	cfg    Config
	ids    idsConfig
	res    *lock.Resources
	pauses *lock.Pauses
}

var _ core.Target = (*Target)(nil)

// New builds the target; pauses is the client-pause board (may be nil).
func New(p core.Params, pauses *lock.Pauses) (*Target, error) {
	cfg, err := ParseConfig(p)
	if err != nil {
		return nil, err
	}
	ids, err := parseIDsConfig(p)
	if err != nil {
		return nil, err
	}
	return &Target{cfg: cfg, ids: ids, res: lock.NewResources(cfg.Fencing), pauses: pauses}, nil
}

// Resources are the protected resources of this run.
func (t *Target) Resources() *lock.Resources { return t.res }

// Nodes runs one redis-server per node.
func (t *Target) Nodes(names []string, _ core.Params) ([]core.NodeSpec, error) {
	for r, p := range t.cfg.Replicas {
		if !slices.Contains(names, r) || !slices.Contains(names, p) {
			return nil, fmt.Errorf("--redis-replicas %s=%s: no such node (nodes: %s)", r, p, strings.Join(names, ", "))
		}
	}
	if t.cfg.Lock == "single" {
		for _, n := range t.cfg.LockNodes {
			if !slices.Contains(names, n) {
				return nil, fmt.Errorf("--redis-lock-nodes: no node %s (nodes: %s)", n, strings.Join(names, ", "))
			}
		}
	}
	specs := make([]core.NodeSpec, len(names))
	for i, name := range names {
		aof, _ := perNode(t.cfg.AppendOnly, name, "no", "yes", "no")
		fsync, _ := perNode(t.cfg.AppendFsync, name, "everysec", "always", "everysec", "no")
		primary := t.cfg.Replicas[name]
		spec := core.NodeSpec{Name: name, Program: t.cfg.Server, Ports: []string{Port},
			Args: func(env core.NodeEnv) []string {
				host, port := splitAddr(env.Listen(Port))
				args := []string{"--bind", host, "--port", port, "--dir", env.DataDir,
					"--save", "", "--appendonly", aof, "--appendfsync", fsync,
					"--daemonize", "no", "--protected-mode", "no", "--logfile", "",
					"--loglevel", "notice",
					// Sync a new replica at once rather than after 5s.
					"--repl-diskless-sync-delay", "0"}
				if primary != "" {
					ph, pp := splitAddr(env.Peer(primary, Port))
					args = append(args, "--replicaof", ph, pp, "--repl-timeout", "5")
				}
				return args
			},
			Ready: func(ctx context.Context, addr func(string) (string, error)) error {
				a, err := addr(Port)
				if err != nil {
					return err
				}
				c := newRedisClient(a, 0)
				defer c.Close()
				if err := c.Ping(ctx).Err(); err != nil || primary == "" {
					return err
				}
				// A replica counts as ready once it is in sync, so a run
				// starts with replication working.
				info, err := c.Info(ctx, "replication").Result()
				if err != nil {
					return err
				}
				if !strings.Contains(info, "master_link_status:up") {
					return fmt.Errorf("replica of %s not in sync yet", primary)
				}
				return nil
			},
		}
		if t.cfg.Faketime != "" {
			spec.Clock = core.ClockFaketime
			spec.Env = []string{"LD_PRELOAD=" + t.cfg.Faketime}
		}
		specs[i] = spec
	}
	return specs, nil
}

func splitAddr(a string) (string, string) {
	i := strings.LastIndex(a, ":")
	if i < 0 {
		return a, ""
	}
	return a[:i], a[i+1:]
}

// NewClient opens a lock client: Redlock over every node, or the single
// instance lock over --redis-lock-nodes.
func (t *Target) NewClient(ctx context.Context, workload string, cc core.ClientConfig) (core.Client, error) {
	if workload == "ids" {
		return t.newIDsClient(ctx, cc)
	}
	if workload != "lock" && workload != "lock-set" {
		return nil, fmt.Errorf("redis runs the lock and lock-set workloads (redis-ids runs ids), not %s", workload)
	}
	nodes := cc.Nodes
	if t.cfg.Lock == "single" {
		nodes = t.cfg.LockNodes
	}
	conns := make([]nodeConn, 0, len(nodes))
	for _, n := range nodes {
		a, err := cc.Addr(n, Port)
		if err != nil {
			closeAll(conns)
			return nil, err
		}
		conns = append(conns, nodeConn{name: n, c: newRedisClient(a, cc.OpTimeout)})
	}
	warm(ctx, conns, warmTimeout)
	base := locker{conns: conns, tokens: tokenSource{prefix: fmt.Sprintf("%s-p%d", cc.Endpoint, cc.Process)}}
	var l lock.Locker
	switch t.cfg.Lock {
	case "single":
		l = &single{locker: base, fencing: t.cfg.Fencing, probeTimeout: t.cfg.NodeTimeout}
	case "redsync":
		l = newRedsync(base, t.cfg.DriftFactor, t.cfg.NodeTimeout)
	default:
		l = &redlock{locker: base, nodeTimeout: t.cfg.NodeTimeout, drift: t.cfg.DriftFactor}
	}
	return lock.NewClient(l, workload, cc.Endpoint, lock.WithResources(t.res), lock.WithPauses(t.pauses)), nil
}

// newRedisClient opens a client that never retries on its own: a retried
// lock request would hide what happened, and a dead node must fail at once
// (go-redis otherwise dials five times). timeout 0 keeps the defaults;
// contexts bound every call anyway.
func newRedisClient(addr string, timeout time.Duration) *goredis.Client {
	quietOnce.Do(func() { goredis.SetLogger(quiet{}) })
	return goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1,
		ContextTimeoutEnabled: true, Protocol: 2, PoolSize: 2, DisableIdentity: true,
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout})
}

// quiet drops go-redis's own log lines (failed dials to a node the nemesis
// killed): every failure already reaches the history as an op's error. The
// logger is go-redis's process-wide setting, hence the once.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...interface{}) {}

var quietOnce sync.Once

// warmTimeout bounds the connection warm-up of a new client.
const warmTimeout = 250 * time.Millisecond

// warm opens a connection to every node at once, so that the first lock
// request does not spend its small per-node timeout on a TCP handshake. A
// node it cannot reach is simply left cold.
func warm(ctx context.Context, cs []nodeConn, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.c.Ping(ctx).Err()
		}()
	}
	wg.Wait()
}

func closeAll(cs []nodeConn) error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.c.Close())
	}
	return errors.Join(errs...)
}
