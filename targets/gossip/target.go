package gossip

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// Params are the gossip target's flags.
var Params = []core.Param{
	{Name: "gossip-fanout", Type: core.TypeInt, Default: "2", Usage: "peers each rumor round pushes to"},
	{Name: "gossip-k", Type: core.TypeInt, Default: "2", Usage: "rumor loss of interest: stop with probability 1/k after a push to a peer that knew (0: never)"},
	{Name: "gossip-rumor", Type: core.TypeBool, Default: "true", Usage: "spread updates by rumor mongering"},
	{Name: "gossip-rumor-interval", Type: core.TypeDuration, Default: "100ms", Usage: "rumor round period"},
	{Name: "gossip-anti-entropy", Type: core.TypeBool, Default: "true", Usage: "run push-pull anti-entropy"},
	{Name: "gossip-anti-entropy-interval", Type: core.TypeDuration, Default: "500ms", Usage: "anti-entropy period"},
	{Name: "gossip-ring", Type: core.TypeBool, Default: "false", Usage: "anti-entropy with the ring successor (bounded convergence) instead of a random peer"},
	{Name: "gossip-broken-anti-entropy", Type: core.TypeBool, Default: "false", Usage: "deliberately break anti-entropy (keeps stale values), to see the convergence checker fail"},
	{Name: "gossip-quiesce-timeout", Type: core.TypeDuration, Default: "10s", Usage: "how long the final dump waits for every node's digest to agree"},
}

// Register adds the gossip target and its node program to r.
func Register(r *core.Registry) {
	r.AddTarget(core.TargetInfo{Name: "gossip",
		Summary:   "our eventually consistent KV store: HLC last-writer-wins, rumor mongering and anti-entropy (AP: converges, not linearizable)",
		Params:    Params,
		Workloads: []string{"kv"},
		Nemeses:   []string{"partition", "packet", "kill", "pause", "clock"},
		New:       NewTarget})
	r.AddNode(core.NodeInfo{Name: "gossip", Summary: "a gossip KV store node", Main: Main})
	r.AddScenario(core.ScenarioInfo{Name: "gossip-divergence",
		Summary:       "gossip store with anti-entropy broken, partitioned into halves: writes on both sides never reconcile",
		Expect:        "convergence invalid: nodes disagree on keys after the heal, each named with who holds what",
		ControlExpect: "convergence valid: the same run with working anti-entropy converges",
		Config:        DivergenceScenario})
}

// DivergenceScenario is the gossip-divergence scenario: with control, the
// anti-entropy works. Only the convergence checker runs, since the store is
// never linearizable and that is not what the scenario is about.
func DivergenceScenario(control bool) core.Config {
	return core.Config{Target: "gossip", Workload: "kv", Nodes: 5, Concurrency: 5, TimeLimit: 6 * time.Second,
		Rate: 100, Nemeses: []string{"partition"}, NemesisInterval: time.Second, Seed: 4,
		// Rumors off: repair is left to anti-entropy alone, so its bug
		// shows on every run instead of only when rumors happen to be lost.
		Params: core.Params{"gossip-broken-anti-entropy": strconv.FormatBool(!control), "gossip-quiesce-timeout": "3s",
			"gossip-rumor":         "false",
			"partition-topologies": "halves", "kv-checkers": "convergence"}}
}

// Target is the gossip store under test.
type Target struct {
	args    []string
	quiesce time.Duration
}

var _ core.Target = (*Target)(nil)

