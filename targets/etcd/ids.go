package etcd

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	idcheck "github.com/chaostest/chaos/checkers/ids"
	"github.com/chaostest/chaos/history"
)

// idKey is the key every ID request writes. The ID is the revision of that
// write: etcd's store revision grows by one with every committed write
// transaction, in the order raft commits them, so IDs are unique and grow
// in real time across every member (the notes' second etcd scheme).
const idKey = "/chaos/ids/counter"

// idClient issues revision IDs on one member.
type idClient struct {
	cli      *clientv3.Client
	endpoint string
}

// Invoke puts the client's name under idKey and returns the put's revision.
// Any error is info: a put whose answer was lost may have been committed,
// and then it used a revision nobody learnt.
func (c *idClient) Invoke(ctx context.Context, op history.Op) history.Op {
	if op.F != idcheck.Generate {
		return done(op, history.Fail, nil, fmt.Errorf("ids client: unknown operation %q", op.F))
	}
	resp, err := c.cli.Put(ctx, idKey, c.endpoint)
	if err != nil {
		return done(op, history.Info, nil, err)
	}
	return done(op, history.OK, history.Int(resp.Header.Revision), nil)
}

// Close closes the connection.
func (c *idClient) Close() error { return c.cli.Close() }
