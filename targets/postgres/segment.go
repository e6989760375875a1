package postgres

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/internal/httpnode"
	idsworkload "github.com/chaostest/chaos/workloads/ids"
)

// SegmentName is the segment-allocation target's registered name, and
// SegmentNode the name of its ID server program (`chaos node segment`).
const (
	SegmentName = "postgres-segment"
	SegmentNode = "segment"
)

// SegmentParams are the segment target's flags.
var SegmentParams = []core.Param{
	{Name: "postgres-segment-step", Type: core.TypeInt, Default: "100",
		Usage: "postgres-segment: how many IDs a server leases from the database at a time"},
	{Name: "postgres-segment-standby", Type: core.TypeChoice, Choices: []string{"none", "async", "sync"}, Default: "none",
		Usage: "postgres-segment: none (the database is one server, n1), or n2 is a streaming standby of it, asynchronous or synchronous (a lease commits once the standby has it); ID servers follow whichever is not in recovery"},
	binParam,
}

// segmentSchema is the database side: one row per ID space, holding the
// largest ID leased so far.
var segmentSchema = []string{
	`CREATE TABLE IF NOT EXISTS segments (name text PRIMARY KEY, max bigint NOT NULL)`,
	`INSERT INTO segments (name, max) VALUES ('ids', 0) ON CONFLICT (name) DO NOTHING`,
}

// segmentFlags are the flags of `chaos node segment`.
type segmentFlags struct {
	listen string
	dbs    []string
	name   string
	step   int64
}

func parseSegmentFlags(args []string) (segmentFlags, error) {
	var f segmentFlags
	var dbs string
	fs := flag.NewFlagSet("chaos node segment", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:0", "address of the ID API")
	fs.StringVar(&dbs, "db", "", "addresses of the database's servers, comma-separated; leases go to the one that is not in recovery")
	fs.StringVar(&f.name, "name", "ids", "the ID space's row in the segments table")
	fs.Int64Var(&f.step, "step", 100, "how many IDs one lease covers")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, d := range strings.Split(dbs, ",") {
		if d = strings.TrimSpace(d); d != "" {
			f.dbs = append(f.dbs, d)
		}
	}
	if len(f.dbs) == 0 {
		return f, errors.New("--db: name the database's address")
	}
	if f.step < 1 {
		return f, fmt.Errorf("--step %d: must be at least 1", f.step)
	}
	return f, nil
}

// segmentServer hands out IDs from the range it leased last, and leases
// the next when that is used up. The range lives only in memory: a server
// that dies loses what was left of it, and the next lease, taken by
// moving the row's max on, never overlaps any range leased before.
type segmentServer struct {
	f segmentFlags

	mu       sync.Mutex
	conn     *pgx.Conn
	next, hi int64 // next ID to issue and the last of the range; next > hi: none left
}

// SegmentMain runs `chaos node segment` until ctx ends: GET /id issues an
// ID (503 with the reason when no range could be leased), GET /health
// answers once the server serves.
func SegmentMain(ctx context.Context, args []string) error {
	f, err := parseSegmentFlags(args)
	if err != nil {
		return err
	}
	s := &segmentServer{f: f, next: 1, hi: 0}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /id", func(w http.ResponseWriter, r *http.Request) {
		id, err := s.issue(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, id)
	})
	defer s.close()
	return httpnode.Serve(ctx, httpnode.Listener{Addr: f.listen, Handler: mux})
}

// issue returns the next ID of the current range, leasing a new range
// first when it is used up. An ID is handed out only from a range whose
// lease the database acknowledged.
func (s *segmentServer) issue(ctx context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next > s.hi {
		hi, err := s.lease(ctx)
		if err != nil {
			return 0, err
		}
		s.next, s.hi = hi-s.f.step+1, hi
	}
	id := s.next
	s.next++
	return id, nil
}

// lease moves the row's max on by one step and returns the new max: the
// range (max-step, max] is this server's.
func (s *segmentServer) lease(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if s.conn == nil || s.conn.IsClosed() {
		c, err := s.primary(ctx)
		if err != nil {
			return 0, err
		}
		s.conn = c
	}
	var hi int64
	err := s.conn.QueryRow(ctx, `UPDATE segments SET max = max + $1 WHERE name = $2 RETURNING max`, s.f.step, s.f.name).Scan(&hi)
	if err != nil {
		s.close()
		// Whether or not the row moved, nothing is issued from a lease
		// that was not acknowledged; a lost one is a gap, never a reuse.
		return 0, fmt.Errorf("lease a range: %w", err)
	}
	return hi, nil
}

// primary connects to a database server that is not in recovery, asking
// all of them at once and taking the first to answer as a primary. One at a
// time, a dead primary whose address no longer answers (a stopped
// container: no refusal, the connect hangs) would use up every lease's
// time before the promoted standby is asked, and the ID server would never
// fail over.
func (s *segmentServer) primary(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		addr string
		conn *pgx.Conn
		err  error
	}
	answers := make(chan answer, len(s.f.dbs))
	for _, a := range s.f.dbs {
		go func() {
			c, err := connect(ctx, a)
			if err != nil {
				answers <- answer{a, nil, err}
				return
			}
			var standby bool
			if err = c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&standby); err != nil || standby {
				c.Close(context.WithoutCancel(ctx))
				answers <- answer{a, nil, err}
				return
			}
			answers <- answer{a, c, nil}
		}()
	}
	var found *pgx.Conn
	var errs []error
	for range s.f.dbs {
		ans := <-answers
		switch {
		case ans.conn != nil && found == nil:
			found = ans.conn
			cancel() // the others need not finish
		case ans.conn != nil:
			ans.conn.Close(context.WithoutCancel(ctx))
		case ans.err != nil && found == nil:
			errs = append(errs, fmt.Errorf("%s: %w", ans.addr, ans.err))
		}
	}
	if found != nil {
		return found, nil
	}
	return nil, fmt.Errorf("no primary among %s: %w", strings.Join(s.f.dbs, ","), errors.Join(errs...))
}