// NewTarget checks the params and builds the target.
func NewTarget(p core.Params) (core.Target, error) {
	t := &Target{}
	ints := []struct{ name, flag string }{{"gossip-fanout", "fanout"}, {"gossip-k", "k"}}
	for _, f := range ints {
		n, err := p.Int(f.name, 0)
		if err != nil {
			return nil, err
		}
		if n < 0 || (f.flag == "fanout" && n < 1) {
			return nil, fmt.Errorf("--%s %d: must be at least %d", f.name, n, map[bool]int{true: 1, false: 0}[f.flag == "fanout"])
		}
		t.args = append(t.args, "--"+f.flag+"="+strconv.Itoa(n))
	}
	bools := []struct{ name, flag string }{{"gossip-rumor", "rumor"}, {"gossip-anti-entropy", "anti-entropy"},
		{"gossip-ring", "ring"}, {"gossip-broken-anti-entropy", "broken-anti-entropy"}}
	for _, f := range bools {
		b, err := p.Bool(f.name, false)
		if err != nil {
			return nil, err
		}
		t.args = append(t.args, "--"+f.flag+"="+strconv.FormatBool(b))
	}
	durs := []struct{ name, flag string }{{"gossip-rumor-interval", "rumor-interval"}, {"gossip-anti-entropy-interval", "anti-entropy-interval"}}
	for _, f := range durs {
		d, err := p.Duration(f.name, 0)
		if err != nil {
			return nil, err
		}
		if d <= 0 {
			return nil, fmt.Errorf("--%s %s: must be positive", f.name, d)
		}
		t.args = append(t.args, "--"+f.flag+"="+d.String())
	}
	var err error
	if t.quiesce, err = p.Duration("gossip-quiesce-timeout", 10*time.Second); err != nil {
		return nil, err
	}
	return t, nil
}

// Nodes runs `chaos node gossip` on each node; peers are reached through the
// runtime's link layer.
func (t *Target) Nodes(names []string, p core.Params) ([]core.NodeSpec, error) {
	var specs []core.NodeSpec
	for _, name := range names {
		specs = append(specs, core.NodeSpec{Name: name, Kind: "gossip", Ports: []string{"api", "gossip", "control"},
			Clock: core.ClockControl,
			Args: func(env core.NodeEnv) []string {
				var peers []string
				for _, other := range names {
					if other != env.Name {
						peers = append(peers, other+"="+env.Peer(other, "gossip"))
					}
				}
				// The node runs in its data directory, so a directory
				// relative to the harness must be made absolute here.
				data, err := filepath.Abs(env.DataDir)
				if err != nil {
					data = env.DataDir
				}
				return append([]string{"--name=" + env.Name, "--api=" + env.Listen("api"),
					"--gossip=" + env.Listen("gossip"), "--control=" + env.Listen("control"), "--data=" + data,
					"--peers=" + strings.Join(peers, ",")}, t.args...)
			},
			Ready: func(ctx context.Context, addr func(string) (string, error)) error {
				a, err := addr("api")
				if err != nil {
					return err
				}
				_, err = getJSON[json.RawMessage](ctx, http.DefaultClient, "http://"+a+"/health")
				return err
			}})
	}
	return specs, nil
}

// NewClient opens an HTTP client of one node.
func (t *Target) NewClient(ctx context.Context, workload string, cfg core.ClientConfig) (core.Client, error) {
	addr, err := cfg.Addr(cfg.Node, "api")
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	return &Client{cfg: cfg, base: "http://" + addr, hc: &http.Client{Transport: tr}, tr: tr, quiesce: t.quiesce}, nil
}

// Client speaks the register contract (read, write with whole-number values)
// plus delete and the final-phase dump.
type Client struct {
	cfg     core.ClientConfig
	base    string
	hc      *http.Client
	tr      *http.Transport
	quiesce time.Duration
}

// WriteResult is the value of an ok write or delete: what was written and
// the version the store gave it, which the convergence checker orders by.
type WriteResult struct {
	Value  json.RawMessage `json:"value,omitempty"`
	HLC    HLC             `json:"hlc"`
	Origin string          `json:"origin"`
}

// DumpResult is the value of an ok dump.
type DumpResult struct {
	Dump
	// Quiesced says every node's digest agreed before the dump; Waited is
	// how long the client waited for that, in milliseconds.
	Quiesced bool  `json:"quiesced"`
	WaitedMS int64 `json:"waited_ms"`
}

// Close drops idle connections.
func (c *Client) Close() error {
	c.tr.CloseIdleConnections()
	return nil
}

