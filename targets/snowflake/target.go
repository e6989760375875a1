package snowflake

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/chaostest/chaos/checkers/ids"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/internal/httpnode"
	idsworkload "github.com/chaostest/chaos/workloads/ids"
)

// Params are the target's flags.
var Params = []core.Param{
	{Name: "snowflake-mode", Type: core.TypeChoice, Choices: []string{string(Naive), string(Guarded), string(Monotonic)}, Default: string(Naive),
		Usage: "how a node meets a clock that went back: naive (issues IDs anyway), guarded (refuses) or monotonic (never goes back)", Aliases: []string{"mode"}},
	{Name: "snowflake-machine-ids", Type: core.TypeChoice, Choices: []string{"unique", "same"}, Default: "unique",
		Usage: "unique (one per node) or same (every node gets machine id 1, as when every container reads the same default from its environment)", Aliases: []string{"machine-ids"}},
}

// Register adds the snowflake target and its node program to r.
func Register(r *core.Registry) {
	r.AddTarget(core.TargetInfo{Name: "snowflake", Summary: "our 64-bit ID service (41-bit ms timestamp, 10-bit machine, 12-bit sequence)",
		Params: Params, Workloads: []string{"ids"}, Nemeses: []string{"clock", "kill", "pause", "aimed-rollback"}, New: New})
	r.AddScenario(RollbackScenario())
	r.AddScenario(SameMachineIDScenario())
	for _, row := range MatrixRows() {
		r.AddMatrixRow(row)
	}
	r.AddNode(core.NodeInfo{Name: "snowflake", Summary: "snowflake ID service node", Main: NodeMain})
}

// Target starts snowflake nodes and speaks to them over HTTP.
type Target struct {
	mode    Mode
	epoch   string
	sameIDs bool
	http    *http.Client
}

// New builds the target from its parameters.
func New(p core.Params) (core.Target, error) {
	mode, err := ParseMode(p.String("snowflake-mode", string(Naive)))
	if err != nil {
		return nil, fmt.Errorf("--%w", err)
	}
	epoch := p.String(idsworkload.EpochParam, ids.DefaultEpoch.Format(time.RFC3339))
	if _, err := time.Parse(time.RFC3339, epoch); err != nil {
		return nil, fmt.Errorf("--%s %q: want an RFC 3339 time such as 2020-01-01T00:00:00Z", idsworkload.EpochParam, epoch)
	}
	m, err := p.Choice("snowflake-machine-ids", "unique", "same")
	if err != nil {
		return nil, err
	}
	return &Target{mode: mode, epoch: epoch, sameIDs: m == "same",
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}}, nil
}

// Nodes gives node i machine id i (or 1 for all when misconfigured on
// purpose).
func (t *Target) Nodes(names []string, _ core.Params) ([]core.NodeSpec, error) {
	if len(names) > 1024 {
		return nil, fmt.Errorf("snowflake: %d nodes, but machine ids have 10 bits (at most 1024 nodes)", len(names))
	}
	specs := make([]core.NodeSpec, len(names))
	for i, name := range names {
		machine := i + 1
		if t.sameIDs || machine > 1023 {
			machine = 1
		}
		specs[i] = core.NodeSpec{
			Name: name, Kind: "snowflake", Ports: []string{"api", "control"}, Clock: core.ClockControl,
			Args: func(env core.NodeEnv) []string {
				return []string{"--listen", env.Listen("api"), "--control", env.Listen("control"),
					"--machine-id", strconv.Itoa(machine), "--mode", string(t.mode), "--epoch", t.epoch,
					"--data-dir", env.DataDir}
			},
			Ready: func(ctx context.Context, addr func(string) (string, error)) error {
				a, err := addr("api")
				if err != nil {
					return err
				}
				_, _, err = httpnode.Do(ctx, t.http, http.MethodGet, "http://"+a+"/health", "")
				return err
			},
		}
	}
	return specs, nil
}

// NewClient opens an ID client for one node.
func (t *Target) NewClient(_ context.Context, workload string, cfg core.ClientConfig) (core.Client, error) {
	if workload != "ids" {
		return nil, fmt.Errorf("snowflake runs the ids workload, not %s", workload)
	}
	a, err := cfg.Addr(cfg.Node, "api")
	if err != nil {
		return nil, err
	}
	return &idsworkload.HTTPClient{HTTP: t.http, URL: "http://" + a + "/id"}, nil
}
