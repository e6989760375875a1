// Package twopc is the two-phase commit target: our own coordinator
// (`chaos node twopc`) over independent PostgreSQL servers as participants,
// each holding some of the bank workload's accounts, using PREPARE
// TRANSACTION, COMMIT PREPARED and ROLLBACK PREPARED. The first node is the
// coordinator, the others are participants (`chaos node postgres` with
// max_prepared_transactions set). --twopc-log none keeps the coordinator's
// decisions in memory only; --twopc-log durable fsyncs each commit decision
// before any participant commits and, on every start, resolves what is left
// prepared. The twopc-coordinator-crash nemesis kills the coordinator
// between the two phases, at the point a test hook names.
package twopc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	bankcheck "github.com/chaostest/chaos/checkers/bank"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/internal/httpnode"
	"github.com/chaostest/chaos/targets/postgres"
	"github.com/chaostest/chaos/workloads/bank"
)

// Name is the target's registered name, and the coordinator's node kind.
const Name = "twopc"

// Ports of the coordinator.
const (
	PortAPI     = "api"
	PortControl = "control"
)

// Params are the target's flags.
var Params = []core.Param{
	{Name: "twopc-log", Type: core.TypeChoice, Choices: []string{LogDurable, LogNone}, Default: LogDurable,
		Usage: "twopc: the coordinator's log: durable (commit decisions fsynced, recovery on restart) or none (decisions in memory only)"},
	{Name: "twopc-postgres-bin", Default: "", Usage: "twopc: directory of the participants' initdb and postgres; empty: the newest under /usr/lib/postgresql"},
}

// Register adds the target, the coordinator's node program, the
// coordinator-crash nemesis and the scenarios to r. The participants are
// `chaos node postgres`: register postgres.Register too.
func Register(r *core.Registry) {
	// No pause: every PostgreSQL backend calls setsid(), so stopping a
	// participant's process group freezes its postmaster but not the
	// sessions the coordinator already holds (see Unanswered).
	r.AddTarget(core.TargetInfo{Name: Name,
		Summary: "our two-phase commit coordinator over PostgreSQL participants (PREPARE TRANSACTION); bank transfers across them",
		Params:  Params, Workloads: []string{bank.Name},
		Nemeses: []string{"kill", "partition", CrashName, UnansweredName}, New: New})
	r.AddNode(core.NodeInfo{Name: Name, Summary: "the two-phase commit coordinator over PostgreSQL participants", Main: CoordinatorMain})
	r.AddNemesis(core.NemesisInfo{Name: CrashName,
		Summary: "twopc: kill the coordinator between prepare and commit (after it prepared on every participant and committed on some), then restart it",
		Params:  CrashParams, New: NewCrash})
	r.AddNemesis(core.NemesisInfo{Name: UnansweredName,
		Summary: "twopc: the last participant's answers to the coordinator are lost just as a transfer sends it PREPARE; healed after the coordinator gave up",
		Params:  UnansweredParams, New: NewUnanswered})
	for _, s := range scenarios() {
		r.AddScenario(s)
	}
}

// Target starts a coordinator and its PostgreSQL participants.
type Target struct {
	logMode string
	bin     string
}

var _ core.Target = (*Target)(nil)

// New builds the target from its parameters.
func New(p core.Params) (core.Target, error) {
	mode, err := p.Choice("twopc-log", LogDurable, LogNone)
	if err != nil {
		return nil, err
	}
	bin, err := postgres.FindBin(p.String("twopc-postgres-bin", ""))
	if err != nil {
		return nil, err
	}
	return &Target{logMode: mode, bin: bin}, nil
}

// Nodes describes the coordinator (the first name) and the participants.
func (t *Target) Nodes(names []string, p core.Params) ([]core.NodeSpec, error) {
	if len(names) < 2 {
		return nil, errors.New("twopc needs at least 2 nodes: a coordinator and a participant (3 for transfers across participants)")
	}
	accounts, err := p.Int("bank-accounts", 4)
	if err != nil {
		return nil, err
	}
	balance, err := p.Int("bank-balance", 100)
	if err != nil {
		return nil, err
	}
	coord, parts := names[0], names[1:]
	specs := []core.NodeSpec{{
		Name: coord, Kind: Name, Ports: []string{PortAPI, PortControl},
		Args: func(env core.NodeEnv) []string {
			var ps []string
			for _, n := range parts {
				ps = append(ps, n+"="+env.Peer(n, postgres.Port))
			}
			return []string{"--listen", env.Listen(PortAPI), "--control", env.Listen(PortControl), "--data-dir", env.DataDir,
				"--log", t.logMode, "--participants", strings.Join(ps, ","),
				"--accounts", strconv.Itoa(accounts), "--balance", strconv.Itoa(balance)}
		},
		Ready: func(ctx context.Context, addr func(string) (string, error)) error {
			a, err := addr(PortAPI)
			if err != nil {
				return err
			}
			code, body, err := httpnode.Do(ctx, http.DefaultClient, http.MethodGet, "http://"+a+"/health", "")
			if err != nil {
				return err
			}
			if code != http.StatusOK {
				return fmt.Errorf("health: %d %s", code, body)
			}
			return nil
		},
	}}
	for _, n := range parts {
		specs = append(specs, core.NodeSpec{
			Name: n, Kind: postgres.Name, Ports: []string{postgres.Port},
			Args: func(env core.NodeEnv) []string {
				return []string{"--bin", t.bin, "--listen", env.Listen(postgres.Port), "--data-dir", env.DataDir,
					"--max-prepared-transactions", "64"}
			},
			Ready: func(ctx context.Context, addr func(string) (string, error)) error {
				a, err := addr(postgres.Port)
				if err != nil {
					return err
				}
				c, err := connect(ctx, a)
				if err != nil {
					return err
				}
				defer c.Close(context.Background())
				_, err = c.Exec(ctx, "SELECT 1")
				return err
			},
		})
	}
	return specs, nil
}

