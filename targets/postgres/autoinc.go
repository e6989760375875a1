package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	idsworkload "github.com/chaostest/chaos/workloads/ids"
)

// AutoincName is the auto-increment target's registered name.
const AutoincName = "postgres-autoinc"

// AutoincParams are the auto-increment target's flags.
var AutoincParams = []core.Param{
	{Name: "postgres-autoinc-offsets", Type: core.TypeInt, List: true, Default: "",
		Usage: "postgres-autoinc: each server's first ID, comma-separated in node order (default 1,2,3,...: one offset per server)"},
	{Name: "postgres-autoinc-steps", Type: core.TypeInt, List: true, Default: "",
		Usage: "postgres-autoinc: each server's increment, comma-separated in node order, the last repeating (default: the number of servers)"},
	binParam,
}

// AutoincTarget is auto-increment over several independent PostgreSQL
// primaries: server i owns a sequence starting at its offset and stepping
// by its increment (offsets 1 and 2, step 2, for two: odd and even IDs).
// Nothing is shared between servers, so the IDs are unique exactly when
// the offsets and steps keep the servers' progressions apart.
type AutoincTarget struct {
	offsets, steps []int64
	bin            string
}

var _ core.Target = (*AutoincTarget)(nil)

// NewAutoinc builds the target from its parameters.
func NewAutoinc(p core.Params) (*AutoincTarget, error) {
	t := &AutoincTarget{}
	var err error
	if t.offsets, err = intList(p, "postgres-autoinc-offsets"); err != nil {
		return nil, err
	}
	if t.steps, err = intList(p, "postgres-autoinc-steps"); err != nil {
		return nil, err
	}
	for _, s := range t.steps {
		if s < 1 {
			return nil, fmt.Errorf("--postgres-autoinc-steps %d: an increment must be at least 1", s)
		}
	}
	for _, o := range t.offsets {
		if o < 1 {
			return nil, fmt.Errorf("--postgres-autoinc-offsets %d: a first ID must be at least 1", o)
		}
	}
	if t.bin, err = FindBin(p.String("postgres-bin", "")); err != nil {
		return nil, err
	}
	return t, nil
}

func intList(p core.Params, name string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(p.String(name, ""), ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: want whole numbers such as 1,2", name, p[name])
		}
		out = append(out, n)
	}
	return out, nil
}

// sequence returns node i's (from 0) first ID and increment among n.
func (t *AutoincTarget) sequence(i, n int) (start, step int64) {
	start, step = int64(i+1), int64(n)
	if i < len(t.offsets) {
		start = t.offsets[i]
	} else if len(t.offsets) > 0 {
		start = t.offsets[len(t.offsets)-1] + int64(i-len(t.offsets)+1)
	}
	if len(t.steps) > 0 {
		step = t.steps[min(i, len(t.steps)-1)]
	}
	return start, step
}

// Nodes is one independent server per name, each with its own sequence.
func (t *AutoincTarget) Nodes(names []string, _ core.Params) ([]core.NodeSpec, error) {
	if len(t.offsets) > len(names) {
		return nil, fmt.Errorf("--postgres-autoinc-offsets names %d offsets for %d servers", len(t.offsets), len(names))
	}
	specs := make([]core.NodeSpec, len(names))
	for i, name := range names {
		start, step := t.sequence(i, len(names))
		// CACHE 1: each nextval takes the next value from the shared
		// sequence, so one server's IDs grow in the order they are issued.
		ddl := fmt.Sprintf("CREATE SEQUENCE IF NOT EXISTS ids START %d INCREMENT %d MINVALUE 1 CACHE 1", start, step)
		specs[i] = serverSpec(name, t.bin, func(ctx context.Context, c *pgx.Conn) error { return execAll(ctx, c, ddl) })
	}
	return specs, nil
}

// NewClient opens an ID client on the worker's server.
func (t *AutoincTarget) NewClient(_ context.Context, workload string, cc core.ClientConfig) (core.Client, error) {
	if workload != "ids" {
		return nil, fmt.Errorf("%s runs the ids workload, not %s", AutoincName, workload)
	}
	a, err := cc.Addr(cc.Node, Port)
	if err != nil {
		return nil, err
	}
	return &sqlIDClient{addr: a, query: "SELECT nextval('ids')"}, nil
}

// sqlIDClient asks one server for IDs with one query.
type sqlIDClient struct {
	addr, query string
	conn        *pgx.Conn
}

// Invoke asks for one ID: fail when the server refused or nothing was
// sent, info when the answer was lost (the sequence may have moved).
func (c *sqlIDClient) Invoke(ctx context.Context, op history.Op) history.Op {
	if c.conn == nil || c.conn.IsClosed() {
		conn, err := connect(ctx, c.addr)
		if err != nil {
			op.Type, op.Error = history.Fail, "connect: "+err.Error()
			return op
		}
		c.conn = conn
	}
	var id int64
	if err := c.conn.QueryRow(ctx, c.query).Scan(&id); err != nil {
		c.Close()
		op.Type, op.Error = history.Info, err.Error()
		if certainlyNotApplied(err) {
			op.Type = history.Fail
		}
		return op
	}
	op.Type, op.Value = history.OK, history.Uint(uint64(id))
	return op
}

// Close closes the connection.
func (c *sqlIDClient) Close() error {
	if c.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c.conn.Close(ctx)
		cancel()
		c.conn = nil
	}
	return nil
}

// plainIDs are the ids workload's settings for IDs that are bare integers
// whose order each server keeps: no timestamp window.
var plainIDs = core.Params{idsworkload.LayoutParam: "counter", idsworkload.OrderParam: "node"}
