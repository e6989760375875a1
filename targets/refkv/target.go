package refkv

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/internal/httpnode"
	"github.com/chaostest/chaos/workloads/register"
)

// Params are the target's flags.
var Params = []core.Param{
	{Name: "refkv-mode", Type: core.TypeChoice, Choices: []string{"linearizable", "stale", "lost-write"}, Default: string(Linearizable), Usage: "refkv: linearizable, stale (reads lag writes) or lost-write (every third write acknowledged and lost)"},
	{Name: "refkv-stale-window", Type: core.TypeDuration, Default: "100ms", Usage: "refkv: in stale mode, how long after a write reads return the old value"},
}

// Register adds the refkv target and its node program to r.
func Register(r *core.Registry) {
	r.AddTarget(core.TargetInfo{Name: "refkv",
		Summary: "reference register store (linearizable, or broken on purpose: stale, lost-write)",
		Params:  Params, Workloads: []string{register.Name}, Nemeses: []string{"kill", "pause"}, New: New})
	r.AddNode(core.NodeInfo{Name: "refkv", Summary: "reference register store node", Main: NodeMain})
	for _, s := range scenarios() {
		r.AddScenario(s)
	}
}

// Target starts refkv nodes: the first holds the data, the others forward.
type Target struct {
	mode        Mode
	staleWindow string
	http        *http.Client
}

// New builds the target from its parameters.
func New(p core.Params) (core.Target, error) {
	mode, err := ParseMode(p.String("refkv-mode", string(Linearizable)))
	if err != nil {
		return nil, fmt.Errorf("--refkv-%w", err)
	}
	w, err := p.Duration("refkv-stale-window", 0)
	if err != nil {
		return nil, err
	}
	if w < 0 {
		return nil, fmt.Errorf("--refkv-stale-window %s: must not be negative", w)
	}
	return &Target{mode: mode, staleWindow: w.String(),
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}}, nil
}

// Nodes describes one data node and forwarders.
func (t *Target) Nodes(names []string, _ core.Params) ([]core.NodeSpec, error) {
	specs := make([]core.NodeSpec, len(names))
	primary := names[0]
	for i, name := range names {
		specs[i] = core.NodeSpec{
			Name: name, Kind: "refkv", Ports: []string{"api"},
			Args: func(env core.NodeEnv) []string {
				args := []string{"--listen", env.Listen("api"), "--mode", string(t.mode), "--stale-window", t.staleWindow,
					"--data-dir", env.DataDir}
				if name != primary {
					args = append(args, "--primary", env.Peer(primary, "api"))
				}
				return args
			},
			Ready: func(ctx context.Context, addr func(string) (string, error)) error {
				a, err := addr("api")
				if err != nil {
					return err
				}
				status, _, err := httpnode.Do(ctx, t.http, http.MethodGet, "http://"+a+"/health", "")
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("health: HTTP %d", status)
				}
				return err
			},
		}
	}
	return specs, nil
}

// NewClient opens a register client for one node.
func (t *Target) NewClient(_ context.Context, workload string, cfg core.ClientConfig) (core.Client, error) {
	if workload != register.Name {
		return nil, fmt.Errorf("refkv runs the %s workload, not %s", register.Name, workload)
	}
	a, err := cfg.Addr(cfg.Node, "api")
	if err != nil {
		return nil, err
	}
	return &client{t: t, base: "http://" + a}, nil
}

// client implements the register workload's op contract over HTTP.
type client struct {
	t    *Target
	base string
}

// Invoke performs a read, write or cas. A request that could not be sent is
// fail; a cas the store refused (409) is fail; anything else that went wrong
// after sending is info.
func (c *client) Invoke(ctx context.Context, op history.Op) history.Op {
	key := url.PathEscape(op.Key)
	var status int
	var body string
	var err error
	switch op.F {
	case "read":
		status, body, err = httpnode.Do(ctx, c.t.http, http.MethodGet, c.base+"/kv/"+key, "")
	case "write":
		status, body, err = httpnode.Do(ctx, c.t.http, http.MethodPut, c.base+"/kv/"+key, string(op.Value))
	case "cas":
		var ab [2]int64
		if derr := op.DecodeValue(&ab); derr != nil {
			op.Type, op.Error = history.Fail, "bad cas value: "+derr.Error()
			return op
		}
		status, body, err = httpnode.Do(ctx, c.t.http, http.MethodPost,
			fmt.Sprintf("%s/cas/%s?from=%d&to=%d", c.base, key, ab[0], ab[1]), "")
	default:
		op.Type, op.Error = history.Fail, fmt.Sprintf("refkv: unknown operation %q", op.F)
		return op
	}
	switch {
	case err != nil && httpnode.IsDialError(err):
		op.Type, op.Error = history.Fail, err.Error()
	case err != nil:
		op.Type, op.Error = history.Info, err.Error()
	case op.F == "read" && status == http.StatusNotFound:
		op.Type, op.Value = history.OK, nil
	case op.F == "read" && status == http.StatusOK:
		v, perr := strconv.ParseInt(body, 10, 64)
		if perr != nil {
			// Record what the node said: the checker reports it.
			op.Type, op.Value = history.OK, history.JSON(body)
			return op
		}
		op.Type, op.Value = history.OK, history.Int(v)
	case op.F == "cas" && status == http.StatusConflict:
		op.Type, op.Error = history.Fail, body
	case status == http.StatusOK:
		op.Type = history.OK
	default:
		op.Type, op.Error = history.Info, fmt.Sprintf("HTTP %d: %s", status, body)
	}
	return op
}

func (c *client) Close() error { return nil }
