package etcd

import (
	"context"
	"fmt"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// harnessSets are lock-set's sets when the harness keeps them: plain memory,
// shared by the run's clients, that nothing fences.
type harnessSets struct {
	mu   sync.Mutex
	sets map[string][]int64
}

func newHarnessSets() *harnessSets { return &harnessSets{sets: map[string][]int64{}} }

// lockClient runs the lock and lock-set workloads over concurrency.Mutex.
type lockClient struct {
	cli      *clientv3.Client
	t        *Target
	workload string
	cfg      core.ClientConfig
}

func newLockClient(cli *clientv3.Client, t *Target, workload string, cfg core.ClientConfig) *lockClient {
	return &lockClient{cli: cli, t: t, workload: workload, cfg: cfg}
}

// Invoke performs one lock operation.
func (c *lockClient) Invoke(ctx context.Context, op history.Op) history.Op {
	return done(op, history.Fail, op.Value, fmt.Errorf("lock client: unknown operation %q", op.F))
}

// Close closes the connection.
func (c *lockClient) Close() error { return c.cli.Close() }
