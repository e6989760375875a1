package zookeeper

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-zookeeper/zk"

	idcheck "github.com/chaostest/chaos/checkers/ids"
	"github.com/chaostest/chaos/history"
)

// idPrefix is where the ids workload creates its sequential znodes; the ID
// is the sequence number ZooKeeper appends, taken from the parent's counter
// in the order the leader commits the creates.
const (
	idDir    = "/chaos/ids"
	idPrefix = idDir + "/id-"
)

// idClient issues IDs as persistent sequential znodes (the notes' scheme: a
// user may delete the znode afterwards; that does not change the counter,
// and the test leaves them, so the znodes stay as evidence).
type idClient struct {
	conn    *zk.Conn
	names   serverNames
	dirMade bool
}

func newIDClient(conn *zk.Conn, names serverNames) *idClient {
	return &idClient{conn: conn, names: names}
}

// Invoke creates one sequential znode. ok: its sequence number; fail: the
// create certainly did not happen (refused, or never sent); info: it may
// have been committed (a lost answer, a timeout, an expired session).
func (c *idClient) Invoke(ctx context.Context, op history.Op) history.Op {
	if op.F != idcheck.Generate {
		return done(op, history.Fail, nil, fmt.Errorf("ids client: unknown operation %q", op.F))
	}
	if err := waitSession(ctx, c.conn); err != nil {
		return done(op, history.Fail, nil, fmt.Errorf("not sent: %w", err))
	}
	if !c.dirMade {
		if err := ensurePath(ctx, c.conn, idDir); err != nil {
			return done(op, history.Fail, nil, fmt.Errorf("create %s: %w", idDir, err))
		}
		c.dirMade = true
	}
	path, err := call(ctx, func() (string, error) {
		return c.conn.Create(idPrefix, nil, zk.FlagSequence, zk.WorldACL(zk.PermAll))
	})
	if err != nil {
		if certainlyNotApplied(err) {
			return done(op, history.Fail, nil, err)
		}
		return done(op, history.Info, nil, err)
	}
	seq, err := sequenceOf(strings.TrimPrefix(path, idDir+"/"))
	if err != nil {
		return done(op, history.Info, nil, err)
	}
	return done(op, history.OK, history.Int(seq), nil)
}

// Close ends the session.
func (c *idClient) Close() error {
	c.conn.Close()
	return nil
}

// done completes op.
func done(op history.Op, t history.Type, v []byte, err error) history.Op {
	op.Type, op.Value = t, v
	if err != nil {
		op.Error = err.Error()
	}
	return op
}
