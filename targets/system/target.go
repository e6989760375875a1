package system

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/lock"
)

// Params are the system target's own flags.
var Params = []core.Param{
	{Name: "system-lock-fencing", Default: "false", Usage: "system file, lock-set: the protected resource rejects writes whose grant's fence is lower than one it accepted"},
}

// Info is the target as the registry lists it. reg supplies the
// client-pause board of the lock workloads (nil: no client pauses).
func (s *System) Info(reg *core.Registry) core.TargetInfo {
	ws := []string{s.Run.Workload}
	for _, w := range Workloads {
		if w != s.Run.Workload {
			ws = append(ws, w)
		}
	}
	return core.TargetInfo{Name: s.Name, Summary: "the system described in " + s.Path, Params: Params,
		Workloads: ws, Nemeses: s.Nemeses(),
		New: func(p core.Params) (core.Target, error) {
			fencing, err := p.Bool("system-lock-fencing", false)
			if err != nil {
				return nil, err
			}
			var pauses *lock.Pauses
			if reg != nil {
				pauses = lock.PausesOf(reg)
			}
			return &Target{s: s, res: lock.NewResources(fencing), pauses: pauses,
				http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}}, nil
		}}
}

// Register adds the system as a target of reg.
func (s *System) Register(reg *core.Registry) { reg.AddTarget(s.Info(reg)) }

// Apply fills cfg in from the file's [run] and [params], leaving alone
// every setting that set reports as given on the command line (by flag
// name), and checks the nemeses against what the nodes can take.
func (s *System) Apply(cfg *core.Config, set func(flag string) bool) error {
	r := s.Run
	cfg.Target = s.Name
	if !set("workload") {
		cfg.Workload = r.Workload
	}
	if !set("nodes") && r.Nodes > 0 {
		cfg.Nodes = r.Nodes
	}
	if !set("concurrency") && r.Concurrency > 0 {
		cfg.Concurrency = r.Concurrency
	}
	if !set("time-limit") && s.timeLimit > 0 {
		cfg.TimeLimit = s.timeLimit
	}
	if !set("rate") && r.Rate != nil {
		cfg.Rate = *r.Rate
	}
	if !set("nemesis") && r.Nemesis != nil {
		cfg.Nemeses = nil
		for _, n := range r.Nemesis {
			if n != "none" {
				cfg.Nemeses = append(cfg.Nemeses, n)
			}
		}
	}
	if !set("nemesis-interval") && s.nemesisInterval > 0 {
		cfg.NemesisInterval = s.nemesisInterval
	}
	if !set("op-timeout") && s.opTimeout > 0 {
		cfg.OpTimeout = s.opTimeout
	}
	if !set("seed") && r.Seed != nil {
		cfg.Seed = *r.Seed
	}
	if cfg.Params == nil {
		cfg.Params = core.Params{}
	}
	for k, v := range s.params {
		if !set(k) {
			cfg.Params[k] = v
		}
	}
	for _, n := range cfg.Nemeses {
		if n == "clock" && !s.CanMoveClocks() {
			field := "run.nemesis"
			if set("nemesis") {
				field = "nodes.clock"
			}
			return s.clockRefusal(field)
		}
	}
	return nil
}

// CheckParams reports a [params] entry that names no flag of reg.
func (s *System) CheckParams(reg *core.Registry) error {
	known := map[string]bool{}
	for _, p := range Params {
		known[p.Name] = true
	}
	for _, w := range reg.Workloads() {
		for _, p := range w.Params {
			known[p.Name] = true
		}
	}
	for _, n := range reg.Nemeses() {
		for _, p := range n.Params {
			known[p.Name] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.params)) {
		if !known[k] {
			return s.errAt("params."+k, "no workload or nemesis takes this parameter (see `chaos list`)")
		}
	}
	return nil
}

// Build runs the file's build command once, in the file's directory, with
// {bin} a fresh temporary directory that Close removes. Its output goes to
// w.
func (s *System) Build(ctx context.Context, w io.Writer) error {
	if len(s.File.Build.Command) == 0 {
		return nil
	}
	if s.Bin == "" {
		d, err := os.MkdirTemp("", "chaos-bin-"+s.Name+"-")
		if err != nil {
			return fmt.Errorf("system %s: build directory: %w", s.Name, err)
		}
		s.Bin = d
	}
	args, err := s.expandStatic(s.File.Build.Command, nil)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return s.errAt("build.command", "%s failed: %v", strings.Join(args, " "), err)
	}
	return nil
}

// Close removes the build directory.
func (s *System) Close() error {
	if s.Bin == "" {
		return nil
	}
	err := os.RemoveAll(s.Bin)
	s.Bin = ""
	return err
}

