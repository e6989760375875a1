// Package postgres is the PostgreSQL target: real PostgreSQL servers from
// the system's packages, started by the harness (never as a system
// service), each in the node's own directory. The first node is the
// primary; the others are streaming standbys copied from it with
// pg_basebackup, asynchronous or synchronous (--postgres-sync). Clients run
// the list-append and rw-register workloads against the primary, each transaction at the
// isolation level --postgres-isolation names.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/txn"
)

// Name is the target's registered name.
const Name = "postgres"

// Port is the name of the node's SQL port.
const Port = "sql"

// Params are the target's flags.
var Params = []core.Param{
	{Name: "postgres-isolation", Default: "serializable", Usage: "postgres: isolation of every transaction: read-committed, repeatable-read or serializable"},
	{Name: "postgres-sync", Default: "off", Usage: "postgres: standbys asynchronous (off), or a commit waits for one standby to flush (on) or apply (remote_apply)"},
	{Name: "postgres-commit-cancel", Type: core.TypeDuration, Default: "0s", Usage: "postgres: a client cancels a COMMIT still waiting after this long (a CancelRequest, as pgx sends when a context ends); 0: never"},
	{Name: "postgres-bin", Default: "", Usage: "postgres: directory of initdb, postgres and pg_basebackup; empty: the newest under /usr/lib/postgresql"},
}

// Register adds the target and its node program to r.
func Register(r *core.Registry) {
	r.AddTarget(core.TargetInfo{Name: Name,
		Summary: "PostgreSQL primary with streaming standbys; transactions at a chosen isolation level",
		Params:  Params, Workloads: []string{txn.ListAppend, txn.RWRegister}, Nemeses: []string{"kill", "pause", "partition", FailoverName}, New: New})
	r.AddNode(core.NodeInfo{Name: Name, Summary: "one PostgreSQL server (primary or standby)", Main: NodeMain})
	r.AddNemesis(core.NemesisInfo{Name: FailoverName,
		Summary: "postgres: cut the primary from its standbys; once it has acknowledged appends made after the cut (with synchronous standbys: once every client waits on one; or 6 s on), kill it and promote the first standby (event-triggered)",
		New: func(p core.Params) (core.Nemesis, error) {
			sync, err := p.Choice("postgres-sync", "off", "on", "remote_apply")
			if err != nil {
				return nil, err
			}
			cancel, err := p.Duration("postgres-commit-cancel", 0)
			if err != nil {
				return nil, err
			}
			a := newAimedFailover(sync != "off")
			a.cancelAimed = sync != "off" && cancel > 0
			return a, nil
		}})
	for _, s := range scenarios() {
		r.AddScenario(s)
	}
	registerLocksAndIDs(r)
}

// Target starts PostgreSQL nodes.
type Target struct {
	isolation    string
	sync         string
	bin          string
	hostFiles    []string
	commitCancel time.Duration
}

var _ core.Target = (*Target)(nil)

// New builds the target from its parameters.
func New(p core.Params) (core.Target, error) {
	iso, err := p.Choice("postgres-isolation", "serializable", "repeatable-read", "read-committed")
	if err != nil {
		return nil, err
	}
	sync, err := p.Choice("postgres-sync", "off", "on", "remote_apply")
	if err != nil {
		return nil, err
	}
	bin, err := FindBin(p.String("postgres-bin", ""))
	if err != nil {
		return nil, err
	}
	cancel, err := p.Duration("postgres-commit-cancel", 0)
	if err != nil {
		return nil, err
	}
	if cancel < 0 {
		return nil, fmt.Errorf("--postgres-commit-cancel %s: want 0 (never) or a positive duration", cancel)
	}
	return &Target{isolation: iso, sync: sync, bin: bin, hostFiles: HostFiles(bin), commitCancel: cancel}, nil
}

// HostFiles are what a PostgreSQL node needs in an image built from
// scratch (the Docker runtime) beside our own binary: the server programs,
// their loadable modules (without the JIT, which would drag in LLVM), the
// share files initdb reads, the time zones, and the shell initdb runs the
// bootstrap server through. The runtime adds the shared libraries.
func HostFiles(bin string) []string {
	files := []string{bin}
	lib := filepath.Join(filepath.Dir(bin), "lib")
	if ents, err := os.ReadDir(lib); err == nil {
		for _, e := range ents {
			if e.IsDir() || strings.HasPrefix(e.Name(), "llvmjit") {
				continue
			}
			files = append(files, filepath.Join(lib, e.Name()))
		}
	}
	// Debian's layout: /usr/lib/postgresql/15/bin and /usr/share/postgresql/15.
	version := filepath.Base(filepath.Dir(bin))
	for _, d := range []string{filepath.Join("/usr/share/postgresql", version), filepath.Join(filepath.Dir(bin), "share"),
		"/usr/share/zoneinfo", "/bin/sh"} {
		if _, err := os.Stat(d); err == nil {
			files = append(files, d)
		}
	}
	return files
}