func connect(ctx context.Context, addr string) (*pgx.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%s user=postgres dbname=postgres sslmode=disable connect_timeout=5", host, port))
	if err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// NewClient opens a bank client: transfers and reads go to the
// coordinator, the final state is read from each participant directly.
func (t *Target) NewClient(_ context.Context, workload string, cfg core.ClientConfig) (core.Client, error) {
	if workload != bank.Name {
		return nil, fmt.Errorf("twopc runs the %s workload, not %s", bank.Name, workload)
	}
	if len(cfg.Nodes) < 2 {
		return nil, errors.New("twopc: no participants")
	}
	api, err := cfg.Addr(cfg.Nodes[0], PortAPI)
	if err != nil {
		return nil, err
	}
	c := &client{api: "http://" + api, http: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	for _, n := range cfg.Nodes[1:] {
		a, err := cfg.Addr(n, postgres.Port)
		if err != nil {
			return nil, err
		}
		c.parts = append(c.parts, participantAddr{n, a})
	}
	return c, nil
}

type client struct {
	api   string
	http  *http.Client
	parts []participantAddr
}

// Invoke performs one bank op. A transfer is ok on 200, fail on 409 (the
// coordinator aborted it before any participant committed) or when the
// request never reached the coordinator, and info otherwise. A read or the
// final state changes nothing, so any error there is fail.
func (c *client) Invoke(ctx context.Context, op history.Op) history.Op {
	switch op.F {
	case bankcheck.FTransfer:
		code, body, err := httpnode.Do(ctx, c.http, http.MethodPost, c.api+"/transfer", string(op.Value))
		switch {
		case err != nil && httpnode.IsDialError(err):
			op.Type, op.Error = history.Fail, err.Error()
		case err != nil:
			op.Type, op.Error = history.Info, err.Error()
		case code == http.StatusOK:
			op.Type = history.OK
		case code == http.StatusConflict:
			op.Type, op.Error = history.Fail, body
		default:
			op.Type, op.Error = history.Info, fmt.Sprintf("%d %s", code, body)
		}
		return op
	case bankcheck.FRead:
		b, err := c.read(ctx)
		if err != nil {
			op.Type, op.Error = history.Fail, err.Error()
			return op
		}
		op.Type, op.Value = history.OK, b
		return op
	case bankcheck.FFinal:
		f, err := c.final(ctx)
		if err != nil {
			op.Type, op.Error = history.Fail, err.Error()
			return op
		}
		op.Type, op.Value = history.OK, history.JSON(f)
		return op
	}
	op.Type, op.Error = history.Fail, "unknown operation "+op.F
	return op
}

func (c *client) read(ctx context.Context) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.api+"/read", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var bal map[int]int64
	if err := json.Unmarshal(b, &bal); err != nil {
		return nil, fmt.Errorf("read answer %q: %w", b, err)
	}
	return history.JSON(bal), nil
}

// final waits for the coordinator's recovery to have run once more, then
// reads each participant's balances, ledger and prepared transactions as
// they are, resolving nothing itself.
func (c *client) final(ctx context.Context) (bankcheck.Final, error) {
	var f bankcheck.Final
	for {
		code, body, err := httpnode.Do(ctx, c.http, http.MethodPost, c.api+"/recover", "")
		if err == nil && code == http.StatusOK {
			break
		}
		if ctx.Err() != nil {
			return f, fmt.Errorf("the coordinator did not recover: %d %s %v", code, body, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	for _, p := range c.parts {
		st, err := participantState(ctx, p)
		if err != nil {
			return f, fmt.Errorf("%s: %w", p.name, err)
		}
		f.Participants = append(f.Participants, st)
	}
	return f, nil
}

func participantState(ctx context.Context, p participantAddr) (bankcheck.Participant, error) {
	st := bankcheck.Participant{Name: p.name, Balances: map[int]int64{}, Committed: []int64{}, Prepared: []int64{}}
	conn, err := connect(ctx, p.addr)
	if err != nil {
		return st, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "SELECT id, balance FROM accounts ORDER BY id")
	if err != nil {
		return st, err
	}
	for rows.Next() {
		var id, b int64
		if err := rows.Scan(&id, &b); err != nil {
			rows.Close()
			return st, err
		}
		st.Balances[int(id)] = b
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, err
	}
	rows, err = conn.Query(ctx, "SELECT id FROM ledger ORDER BY id")
	if err != nil {
		return st, err
	}
	if st.Committed, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
		return st, err
	}
	rows, err = conn.Query(ctx, "SELECT gid FROM pg_prepared_xacts WHERE gid LIKE '"+GIDPrefix+"%'")
	if err != nil {
		return st, err
	}
	gids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return st, err
	}
	for _, g := range gids {
		id, err := strconv.ParseInt(strings.TrimPrefix(g, GIDPrefix), 10, 64)
		if err != nil {
			return st, fmt.Errorf("prepared transaction %q: not one of ours", g)
		}
		st.Prepared = append(st.Prepared, id)
	}
	sort.Slice(st.Prepared, func(i, j int) bool { return st.Prepared[i] < st.Prepared[j] })
	return st, nil
}

// Close closes idle HTTP connections.
func (c *client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}