// expandStatic fills in the placeholders that need no runtime: dir, bin
// and, per node, name, index and nodes.
func (s *System) expandStatic(args []string, node *nodeInfo) ([]string, error) {
	out := make([]string, len(args))
	for i, a := range args {
		v, err := expand(a, func(name string, _ []string) (string, error) {
			switch name {
			case "dir":
				return s.Dir, nil
			case "bin":
				if s.Bin == "" {
					return "", errors.New("{bin}: the build has not run (call System.Build first)")
				}
				return s.Bin, nil
			}
			if node != nil {
				switch name {
				case "name":
					return node.name, nil
				case "index":
					return strconv.Itoa(node.index), nil
				case "nodes":
					return strings.Join(node.all, ","), nil
				}
			}
			return "", fmt.Errorf("{%s} cannot be used here", name)
		})
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

type nodeInfo struct {
	name  string
	index int
	all   []string
}

// Target is a running system file's target.
type Target struct {
	s      *System
	res    *lock.Resources
	pauses *lock.Pauses
	http   *http.Client
}

var _ core.Target = (*Target)(nil)

// Nodes expands the command template for every node.
func (t *Target) Nodes(names []string, _ core.Params) ([]core.NodeSpec, error) {
	s := t.s
	specs := make([]core.NodeSpec, len(names))
	for i, name := range names {
		ni := &nodeInfo{name: name, index: i + 1, all: names}
		prog, err := s.expandStatic(s.Nodes.Command[:1], ni)
		if err != nil {
			return nil, fmt.Errorf("%s: nodes.command: %w", s.Path, err)
		}
		program := prog[0]
		if strings.Contains(program, "/") && !filepath.IsAbs(program) {
			program = filepath.Join(s.Dir, program)
		}
		var env []string
		for _, k := range slices.Sorted(maps.Keys(s.Nodes.Env)) {
			v, err := s.expandStatic([]string{s.Nodes.Env[k]}, ni)
			if err != nil {
				return nil, fmt.Errorf("%s: nodes.env.%s: %w", s.Path, k, err)
			}
			env = append(env, k+"="+v[0])
		}
		spec := core.NodeSpec{Name: name, Program: program, Ports: s.Nodes.Ports, Env: env,
			Args: func(ne core.NodeEnv) []string { return t.args(ni, ne) }, Ready: t.ready()}
		switch s.Nodes.Clock {
		case ClockControl:
			spec.Clock = core.ClockControl
		case ClockFaketime:
			spec.Clock = core.ClockFaketime
			spec.Env = append(spec.Env, "LD_PRELOAD="+s.Nodes.Faketime)
		}
		specs[i] = spec
	}
	return specs, nil
}

// args expands the node's arguments. The template was checked at load, so
// an error here is a peer name that does not exist, which the expanded
// argument shows.
func (t *Target) args(ni *nodeInfo, ne core.NodeEnv) []string {
	s := t.s
	out := make([]string, 0, len(s.Nodes.Command)-1)
	for _, a := range s.Nodes.Command[1:] {
		v, err := expand(a, func(name string, args []string) (string, error) {
			switch name {
			case "listen":
				return ne.Listen(args[0]), nil
			case "port":
				_, p, err := net.SplitHostPort(ne.Listen(args[0]))
				return p, err
			case "peers", "peer-map":
				var ps []string
				for _, n := range ni.all {
					if n == ni.name {
						continue
					}
					a := ne.Peer(n, args[0])
					if name == "peer-map" {
						a = n + "=" + a
					}
					ps = append(ps, a)
				}
				return strings.Join(ps, ","), nil
			case "peer":
				if !slices.Contains(ni.all, args[0]) {
					return "", fmt.Errorf("no node %q", args[0])
				}
				return ne.Peer(args[0], args[1]), nil
			case "data":
				return ne.DataDir, nil
			}
			v, err := s.expandStatic([]string{"{" + name + "}"}, ni)
			if err != nil {
				return "", err
			}
			return v[0], nil
		})
		if err != nil {
			v = "invalid-argument(" + err.Error() + ")"
		}
		out = append(out, v)
	}
	return out
}

func (t *Target) ready() func(context.Context, func(string) (string, error)) error {
	r := t.s.Nodes.Ready
	if r.TCP != "" {
		return func(ctx context.Context, addr func(string) (string, error)) error {
			a, err := addr(r.TCP)
			if err != nil {
				return err
			}
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", a)
			if err != nil {
				return err
			}
			return c.Close()
		}
	}
	port, path, _ := strings.Cut(r.HTTP, "/")
	return func(ctx context.Context, addr func(string) (string, error)) error {
		a, err := addr(port)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a+"/"+path, nil)
		if err != nil {
			return err
		}
		resp, err := t.http.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("GET /%s: HTTP %d", path, resp.StatusCode)
		}
		return nil
	}
}