// Nodes describes the primary (the first name) and its standbys.
func (t *Target) Nodes(names []string, _ core.Params) ([]core.NodeSpec, error) {
	if len(names) == 0 {
		return nil, errors.New("postgres needs at least one node")
	}
	primary := names[0]
	specs := make([]core.NodeSpec, len(names))
	for i, name := range names {
		isPrimary := name == primary
		specs[i] = core.NodeSpec{
			Name: name, Kind: Name, Ports: []string{Port}, HostFiles: t.hostFiles,
			Args: func(env core.NodeEnv) []string {
				args := []string{"--bin", t.bin, "--listen", env.Listen(Port), "--data-dir", env.DataDir,
					"--sync", t.sync, "--standbys", strconv.Itoa(len(names) - 1)}
				if !isPrimary {
					args = append(args, "--primary", env.Peer(primary, Port))
				}
				return args
			},
			Ready: func(ctx context.Context, addr func(string) (string, error)) error {
				a, err := addr(Port)
				if err != nil {
					return err
				}
				c, err := connect(ctx, a)
				if err != nil {
					return err
				}
				defer c.Close(context.Background())
				if !isPrimary {
					_, err = c.Exec(ctx, "SELECT 1")
					return err
				}
				// The primary is ready once the workloads' tables exist.
				if _, err = c.Exec(ctx, "CREATE TABLE IF NOT EXISTS lists (k bigint PRIMARY KEY, v text NOT NULL)"); err != nil {
					return err
				}
				_, err = c.Exec(ctx, "CREATE TABLE IF NOT EXISTS registers (k bigint PRIMARY KEY, v bigint NOT NULL)")
				return err
			},
		}
	}
	return specs, nil
}

func connect(ctx context.Context, addr string, opts ...func(*pgx.ConnConfig)) (*pgx.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%s user=postgres dbname=postgres sslmode=disable connect_timeout=5", host, port))
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o(cfg)
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// NewClient opens a list-append or rw-register client on the primary.
func (t *Target) NewClient(_ context.Context, workload string, cfg core.ClientConfig) (core.Client, error) {
	if workload != txn.ListAppend && workload != txn.RWRegister {
		return nil, fmt.Errorf("postgres runs the %s and %s workloads, not %s", txn.ListAppend, txn.RWRegister, workload)
	}
	if len(cfg.Nodes) == 0 {
		return nil, errors.New("postgres: no nodes")
	}
	c := &client{isolation: t.isolation, registers: workload == txn.RWRegister, commitCancel: t.commitCancel}
	for _, n := range cfg.Nodes {
		a, err := cfg.Addr(n, Port)
		if err != nil {
			return nil, err
		}
		c.addrs = append(c.addrs, a)
	}
	return c, nil
}

// client runs list-append or rw-register transactions over one connection
// to the primary,
// opened again after any error that may have broken it. The primary is the
// first node that is not in recovery, so after a failover the client follows
// the promoted standby.
type client struct {
	addrs     []string
	isolation string
	registers bool // rw-register: reads are of the registers table
	conn      *pgx.Conn
	// commitCancel: a COMMIT still unanswered after this long is cancelled
	// (0: never). notice is the last notice the server sent on conn; the
	// answer to a cancelled wait for a synchronous standby is one.
	commitCancel time.Duration
	notice       string
}

// connectPrimary opens a connection to the current primary.
func (c *client) connectPrimary(ctx context.Context) (*pgx.Conn, error) {
	var errs []error
	onNotice := func(cfg *pgx.ConnConfig) {
		cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { c.notice = n.Message + " " + n.Detail }
	}
	for _, a := range c.addrs {
		conn, err := connect(ctx, a, onNotice)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var standby bool
		if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&standby); err != nil || standby {
			conn.Close(context.WithoutCancel(ctx))
			if err != nil {
				errs = append(errs, err)
			}
			continue
		}
		return conn, nil
	}
	return nil, fmt.Errorf("no primary among %d nodes: %w", len(c.addrs), errors.Join(errs...))
}

