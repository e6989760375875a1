package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-redsync/redsync/v4"
	redsyncredis "github.com/go-redsync/redsync/v4/redis"
	redsyncgoredis "github.com/go-redsync/redsync/v4/redis/goredis/v9"

	"github.com/chaostest/chaos/workloads/lock"
)

// redsyncLock is Redlock as github.com/go-redsync/redsync implements it
// (parallel requests, per-node timeout expiry × 0.05), for comparison with
// ours. Redsync does not say which nodes granted the lock, so after a grant
// the client asks every node which still holds its value; the answer names
// the granting nodes as seen a moment later.
type redsyncLock struct {
	locker
	rs          *redsync.Redsync
	drift       float64
	nodeTimeout time.Duration
	mutexes     map[string]*redsync.Mutex
}

func newRedsync(base locker, drift float64, nodeTimeout time.Duration) *redsyncLock {
	pools := make([]redsyncredis.Pool, 0, len(base.conns))
	for _, c := range base.conns {
		pools = append(pools, redsyncgoredis.NewPool(c.c))
	}
	return &redsyncLock{locker: base, rs: redsync.New(pools...), drift: drift, nodeTimeout: nodeTimeout,
		mutexes: map[string]*redsync.Mutex{}}
}

func (r *redsyncLock) Acquire(ctx context.Context, key string, ttl time.Duration) (lock.Grant, error) {
	start := time.Now()
	token := r.tokens.next()
	m := r.rs.NewMutex(key, redsync.WithExpiry(ttl), redsync.WithTries(1), redsync.WithDriftFactor(r.drift),
		redsync.WithGenValueFunc(func() (string, error) { return token, nil }))
	err := m.TryLockContext(ctx)
	var taken *redsync.ErrTaken
	switch {
	case errors.Is(err, redsync.ErrFailed), errors.As(err, &taken):
		return lock.Grant{}, fmt.Errorf("%w: %v", lock.ErrNotGranted, err)
	case err != nil:
		// Redsync gave back what it took; a node that did not answer
		// may have set the key all the same, but no quorum holds it.
		return lock.Grant{}, fmt.Errorf("%w: %v", lock.ErrNotGranted, err)
	}
	r.mutexes[key] = m
	g := lock.Grant{Token: token, Validity: int64(m.Until().Sub(start))}
	for _, c := range r.conns {
		nctx, cancel := context.WithTimeout(ctx, r.nodeTimeout)
		v, err := c.c.Get(nctx, key).Result()
		cancel()
		if err == nil && v == token {
			g.Nodes = append(g.Nodes, c.name)
		}
	}
	slices.Sort(g.Nodes)
	return g, nil
}

func (r *redsyncLock) Release(ctx context.Context, key string, g lock.Grant) ([]string, error) {
	m := r.mutexes[key]
	delete(r.mutexes, key)
	if m == nil || m.Value() != g.Token {
		return nil, fmt.Errorf("%w: no mutex for %s", lock.ErrNotHeld, key)
	}
	ok, err := m.UnlockContext(ctx)
	switch {
	case ok:
		return nil, nil
	case errors.Is(err, redsync.ErrLockAlreadyExpired) || err == nil:
		return nil, fmt.Errorf("%w: %v", lock.ErrNotHeld, err)
	}
	return nil, err
}