// NewClient opens a client of the file's type for one worker and node.
func (t *Target) NewClient(ctx context.Context, workload string, cfg core.ClientConfig) (core.Client, error) {
	s := t.s
	addr, err := cfg.Addr(cfg.Node, s.Client.Port)
	if err != nil {
		return nil, err
	}
	var tr transport
	switch s.Client.Type {
	case ClientHTTP:
		tr = &httpTransport{c: t.http, base: "http://" + addr + s.Client.Path + "/" + family(workload) + "/",
			node: cfg.Node, endpoint: cfg.Endpoint}
	default:
		ct, err := t.newCommand(workload, cfg, addr)
		if err != nil {
			return nil, err
		}
		// A client that cannot start is returned broken: its first op is
		// not sent, and the run ends with the reason.
		_ = ct.open(ctx)
		tr = ct
	}
	if workload == "lock" || workload == "lock-set" {
		return &lockClient{Client: lock.NewClient(&locker{tr: tr, cfg: cfg}, workload, cfg.Endpoint,
			lock.WithResources(t.res), lock.WithPauses(t.pauses)), tr: tr}, nil
	}
	return &opClient{tr: tr, cfg: cfg}, nil
}

// family names the workload in HTTP paths: both lock workloads speak lock.
func family(workload string) string {
	if workload == "lock-set" {
		return "lock"
	}
	return workload
}

// request is one invocation as a client's system sees it, over HTTP or as a
// JSON line.
type request struct {
	ID       uint64          `json:"id,omitempty"`
	Workload string          `json:"workload,omitempty"`
	F        string          `json:"f"`
	Key      string          `json:"key,omitempty"`
	Value    json.RawMessage `json:"value,omitempty"`
	Process  int             `json:"process"`
	Node     string          `json:"node"`
	Addr     string          `json:"addr,omitempty"`
	Endpoint string          `json:"client"`
	// Nodes lists every node, on init only.
	Nodes []string `json:"nodes,omitempty"`
}

// response is a completion: type ok (the default), fail or info.
type response struct {
	ID    *uint64         `json:"id,omitempty"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value,omitempty"`
	Error string          `json:"error,omitempty"`
}

// transport performs one invocation and returns its completion. A reply
// that breaks the contract makes the op info and broken() non-nil.
type transport interface {
	call(ctx context.Context, req request) response
	fault(err error)
	broken() error
	close() error
}

// opClient passes register, kv and ids ops through unchanged.
type opClient struct {
	tr  transport
	cfg core.ClientConfig
}

func (c *opClient) Invoke(ctx context.Context, op history.Op) history.Op {
	r := c.tr.call(ctx, request{F: op.F, Key: op.Key, Value: json.RawMessage(op.Value), Process: op.Process, Node: op.Node})
	return complete(op, r)
}

func (c *opClient) Close() error  { return c.tr.close() }
func (c *opClient) Broken() error { return c.tr.broken() }

func complete(op history.Op, r response) history.Op {
	op.Type, op.Error = history.Type(r.Type), r.Error
	op.Value = nil
	if len(r.Value) > 0 && string(r.Value) != "null" {
		op.Value = json.RawMessage(r.Value)
	}
	if op.Type == history.Fail || op.Type == history.Info {
		op.Value = nil
	}
	return op
}

// lockClient is the lock workloads' client with the transport's health.
type lockClient struct {
	*lock.Client
	tr transport
}

func (c *lockClient) Broken() error { return c.tr.broken() }

// locker speaks acquire and release over the transport; the harness plays
// the protected resource itself.
type locker struct {
	tr  transport
	cfg core.ClientConfig
}

func (l *locker) Acquire(ctx context.Context, key string, ttl time.Duration) (lock.Grant, error) {
	r := l.tr.call(ctx, request{F: lock.FAcquire, Key: key, Value: history.JSON(lock.AcquireArgs{TTL: int64(ttl)}),
		Process: l.cfg.Process, Node: l.cfg.Node})
	var g lock.Grant
	switch r.Type {
	case "ok":
		if err := json.Unmarshal(r.Value, &g); err != nil || g.Token == "" {
			err := fmt.Errorf("acquire answered ok with %s, not a grant {\"token\": ...} (see docs/bring-your-own.md)", quote(r.Value))
			l.tr.fault(err)
			return g, err
		}
		return g, nil
	case "fail":
		return g, fmt.Errorf("%w: %s", lock.ErrNotGranted, r.Error)
	}
	return g, errors.New(r.Error)
}

func (l *locker) Release(ctx context.Context, key string, g lock.Grant) ([]string, error) {
	r := l.tr.call(ctx, request{F: lock.FRelease, Key: key, Value: history.JSON(g), Process: l.cfg.Process, Node: l.cfg.Node})
	switch r.Type {
	case "ok":
		var rel lock.Release
		_ = json.Unmarshal(r.Value, &rel)
		return rel.Nodes, nil
	case "fail":
		return nil, fmt.Errorf("%w: %s", lock.ErrNotHeld, r.Error)
	}
	return nil, errors.New(r.Error)
}

func (l *locker) Close() error { return l.tr.close() }