// Invoke runs one transaction. The outcome follows from how far it got:
// anything that goes wrong before COMMIT is sent leaves the transaction
// uncommitted (the server rolls it back, also when the connection drops), so
// it is fail; an error from COMMIT itself that PostgreSQL reports as an
// abort (a serialization failure) is fail too; a COMMIT whose answer never
// came is info.
func (c *client) Invoke(ctx context.Context, op history.Op) history.Op {
	var mops [][3]any
	if err := op.DecodeValue(&mops); err != nil {
		op.Type, op.Error = history.Fail, "bad transaction value: "+err.Error()
		return op
	}
	if c.conn == nil || c.conn.IsClosed() {
		conn, err := c.connectPrimary(ctx)
		if err != nil {
			op.Type, op.Error = history.Fail, "connect: "+err.Error()
			return op
		}
		c.conn = conn
	}
	fail := func(err error) history.Op {
		c.drop()
		op.Type, op.Error = history.Fail, err.Error()
		return op
	}
	level := strings.ToUpper(strings.ReplaceAll(c.isolation, "-", " "))
	if _, err := c.conn.Exec(ctx, "BEGIN ISOLATION LEVEL "+level); err != nil {
		return fail(err)
	}
	for i := range mops {
		k, err1 := asInt(mops[i][1])
		if err1 != nil {
			return fail(err1)
		}
		switch mops[i][0] {
		case "append":
			v, err := asInt(mops[i][2])
			if err != nil {
				return fail(err)
			}
			s := strconv.FormatInt(v, 10)
			if _, err := c.conn.Exec(ctx, "INSERT INTO lists AS l (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = l.v || ',' || $2", k, s); err != nil {
				return fail(err)
			}
		case "w":
			v, err := asInt(mops[i][2])
			if err != nil {
				return fail(err)
			}
			if _, err := c.conn.Exec(ctx, "INSERT INTO registers AS r (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v", k, v); err != nil {
				return fail(err)
			}
		case "r":
			if c.registers {
				var v int64
				err := c.conn.QueryRow(ctx, "SELECT v FROM registers WHERE k = $1", k).Scan(&v)
				switch {
				case errors.Is(err, pgx.ErrNoRows):
					mops[i][2] = nil
				case err != nil:
					return fail(err)
				default:
					mops[i][2] = v
				}
				continue
			}
			var v string
			err := c.conn.QueryRow(ctx, "SELECT v FROM lists WHERE k = $1", k).Scan(&v)
			if errors.Is(err, pgx.ErrNoRows) {
				v, err = "", nil
			}
			if err != nil {
				return fail(err)
			}
			l, err := parseList(v)
			if err != nil {
				return fail(err)
			}
			mops[i][2] = l
		default:
			return fail(fmt.Errorf("unknown micro-operation %v", mops[i][0]))
		}
	}
	tag, err := c.commit(ctx)
	if err == nil && tag.String() == "COMMIT" && strings.Contains(c.notice, "synchronous replication") {
		// The cancel ended the wait for the standby: PostgreSQL has
		// committed locally and shows the commit to others, but says the
		// standby may lack it. Whether it survives a failover is unknown.
		op.Type, op.Error = history.Info, "commit: "+c.notice
		return op
	}
	if err == nil && tag.String() != "COMMIT" {
		// PostgreSQL answers a COMMIT of a failed transaction with ROLLBACK.
		return fail(fmt.Errorf("commit answered %q", tag.String()))
	}
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			// The server answered: the transaction did not commit.
			return fail(err)
		}
		c.drop()
		op.Type, op.Error = history.Info, "commit: "+err.Error()
		return op
	}
	op.Type, op.Value = history.OK, history.JSON(mops)
	return op
}

// commit sends COMMIT and, with commitCancel set, cancels it once it has
// waited that long, as pgx does when a context ends: PostgreSQL then stops
// waiting for a synchronous standby and answers COMMIT with a warning.
func (c *client) commit(ctx context.Context) (pgconn.CommandTag, error) {
	c.notice = ""
	if c.commitCancel <= 0 {
		return c.conn.Exec(ctx, "COMMIT")
	}
	pg := c.conn.PgConn()
	stop, sent := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sent)
		select {
		case <-stop:
		case <-time.After(c.commitCancel):
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = pg.CancelRequest(cctx) // a lost cancel leaves the COMMIT waiting, as without one
			cancel()
		}
	}()
	tag, err := c.conn.Exec(ctx, "COMMIT")
	close(stop)
	<-sent // no cancel may reach the connection's next statement
	return tag, err
}

// drop closes the connection after an error, so the next transaction starts
// on a fresh one rather than inside a broken or aborted one.
func (c *client) drop() {
	if c.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c.conn.Close(ctx)
		cancel()
		c.conn = nil
	}
}

// Close closes the connection.
func (c *client) Close() error {
	c.drop()
	return nil
}

func asInt(v any) (int64, error) {
	switch n := v.(type) {
	case float64:
		if n != float64(int64(n)) {
			return 0, fmt.Errorf("%v is not a whole number", v)
		}
		return int64(n), nil
	case int64:
		return n, nil
	case int:
		return int64(n), nil
	}
	return 0, fmt.Errorf("%v is not a whole number", v)
}

func parseList(s string) ([]int64, error) {
	out := []int64{}
	if s == "" {
		return out, nil
	}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("stored list %q: %w", s, err)
		}
		out = append(out, n)
	}
	return out, nil
}
