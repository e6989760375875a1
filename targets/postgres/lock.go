package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/workloads/lock"
)

// LockName is the row-lock target's registered name.
const LockName = "postgres-lock"

// LockParams are the row-lock target's flags.
var LockParams = []core.Param{
	{Name: "postgres-lock-expiry", Type: core.TypeBool, Default: "true",
		Usage: "postgres-lock: each lock row carries an expiry (now + --lock-ttl) after which others delete it and take the lock; false: a row stays until its holder deletes it"},
	{Name: "postgres-lock-fencing", Type: core.TypeBool, Default: "false",
		Usage: "postgres-lock: each grant carries a fencing token from a sequence, and the protected resource rejects writes with a stale one"},
	binParam,
}

// lockSchema is the notes' lock table: one row per held lock, the
// resource's name its primary key (the unique constraint that makes an
// insert the lock), the holder's id, a count for re-entrant acquires, the
// grant's fencing token from a sequence, and the expiry (NULL: none).
var lockSchema = []string{
	`CREATE TABLE IF NOT EXISTS locks (
		resource   text PRIMARY KEY,
		client     text NOT NULL,
		count      integer NOT NULL,
		fence      bigint NOT NULL,
		expires_at timestamptz)`,
	`CREATE SEQUENCE IF NOT EXISTS lock_fences`,
}

// LockTarget is the database row lock on one PostgreSQL server.
type LockTarget struct {
	expiry, fencing bool
	bin             string
	res             *lock.Resources
	pauses          *lock.Pauses
}

var _ core.Target = (*LockTarget)(nil)

// NewLock builds the row-lock target; pauses is the client-pause board
// (may be nil).
func NewLock(p core.Params, pauses *lock.Pauses) (*LockTarget, error) {
	t := &LockTarget{pauses: pauses}
	var err error
	if t.expiry, err = p.Bool("postgres-lock-expiry", true); err != nil {
		return nil, err
	}
	if t.fencing, err = p.Bool("postgres-lock-fencing", false); err != nil {
		return nil, err
	}
	if t.bin, err = FindBin(p.String("postgres-bin", "")); err != nil {
		return nil, err
	}
	t.res = lock.NewResources(t.fencing)
	return t, nil
}

// Nodes is one server holding the lock table.
func (t *LockTarget) Nodes(names []string, _ core.Params) ([]core.NodeSpec, error) {
	if len(names) != 1 {
		return nil, fmt.Errorf("%s keeps its lock table on one server: run it with --nodes 1, not %d", LockName, len(names))
	}
	return []core.NodeSpec{serverSpec(names[0], t.bin, func(ctx context.Context, c *pgx.Conn) error {
		return execAll(ctx, c, lockSchema...)
	})}, nil
}

// NewClient opens a lock client on the server.
func (t *LockTarget) NewClient(_ context.Context, workload string, cc core.ClientConfig) (core.Client, error) {
	if workload != "lock" && workload != "lock-set" {
		return nil, fmt.Errorf("%s runs the lock and lock-set workloads, not %s", LockName, workload)
	}
	a, err := cc.Addr(cc.Nodes[0], Port)
	if err != nil {
		return nil, err
	}
	l := &rowLocker{addr: a, node: cc.Nodes[0], client: fmt.Sprintf("%s-p%d", cc.Endpoint, cc.Process),
		expiry: t.expiry, fencing: t.fencing}
	return lock.NewClient(l, workload, cc.Endpoint, lock.WithResources(t.res), lock.WithPauses(t.pauses)), nil
}

// rowLocker takes locks by inserting rows into the lock table.
type rowLocker struct {
	addr, node, client string
	expiry, fencing    bool
	conn               *pgx.Conn
}

var _ lock.Locker = (*rowLocker)(nil)

func (l *rowLocker) db(ctx context.Context) (*pgx.Conn, error) {
	if l.conn != nil && !l.conn.IsClosed() {
		return l.conn, nil
	}
	c, err := connect(ctx, l.addr)
	if err != nil {
		return nil, err
	}
	l.conn = c
	return c, nil
}