// Invoke performs read, write, delete or dump.
func (c *Client) Invoke(ctx context.Context, op history.Op) history.Op {
	u := c.base + "/kv?key=" + url.QueryEscape(op.Key)
	switch op.F {
	case "read":
		r, err := getJSON[GetResponse](ctx, c.hc, u)
		if err != nil {
			// A read changes nothing, so a failed read certainly had no
			// effect.
			return done(op, history.Fail, nil, err)
		}
		if !r.Found || r.Entry.Deleted {
			return done(op, history.OK, json.RawMessage("null"), nil)
		}
		return done(op, history.OK, valueJSON(r.Entry.Value), nil)
	case "write", "delete":
		method, body := http.MethodPut, ""
		if op.F == "delete" {
			method = http.MethodDelete
		} else {
			n, ok := op.ValueInt()
			if !ok {
				return done(op, history.Fail, nil, fmt.Errorf("write value %s is not a whole number", op.Value))
			}
			body = strconv.FormatInt(n, 10)
		}
		e, err := doJSON[Entry](ctx, c.hc, method, u, body)
		if err != nil {
			return done(op, outcomeOf(err), nil, err)
		}
		res := WriteResult{HLC: e.HLC, Origin: e.Origin}
		if op.F == "write" {
			res.Value = op.Value
		}
		return done(op, history.OK, history.JSON(res), nil)
	case "dump":
		return c.dump(ctx, op)
	}
	return done(op, history.Fail, nil, fmt.Errorf("gossip client: unknown operation %q", op.F))
}

// dump waits (bounded by the quiesce timeout, not by the operation timeout:
// waiting for quiescence is the point of the final phase) until every node's
// digest agrees, then reads this node's whole state.
func (c *Client) dump(ctx context.Context, op history.Op) history.Op {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.quiesce+5*time.Second)
	defer cancel()
	// An interrupt still ends the wait; only the op deadline is lifted.
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.Canceled) {
			cancel()
		}
	})
	defer stop()
	start := time.Now()
	quiesced := c.waitQuiescent(wctx, start.Add(c.quiesce))
	d, err := getJSON[Dump](wctx, c.hc, c.base+"/dump")
	if err != nil {
		return done(op, history.Fail, nil, err)
	}
	res := DumpResult{Dump: d, Quiesced: quiesced, WaitedMS: time.Since(start).Milliseconds()}
	return done(op, history.OK, history.JSON(res), nil)
}

// waitQuiescent polls every node's digest until all agree three times in a
// row, or until the deadline.
func (c *Client) waitQuiescent(ctx context.Context, deadline time.Time) bool {
	streak := 0
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var first uint64
		agree := true
		for i, n := range c.cfg.Nodes {
			a, err := c.cfg.Addr(n, "api")
			if err != nil {
				return false
			}
			pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			d, err := getJSON[DigestResponse](pctx, c.hc, "http://"+a+"/digest")
			cancel()
			if err != nil || (i > 0 && d.Digest != first) {
				agree = false
				break
			}
			first = d.Digest
		}
		if agree {
			if streak++; streak >= 3 {
				return true
			}
		} else {
			streak = 0
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}

func valueJSON(s string) json.RawMessage {
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return json.RawMessage(s)
	}
	return history.JSON(s)
}

func done(op history.Op, t history.Type, v json.RawMessage, err error) history.Op {
	op.Type, op.Value = t, v
	if err != nil {
		op.Error = err.Error()
	}
	return op
}

// outcomeOf classifies a write's error: a refused connection means nothing
// was sent (fail); anything else may have reached the node (info).
func outcomeOf(err error) history.Type {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return history.Fail
	}
	var se statusError
	if errors.As(err, &se) && se.code >= 400 && se.code < 500 {
		return history.Fail
	}
	return history.Info
}

type statusError struct {
	code int
	body string
}

func (e statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

func getJSON[T any](ctx context.Context, hc *http.Client, u string) (T, error) {
	return doJSON[T](ctx, hc, http.MethodGet, u, "")
}

func doJSON[T any](ctx context.Context, hc *http.Client, method, u, body string) (T, error) {
	var out T
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return out, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return out, fmt.Errorf("%s %s: timed out", method, req.URL.Path)
		}
		return out, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return out, err
	}
	if resp.StatusCode != http.StatusOK {
		return out, statusError{resp.StatusCode, strings.TrimSpace(string(b))}
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("bad answer from %s: %w", req.URL.Host, err)
	}
	return out, nil
}
