package etcd

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/workloads/lock"
)

// Name is the target's name.
const Name = "etcd"

// Params are the target's flags.
var Params = []core.Param{
	{Name: "etcd-heartbeat", Type: core.TypeDuration, Default: "100ms", Usage: "raft heartbeat interval of every member"},
	{Name: "etcd-election", Type: core.TypeDuration, Default: "1s", Usage: "raft election timeout of every member"},
	{Name: "etcd-lock-set", Type: core.TypeChoice, Choices: []string{"harness", "fenced"}, Default: "harness", Usage: "where lock-set keeps its set: harness (unfenced, loses updates when a lease runs out) or fenced (in etcd, written only by a transaction guarded on the lock key's create revision); the lease TTL is --lock-ttl, rounded up to whole seconds"},
	{Name: "etcd-serializable-reads", Type: core.TypeBool, Default: "false", Usage: "test flag: register reads are served from the member's local state (may be stale) instead of linearizably"},
	{Name: "etcd-fsync", Type: core.TypeBool, Default: "false", Usage: "fsync the WAL (a killed process keeps its page cache, so off by default)"},
}

// Options are the target's settings, parsed from its params.
type Options struct {
	Heartbeat, Election time.Duration
	// LockSet is "harness" or "fenced".
	LockSet string
	// SerializableReads makes register reads local to the member.
	SerializableReads bool
	Fsync             bool
}

// ParseOptions reads the target's params.
func ParseOptions(p core.Params) (Options, error) {
	var o Options
	var err error
	if o.Heartbeat, err = p.Duration("etcd-heartbeat", 100*time.Millisecond); err != nil {
		return o, err
	}
	if o.Election, err = p.Duration("etcd-election", time.Second); err != nil {
		return o, err
	}
	if o.Heartbeat < time.Millisecond || o.Election < 5*o.Heartbeat {
		return o, fmt.Errorf("--etcd-heartbeat %s, --etcd-election %s: the heartbeat must be at least 1ms and the election timeout at least 5 heartbeats", o.Heartbeat, o.Election)
	}
	if o.LockSet, err = p.Choice("etcd-lock-set", "harness", "fenced"); err != nil {
		return o, err
	}
	if o.SerializableReads, err = p.Bool("etcd-serializable-reads", false); err != nil {
		return o, err
	}
	if o.Fsync, err = p.Bool("etcd-fsync", false); err != nil {
		return o, err
	}
	return o, nil
}

// Target is an etcd cluster on the runtime.
type Target struct {
	opts Options
	// sets are lock-set's harness-held resources, shared by every client of
	// this run.
	sets *lock.Resources
	// pauses lets the holder-pause fault stop this run's lock clients.
	pauses *lock.Pauses

	mu     sync.Mutex
	joined map[string]bool // members that have been ready once
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
	return &Target{opts: o, sets: lock.NewResources(false), pauses: pauses, joined: map[string]bool{}}, nil
}

// Nodes describes one etcd member per name, each `chaos node etcd`.
func (t *Target) Nodes(names []string, p core.Params) ([]core.NodeSpec, error) {
	members := strings.Join(names, ",")
	specs := make([]core.NodeSpec, 0, len(names))
	for _, name := range names {
		specs = append(specs, core.NodeSpec{
			Name:  name,
			Kind:  Name,
			Ports: []string{"client", "peer"},
			Args: func(env core.NodeEnv) []string {
				routes := map[string]string{}
				for _, other := range names {
					if other == env.Name {
						routes[other] = env.Listen("peer")
					} else {
						routes[other] = env.Peer(other, "peer")
					}
				}
				return []string{
					"--name", env.Name,
					"--data-dir", env.DataDir + "/etcd",
					"--listen-client", env.Listen("client"),
					"--listen-peer", env.Listen("peer"),
					"--members", members,
					"--peer-routes", formatRoutes(routes),
					"--heartbeat-ms", fmt.Sprint(t.opts.Heartbeat.Milliseconds()),
					"--election-ms", fmt.Sprint(t.opts.Election.Milliseconds()),
					fmt.Sprintf("--fsync=%t", t.opts.Fsync),
				}
			},
			Ready: t.readyProbe(name),
		})
	}
	return specs, nil
}

// readyProbe says when member name is ready. The first start waits for the
// whole cluster: the member's /health answers true only once it sees a leader
// and serves a linearizable read. A restart waits only for the member's
// client port to listen: a member restarted inside a minority partition
// cannot join a quorum until the heal, and that is etcd's behaviour under
// test, not a start-up failure.
func (t *Target) readyProbe(name string) func(context.Context, func(string) (string, error)) error {
	return func(ctx context.Context, addr func(port string) (string, error)) error {
		t.mu.Lock()
		joined := t.joined[name]
		t.mu.Unlock()
		if joined {
			a, err := addr("client")
			if err != nil {
				return err
			}
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", a)
			if err != nil {
				return err
			}
			return c.Close()
		}
		if err := healthy(ctx, addr); err != nil {
			return err
		}
		t.mu.Lock()
		t.joined[name] = true
		t.mu.Unlock()
		return nil
	}
}

// healthy asks the member's /health endpoint.
func healthy(ctx context.Context, addr func(port string) (string, error)) error {
	a, err := addr("client")
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := healthClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"health":"true"`) {
		return fmt.Errorf("member not healthy: %s %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// healthClient never goes through a proxy and keeps no idle connections, so
// probes leave nothing open.
var healthClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// NewClient opens a client of the given workload against cfg.Node.
func (t *Target) NewClient(ctx context.Context, workload string, cfg core.ClientConfig) (core.Client, error) {
	switch workload {
	case "register":
		cli, err := dial(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return &registerClient{cli: cli, serializable: t.opts.SerializableReads}, nil
	case "lock", "lock-set":
		cli, err := dial(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return newLockClient(cli, t, workload, cfg), nil
	case "ids":
		cli, err := dial(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return &idClient{cli: cli, endpoint: cfg.Endpoint}, nil
	}
	return nil, fmt.Errorf("etcd target has no client for workload %q (it runs register, lock, lock-set, ids)", workload)
}

// dial connects to the one member cfg.Node, through the runtime's address for
// this client's link to it.
func dial(ctx context.Context, cfg core.ClientConfig) (*clientv3.Client, error) {
	addr, err := cfg.Addr(cfg.Node, "client")
	if err != nil {
		return nil, err
	}
	timeout := cfg.OpTimeout
	if timeout <= 0 {
		timeout = time.Second
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            []string{addr},
		DialTimeout:          timeout,
		DialKeepAliveTime:    time.Second,
		DialKeepAliveTimeout: time.Second,
		Context:              context.WithoutCancel(ctx),
		Logger:               zap.NewNop(),
		DialOptions:          []grpc.DialOption{grpc.WithNoProxy()},
	})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd member %s at %s: %w", cfg.Node, addr, err)
	}
	return cli, nil
}