// drop closes the connection after an error, so the next request starts on
// a fresh one.
func (l *rowLocker) drop() {
	if l.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		l.conn.Close(ctx)
		cancel()
		l.conn = nil
	}
}

// Acquire inserts the lock's row. With expiry it first deletes the row if
// its expiry has passed (by the database's clock), and the new row expires
// ttl after the insert. The row's holder may insert again: the count goes
// up (re-entrancy). The lock is taken exactly when a row comes back.
func (l *rowLocker) Acquire(ctx context.Context, key string, ttl time.Duration) (lock.Grant, error) {
	c, err := l.db(ctx)
	if err != nil {
		return lock.Grant{}, fmt.Errorf("%w: connect: %v", lock.ErrNotGranted, err)
	}
	if l.expiry {
		// Whatever happens to this delete, it grants nothing.
		if _, err := c.Exec(ctx, `DELETE FROM locks WHERE resource = $1 AND expires_at < clock_timestamp()`, key); err != nil {
			l.drop()
			return lock.Grant{}, fmt.Errorf("%w: delete an expired row: %v", lock.ErrNotGranted, err)
		}
	}
	var fence int64
	var count int
	if l.expiry {
		err = c.QueryRow(ctx, `INSERT INTO locks (resource, client, count, fence, expires_at)
			VALUES ($1, $2, 1, nextval('lock_fences'), clock_timestamp() + $3 * interval '1 microsecond')
			ON CONFLICT (resource) DO UPDATE SET count = locks.count + 1, expires_at = EXCLUDED.expires_at
			WHERE locks.client = EXCLUDED.client
			RETURNING fence, count`, key, l.client, ttl.Microseconds()).Scan(&fence, &count)
	} else {
		err = c.QueryRow(ctx, `INSERT INTO locks (resource, client, count, fence)
			VALUES ($1, $2, 1, nextval('lock_fences'))
			ON CONFLICT (resource) DO UPDATE SET count = locks.count + 1
			WHERE locks.client = EXCLUDED.client
			RETURNING fence, count`, key, l.client).Scan(&fence, &count)
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return lock.Grant{}, fmt.Errorf("%w: %s is held by another client", lock.ErrNotGranted, key)
	case err != nil && certainlyNotApplied(err):
		l.drop()
		return lock.Grant{}, fmt.Errorf("%w: %v", lock.ErrNotGranted, err)
	case err != nil:
		l.drop()
		return lock.Grant{}, fmt.Errorf("insert the lock row: %w", err)
	}
	g := lock.Grant{Token: l.client + "#" + strconv.FormatInt(fence, 10), Nodes: []string{l.node}}
	if l.expiry {
		// The row expires ttl after the insert ran, which is after this
		// call began: counted from here the validity can only be shorter.
		g.Validity = int64(ttl)
	}
	if l.fencing {
		g.Fence = &fence
	}
	return g, nil
}

// Release deletes the hold's row, or counts a re-entrant hold down. It is
// ErrNotHeld when the row is gone or belongs to another grant: the lock
// expired and was taken meanwhile.
func (l *rowLocker) Release(ctx context.Context, key string, g lock.Grant) ([]string, error) {
	_, f, ok := strings.Cut(g.Token, "#")
	fence, err := strconv.ParseInt(f, 10, 64)
	if !ok || err != nil {
		return nil, fmt.Errorf("%w: token %q is not one of this lock's", lock.ErrNotHeld, g.Token)
	}
	c, err := l.db(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	tag, err := c.Exec(ctx, `DELETE FROM locks WHERE resource = $1 AND client = $2 AND fence = $3 AND count <= 1`, key, l.client, fence)
	if err == nil && tag.RowsAffected() == 0 {
		tag, err = c.Exec(ctx, `UPDATE locks SET count = count - 1 WHERE resource = $1 AND client = $2 AND fence = $3 AND count > 1`, key, l.client, fence)
	}
	if err != nil {
		l.drop()
		return nil, fmt.Errorf("delete the lock row: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil, fmt.Errorf("%w: the row of %s is gone or another's (it expired)", lock.ErrNotHeld, key)
	}
	return []string{l.node}, nil
}

// Close closes the connection.
func (l *rowLocker) Close() error {
	l.drop()
	return nil
}
