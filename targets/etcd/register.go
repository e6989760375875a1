package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chaostest/chaos/history"
)

// registerPrefix keeps the register workload's keys apart from the locks'.
const registerPrefix = "/chaos/register/"

// registerClient performs the register workload's read, write and cas on one
// member. Values are integers stored in decimal.
type registerClient struct {
	cli          *clientv3.Client
	serializable bool
}

// Invoke performs one register operation. A read that errs is a fail: it
// changed nothing, whatever happened. A write or cas that errs is info: it
// may have been committed. A cas whose comparison did not hold is a fail.
func (c *registerClient) Invoke(ctx context.Context, op history.Op) history.Op {
	key := registerPrefix + op.Key
	switch op.F {
	case "read":
		var opts []clientv3.OpOption
		if c.serializable {
			opts = append(opts, clientv3.WithSerializable())
		}
		resp, err := c.cli.Get(ctx, key, opts...)
		if err != nil {
			return done(op, history.Fail, nil, err)
		}
		if len(resp.Kvs) == 0 {
			return done(op, history.OK, json.RawMessage("null"), nil)
		}
		n, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
		if err != nil {
			return done(op, history.Fail, nil, fmt.Errorf("key %s holds %q, not an integer", key, resp.Kvs[0].Value))
		}
		return done(op, history.OK, history.Int(n), nil)
	case "write":
		n, ok := op.ValueInt()
		if !ok {
			return done(op, history.Fail, op.Value, fmt.Errorf("write value %s is not an integer", op.Value))
		}
		if _, err := c.cli.Put(ctx, key, strconv.FormatInt(n, 10)); err != nil {
			return done(op, history.Info, op.Value, err)
		}
		return done(op, history.OK, op.Value, nil)
	case "cas":
		var v [2]int64
		if err := op.DecodeValue(&v); err != nil {
			return done(op, history.Fail, op.Value, fmt.Errorf("cas value %s is not [expected, new]: %v", op.Value, err))
		}
		resp, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.Value(key), "=", strconv.FormatInt(v[0], 10))).
			Then(clientv3.OpPut(key, strconv.FormatInt(v[1], 10))).
			Commit()
		if err != nil {
			return done(op, history.Info, op.Value, err)
		}
		if !resp.Succeeded {
			return done(op, history.Fail, op.Value, fmt.Errorf("value was not %d", v[0]))
		}
		return done(op, history.OK, op.Value, nil)
	}
	return done(op, history.Fail, op.Value, fmt.Errorf("register client: unknown operation %q", op.F))
}

// Close closes the connection.
func (c *registerClient) Close() error { return c.cli.Close() }

// done completes op.
func done(op history.Op, t history.Type, v json.RawMessage, err error) history.Op {
	op.Type, op.Value = t, v
	if err != nil {
		op.Error = err.Error()
	}
	return op
}
