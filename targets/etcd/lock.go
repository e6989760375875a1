package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/lock"
)

// Key prefixes of the lock workloads: the mutex's waiter keys, and the set
// that the fenced lock-set keeps in etcd.
const (
	lockPrefix = "/chaos/lock/"
	setPrefix  = "/chaos/lock-set/"
)

// locker takes concurrency.Mutex locks on one member. Every acquire gets a
// lease of its own, so a hold and its lease begin and end together and the
// lock key (the mutex's waiter key) names exactly one hold.
type locker struct {
	cli  *clientv3.Client
	node string
	// validity makes grants report how long their lease is certainly alive
	// (the fenced client); without it grants report none, as a plain
	// concurrency.Mutex user knows none.
	validity bool

	hold *heldLock
	// closed is set when lock closed the connection under a stuck Lock.
	closed atomic.Bool
}

// heldLock is the state of the current hold.
type heldLock struct {
	key     string
	mu      *concurrency.Mutex
	session *concurrency.Session
	keeper  *leaseKeeper
	// deadline is the end of the validity the grant reported (zero: none).
	deadline time.Time
}

var _ lock.Locker = (*locker)(nil)

// Acquire grants a lease of ttl (rounded up to whole seconds, etcd's unit)
// and locks key's mutex under it. It reports ErrNotGranted only when the
// lease is certainly gone, so nothing can be held under it.
func (l *locker) Acquire(ctx context.Context, key string, ttl time.Duration) (lock.Grant, error) {
	start := time.Now()
	l.drop()
	if l.closed.Load() {
		return lock.Grant{}, fmt.Errorf("%w: connection was closed after a stuck lock", lock.ErrNotGranted)
	}
	secs := int64((ttl + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	sent := time.Now()
	lease, err := l.cli.Grant(ctx, secs)
	if err != nil {
		// An unacknowledged lease holds no lock: nothing was locked yet.
		return lock.Grant{}, fmt.Errorf("%w: lease grant: %v", lock.ErrNotGranted, err)
	}
	var keeper *leaseKeeper
	if l.validity {
		keeper = newLeaseKeeper(l.cli, lease.ID, time.Duration(secs)*time.Second, sent)
	}
	s, err := concurrency.NewSession(l.cli, concurrency.WithLease(lease.ID), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		keeper.stop()
		return lock.Grant{}, l.giveUp(lease.ID, fmt.Errorf("session: %w", err))
	}
	m := concurrency.NewMutex(s, lockPrefix+key)
	if err := l.lock(ctx, m); err != nil {
		keeper.stop()
		s.Orphan()
		if errors.Is(err, concurrency.ErrSessionExpired) {
			return lock.Grant{}, fmt.Errorf("%w: %v", lock.ErrNotGranted, err)
		}
		return lock.Grant{}, l.giveUp(lease.ID, fmt.Errorf("lock: %w", err))
	}
	h := &heldLock{key: key, mu: m, session: s, keeper: keeper}
	l.hold = h
	fence := fenceOf(m)
	g := lock.Grant{Token: m.Key(), Fence: &fence, Nodes: []string{l.node}}
	if l.validity {
		// The lease lives at least ttl past the last renewal that was sent
		// and acknowledged; counted from this acquire's start, which the
		// history's invocation precedes.
		h.deadline = keeper.lastRenewal().Add(keeper.ttl)
		g.Validity = int64(h.deadline.Sub(start))
	}
	return g, nil
}

// lockReturnGrace is how long past its context's end a Mutex.Lock may take
// to return before the connection is closed under it.
const lockReturnGrace = time.Second

// lock is m.Lock bounded by ctx. When its wait fails, concurrency.Mutex.Lock
// deletes its waiter key under the client's own context, not ctx; against a
// dead member that delete waits for a connection forever. Closing the
// client ends that context, so Lock returns; the closed client is then
// useless, which is what the info outcome of this acquire makes the runner
// assume anyway (it opens a new client for the next process).
func (l *locker) lock(ctx context.Context, m *concurrency.Mutex) error {
	done := make(chan error, 1)
	go func() { done <- m.Lock(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	t := time.NewTimer(lockReturnGrace)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
	}
	l.closed.Store(true)
	_ = l.cli.Close()
	select {
	case err := <-done:
		return fmt.Errorf("%w (connection closed: the lock's release of its waiter key did not return)", err)
	case <-time.After(lockReturnGrace):
		return fmt.Errorf("lock: %w (did not return; connection closed)", ctx.Err())
	}
}

// giveUp revokes a lease after a failed acquire. If the revoke is
// acknowledged nothing can be held under the lease any more and the acquire
// certainly failed; otherwise the outcome is unknown.
func (l *locker) giveUp(id clientv3.LeaseID, cause error) error {
	if l.closed.Load() {
		return cause
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := l.cli.Revoke(ctx, id); err == nil || isLeaseNotFound(err) {
		return fmt.Errorf("%w: %v (lease revoked)", lock.ErrNotGranted, cause)
	}
	return cause
}

// Release deletes the hold's lock key if it still belongs to the hold, then
// revokes the lease. ErrNotHeld when the key was already gone (the lease ran
// out, so another client may have held the lock meanwhile).
func (l *locker) Release(ctx context.Context, key string, g lock.Grant) ([]string, error) {
	h := l.hold
	l.hold = nil
	if h == nil || h.key != key {
		return nil, fmt.Errorf("%w: this client holds no lock on %s", lock.ErrNotHeld, key)
	}
	defer h.keeper.stop()
	resp, err := l.cli.Txn(ctx).If(h.mu.IsOwner()).Then(clientv3.OpDelete(h.mu.Key())).Commit()
	if err != nil {
		h.session.Orphan()
		return nil, fmt.Errorf("unlock: %w", err)
	}
	h.session.Orphan()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	_, _ = l.cli.Revoke(rctx, h.session.Lease()) // else it expires by itself
	cancel()
	if !resp.Succeeded {
		return nil, fmt.Errorf("%w: lock key %s was gone (its lease had expired)", lock.ErrNotHeld, h.mu.Key())
	}
	return []string{l.node}, nil
}

// drop forgets a hold that was never released (its client moved on); its
// lease expires by itself.
func (l *locker) drop() {
	if l.hold != nil {
		l.hold.keeper.stop()
		l.hold.session.Orphan()
		l.hold = nil
	}
}

// Close forgets any hold and closes the connection.
func (l *locker) Close() error {
	l.drop()
	if l.closed.Load() {
		return nil
	}
	return l.cli.Close()
}

// fenceOf is the lock key's create revision: etcd's fencing token, larger for
// every later holder of the same mutex.
func fenceOf(m *concurrency.Mutex) int64 {
	cmp := m.IsOwner()
	if cr, ok := cmp.GetCompare().TargetUnion.(*pb.Compare_CreateRevision); ok {
		return cr.CreateRevision
	}
	return 0
}

func isLeaseNotFound(err error) bool {
	return err != nil && (errors.Is(err, rpctypes.ErrLeaseNotFound) || strings.Contains(err.Error(), "requested lease not found"))
}

// leaseKeeper renews a lease on its own and remembers when the last renewal
// that etcd acknowledged was sent: the lease is certainly alive until then
// plus its TTL. (concurrency.Session renews too, but does not say when.)
type leaseKeeper struct {
	cli  *clientv3.Client
	id   clientv3.LeaseID
	ttl  time.Duration
	last atomic.Int64 // unix nanoseconds of the last acknowledged renewal's sending
	quit chan struct{}
	once sync.Once
}

func newLeaseKeeper(cli *clientv3.Client, id clientv3.LeaseID, ttl time.Duration, granted time.Time) *leaseKeeper {
	k := &leaseKeeper{cli: cli, id: id, ttl: ttl, quit: make(chan struct{})}
	k.last.Store(granted.UnixNano())
	go k.loop()
	return k
}

func (k *leaseKeeper) loop() {
	every := k.ttl / 4
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-k.quit:
			return
		case <-t.C:
		}
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		resp, err := k.cli.KeepAliveOnce(ctx, k.id)
		cancel()
		if err == nil && resp.TTL > 0 {
			k.last.Store(sent.UnixNano())
		} else if isLeaseNotFound(err) {
			return
		}
	}
}

func (k *leaseKeeper) lastRenewal() time.Time { return time.Unix(0, k.last.Load()) }

// stop ends the renewals; a nil keeper (grants without validity) has none.
func (k *leaseKeeper) stop() {
	if k != nil {
		k.once.Do(func() { close(k.quit) })
	}
}

// newLockClient returns the client of the lock and lock-set workloads. The
// plain lock and the harness-held lock-set use the lock workload's own
// client over an etcd locker; the fenced lock-set keeps its set in etcd.
func newLockClient(cli *clientv3.Client, t *Target, workload string, cfg core.ClientConfig) core.Client {
	fenced := workload == "lock-set" && t.opts.LockSet == "fenced"
	l := &locker{cli: cli, node: cfg.Node, validity: fenced}
	if fenced {
		return &fencedSetClient{l: l, cli: cli, endpoint: cfg.Endpoint}
	}
	return lock.NewClient(l, workload, cfg.Endpoint, lock.WithResources(t.sets), lock.WithPauses(t.pauses))
}

// fencedSetClient is lock-set done the way etcd advises: the set is kept in
// etcd and a write goes through a transaction guarded on the lock key still
// having the create revision it was granted with (the fencing token), so a
// holder whose lease ran out, even while its write was in flight, can no
// longer write. The client also keeps within its lease: its grant reports how
// long the lease is certainly alive, it cuts its hold short to finish inside
// that, and it never sends a write after it.
type fencedSetClient struct {
	l        *locker
	cli      *clientv3.Client
	endpoint string

	grant    *lock.Grant
	key      string
	lastRead []int64
}

// Invoke performs one op of the lock contract (see package workloads/lock).
func (c *fencedSetClient) Invoke(ctx context.Context, op history.Op) history.Op {
	switch op.F {
	case lock.FAcquire:
		return c.acquire(ctx, op)
	case lock.FRelease:
		return c.release(ctx, op)
	case lock.FRead:
		return c.read(ctx, op)
	case lock.FWrite:
		return c.write(ctx, op)
	}
	return done(op, history.Fail, nil, fmt.Errorf("unknown operation %q", op.F))
}

func (c *fencedSetClient) acquire(ctx context.Context, op history.Op) history.Op {
	var a lock.AcquireArgs
	if len(op.Value) > 0 {
		if err := op.DecodeValue(&a); err != nil {
			return done(op, history.Fail, nil, fmt.Errorf("bad acquire arguments: %w", err))
		}
	}
	if a.Delay > 0 && sleep(ctx, time.Duration(a.Delay)) != nil {
		return done(op, history.Fail, nil, fmt.Errorf("interrupted before sending: %w", ctx.Err()))
	}
	ttl := time.Duration(a.TTL)
	if ttl <= 0 {
		ttl = 2 * time.Second
	}
	g, err := c.l.Acquire(ctx, op.Key, ttl)
	switch {
	case errors.Is(err, lock.ErrNotGranted):
		return done(op, history.Fail, nil, err)
	case err != nil:
		return done(op, history.Info, nil, err)
	}
	g.Client = c.endpoint
	c.grant, c.key, c.lastRead = &g, op.Key, nil
	return done(op, history.OK, history.JSON(g), nil)
}

func (c *fencedSetClient) release(ctx context.Context, op history.Op) history.Op {
	g := c.grant
	if g == nil || c.key != op.Key {
		return done(op, history.Fail, nil, errors.New("holding nothing to release"))
	}
	c.grant, c.lastRead = nil, nil
	nodes, err := c.l.Release(ctx, op.Key, *g)
	switch {
	case errors.Is(err, lock.ErrNotHeld):
		return done(op, history.Fail, nil, err)
	case err != nil:
		return done(op, history.Info, nil, err)
	}
	return done(op, history.OK, history.JSON(lock.Release{Token: g.Token, Nodes: nodes}), nil)
}

// read gets the set from etcd (a linearizable read), then holds the lock for
// the asked time. The final read needs no lock.
func (c *fencedSetClient) read(ctx context.Context, op history.Op) history.Op {
	var a lock.ReadArgs
	if len(op.Value) > 0 {
		if err := op.DecodeValue(&a); err != nil {
			return done(op, history.Fail, nil, fmt.Errorf("bad read arguments: %w", err))
		}
	}
	if !a.Final && (c.grant == nil || c.key != op.Key) {
		return done(op, history.Fail, nil, errors.New("not holding the lock"))
	}
	set, _, err := c.getSet(ctx, op.Key)
	if err != nil {
		return done(op, history.Fail, nil, err) // a read changes nothing
	}
	if a.Final {
		return done(op, history.OK, history.JSON(lock.ReadResult{Set: set}), nil)
	}
	c.lastRead = set
	hold := time.Duration(a.Hold)
	if h := c.l.hold; h != nil && !h.deadline.IsZero() {
		// A careful holder finishes its work within what its lease
		// guarantees, leaving time for the write to be sent.
		hold = min(hold, time.Until(h.deadline)-writeMargin)
	}
	if hold > 0 {
		_ = sleep(ctx, hold)
	}
	return done(op, history.OK, history.JSON(lock.ReadResult{Set: set, Token: c.grant.Token}), nil)
}

func (c *fencedSetClient) getSet(ctx context.Context, key string) ([]int64, int64, error) {
	resp, err := c.cli.Get(ctx, setPrefix+key)
	if err != nil {
		return nil, 0, fmt.Errorf("read set: %w", err)
	}
	set := []int64{}
	if len(resp.Kvs) == 0 {
		return set, 0, nil
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &set); err != nil {
		return nil, 0, fmt.Errorf("set %s holds %q: %w", setPrefix+key, resp.Kvs[0].Value, err)
	}
	return set, resp.Kvs[0].ModRevision, nil
}

// write puts read+add in one transaction guarded on the lock key: it applies
// only if the key still exists with the create revision this hold was granted
// (the fencing token). A write not applied is a fail; one whose answer was
// lost is info.
func (c *fencedSetClient) write(ctx context.Context, op history.Op) history.Op {
	var a lock.WriteArgs
	if err := op.DecodeValue(&a); err != nil {
		return done(op, history.Fail, nil, fmt.Errorf("bad write arguments: %w", err))
	}
	h := c.l.hold
	if c.grant == nil || c.key != op.Key || c.lastRead == nil || h == nil {
		return done(op, history.Fail, nil, errors.New("not holding the lock with a read in hand"))
	}
	if !h.deadline.IsZero() && !time.Now().Before(h.deadline.Add(-writeMargin/2)) {
		return done(op, history.Fail, nil, fmt.Errorf("not sent: the lease's validity ended %s ago", time.Since(h.deadline).Round(time.Millisecond)))
	}
	set := append(append([]int64{}, c.lastRead...), a.Add)
	b, _ := json.Marshal(set)
	resp, err := c.cli.Txn(ctx).If(h.mu.IsOwner()).Then(clientv3.OpPut(setPrefix+op.Key, string(b))).Commit()
	if err != nil {
		return done(op, history.Info, nil, err)
	}
	if !resp.Succeeded {
		return done(op, history.Fail, nil, fmt.Errorf("rejected: lock key %s (fence %d) is gone, its lease expired", h.mu.Key(), *c.grant.Fence))
	}
	c.lastRead = set
	return done(op, history.OK, history.JSON(lock.WriteResult{Add: a.Add, Set: set, Token: c.grant.Token,
		Fence: c.grant.Fence, Seq: resp.Header.Revision}), nil)
}

// writeMargin is how long before its validity ends a careful holder stops
// working so that its write is sent in time.
const writeMargin = 100 * time.Millisecond

// Close forgets the hold and closes the connection.
func (c *fencedSetClient) Close() error { return c.l.Close() }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