func (s *segmentServer) close() {
	if s.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.conn.Close(ctx)
		cancel()
		s.conn = nil
	}
}

// SegmentTarget is segment allocation: the first node is the PostgreSQL
// server holding the segments row, every other node an ID server
// (`chaos node segment`) leasing ranges from it. Clients talk to the ID
// servers only.
type SegmentTarget struct {
	step    int64
	standby string
	bin     string
	http    *http.Client
}

var (
	_ core.Target      = (*SegmentTarget)(nil)
	_ core.ClientNoder = (*SegmentTarget)(nil)
)

// NewSegment builds the target from its parameters.
func NewSegment(p core.Params) (*SegmentTarget, error) {
	step, err := p.Int("postgres-segment-step", 100)
	if err != nil {
		return nil, err
	}
	if step < 1 {
		return nil, fmt.Errorf("--postgres-segment-step %d: must be at least 1", step)
	}
	standby, err := p.Choice("postgres-segment-standby", "none", "async", "sync")
	if err != nil {
		return nil, err
	}
	bin, err := FindBin(p.String("postgres-bin", ""))
	if err != nil {
		return nil, err
	}
	return &SegmentTarget{step: int64(step), standby: standby, bin: bin,
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}}, nil
}

// Nodes is the database on the first name and an ID server on each other.
func (t *SegmentTarget) Nodes(names []string, _ core.Params) ([]core.NodeSpec, error) {
	dbs := 1
	if t.standby != "none" {
		dbs = 2
	}
	if len(names) < dbs+1 {
		return nil, fmt.Errorf("%s needs %d database servers and at least one ID server: --nodes %d or more, not %d", SegmentName, dbs, dbs+1, len(names))
	}
	var specs []core.NodeSpec
	if dbs == 1 {
		specs = append(specs, serverSpec(names[0], t.bin, func(ctx context.Context, c *pgx.Conn) error {
			return execAll(ctx, c, segmentSchema...)
		}))
	} else {
		// A primary and its streaming standby, as the postgres target
		// runs them; the primary is ready once it holds the segments row.
		sync := map[string]string{"async": "off", "sync": "on"}[t.standby]
		pair, err := (&Target{isolation: "serializable", sync: sync, bin: t.bin, hostFiles: HostFiles(t.bin)}).Nodes(names[:2], nil)
		if err != nil {
			return nil, err
		}
		ready := pair[0].Ready
		pair[0].Ready = func(ctx context.Context, addr func(string) (string, error)) error {
			if err := ready(ctx, addr); err != nil {
				return err
			}
			a, err := addr(Port)
			if err != nil {
				return err
			}
			c, err := connect(ctx, a)
			if err != nil {
				return err
			}
			defer c.Close(context.WithoutCancel(ctx))
			return execAll(ctx, c, segmentSchema...)
		}
		specs = append(specs, pair...)
	}
	db := names[:dbs]
	for _, name := range names[dbs:] {
		specs = append(specs, core.NodeSpec{
			Name: name, Kind: SegmentNode, Ports: []string{"api"},
			Args: func(env core.NodeEnv) []string {
				var addrs []string
				for _, d := range db {
					addrs = append(addrs, env.Peer(d, Port))
				}
				return []string{"--listen", env.Listen("api"), "--db", strings.Join(addrs, ","), "--step", strconv.FormatInt(t.step, 10)}
			},
			Ready: func(ctx context.Context, addr func(string) (string, error)) error {
				a, err := addr("api")
				if err != nil {
					return err
				}
				_, _, err = httpnode.Do(ctx, t.http, http.MethodGet, "http://"+a+"/health", "")
				return err
			},
		})
	}
	return specs, nil
}

// ClientNodes are the ID servers: no client talks to the database.
func (t *SegmentTarget) ClientNodes(nodes []string) []string {
	dbs := t.databases()
	if len(nodes) <= dbs {
		return nodes
	}
	return nodes[dbs:]
}

// databases is how many of the first nodes are database servers.
func (t *SegmentTarget) databases() int {
	if t.standby != "none" {
		return 2
	}
	return 1
}

// NewClient opens an ID client on the worker's ID server.
func (t *SegmentTarget) NewClient(_ context.Context, workload string, cc core.ClientConfig) (core.Client, error) {
	if workload != "ids" {
		return nil, fmt.Errorf("%s runs the ids workload, not %s", SegmentName, workload)
	}
	for _, db := range cc.Nodes[:min(t.databases(), len(cc.Nodes))] {
		if cc.Node == db {
			return nil, fmt.Errorf("%s: %s is a database server, not an ID server", SegmentName, cc.Node)
		}
	}
	a, err := cc.Addr(cc.Node, "api")
	if err != nil {
		return nil, err
	}
	return &idsworkload.HTTPClient{HTTP: t.http, URL: "http://" + a + "/id"}, nil
}
