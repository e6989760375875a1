package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chaostest/chaos/workloads/lock"
)

// releaseScript deletes the lock only if it still holds our token, so a
// client whose lease ran out cannot delete another holder's lock.
var releaseScript = goredis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`)

// fencedAcquireScript sets the lock and, only when it was free, takes the
// next fencing token from a counter beside it, atomically.
var fencedAcquireScript = goredis.NewScript(`if redis.call("set", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then return redis.call("incr", KEYS[2]) else return false end`)

type nodeConn struct {
	name string
	c    *goredis.Client
}

// tokenSource makes lock values unique within a run and the same in every
// run of a seed: endpoint, process and a counter.
type tokenSource struct {
	prefix string
	n      int
}

func (t *tokenSource) next() string {
	t.n++
	return t.prefix + "-" + strconv.Itoa(t.n)
}

type locker struct {
	conns  []nodeConn
	tokens tokenSource
}

func (l *locker) Close() error { return closeAll(l.conns) }

// single is the single-instance lock of the Redis documentation: SET key
// token NX PX ttl on one primary, release by compare-and-delete. With several
// candidate nodes it uses the first that says it is a primary, which is how a
// client follows a failover.
type single struct {
	locker
	fencing      bool
	probeTimeout time.Duration
}

func (s *single) primary(ctx context.Context) (nodeConn, error) {
	if len(s.conns) == 1 {
		return s.conns[0], nil
	}
	var errs []string
	for _, c := range s.conns {
		pctx, cancel := context.WithTimeout(ctx, s.probeTimeout)
		role, err := c.c.Do(pctx, "ROLE").Slice()
		cancel()
		if err == nil && len(role) > 0 && role[0] == "master" {
			return c, nil
		}
		if err == nil {
			err = fmt.Errorf("role %v", role[0])
		}
		errs = append(errs, c.name+": "+err.Error())
	}
	return nodeConn{}, fmt.Errorf("%w: no primary among %s (%s)", lock.ErrNotGranted, names(s.conns), strings.Join(errs, "; "))
}

func (s *single) Acquire(ctx context.Context, key string, ttl time.Duration) (lock.Grant, error) {
	c, err := s.primary(ctx)
	if err != nil {
		// Nothing was sent to a primary: the lock was not taken.
		return lock.Grant{}, err
	}
	token := s.tokens.next()
	g := lock.Grant{Token: token, Nodes: []string{c.name}}
	if s.fencing {
		n, err := fencedAcquireScript.Run(ctx, c.c, []string{key, key + ":fence"}, token, ttl.Milliseconds()).Int64()
		switch {
		case errors.Is(err, goredis.Nil):
			return lock.Grant{}, fmt.Errorf("%w: %s holds it", lock.ErrNotGranted, c.name)
		case err != nil:
			return lock.Grant{}, fmt.Errorf("%s: %w", c.name, err)
		}
		g.Fence = &n
	} else {
		ok, err := c.c.SetNX(ctx, key, token, ttl).Result()
		switch {
		case err != nil:
			return lock.Grant{}, fmt.Errorf("%s: %w", c.name, err)
		case !ok:
			return lock.Grant{}, fmt.Errorf("%w: %s holds it", lock.ErrNotGranted, c.name)
		}
	}
	// The key cannot have been set before the call, so it lives at least
	// until then + ttl: the lease the single-instance lock promises.
	g.Validity = int64(ttl)
	return g, nil
}

func (s *single) Release(ctx context.Context, key string, g lock.Grant) ([]string, error) {
	for _, c := range s.conns {
		if !slices.Contains(g.Nodes, c.name) {
			continue
		}
		n, err := releaseScript.Run(ctx, c.c, []string{key}, g.Token).Int64()
		switch {
		case err != nil:
			return nil, fmt.Errorf("%s: %w", c.name, err)
		case n == 0:
			return nil, fmt.Errorf("%w: %s no longer has our token", lock.ErrNotHeld, c.name)
		}
		return []string{c.name}, nil
	}
	return nil, fmt.Errorf("%w: granting node %v unknown to this client", lock.ErrNotHeld, g.Nodes)
}

// redlock is Redlock as antirez describes it: take the start time, try SET
// NX PX on every node with a timeout small against the TTL, and hold
// the lock if a majority granted it and validity = ttl - elapsed - drift is
// still positive; otherwise release on every node.
type redlock struct {
	locker
	nodeTimeout time.Duration
	drift       float64
}

func (r *redlock) Acquire(ctx context.Context, key string, ttl time.Duration) (lock.Grant, error) {
	start := time.Now()
	token := r.tokens.next()
	// The requests go to every node at once (the multiplexing the Redlock
	// description allows), each bounded by the per-node timeout, so an
	// unreachable node costs one timeout, not one each.
	answers := make([]string, len(r.conns))
	ok := make([]bool, len(r.conns))
	var wg sync.WaitGroup
	for i, c := range r.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nctx, cancel := context.WithTimeout(ctx, r.nodeTimeout)
			defer cancel()
			set, err := c.c.SetNX(nctx, key, token, ttl).Result()
			switch {
			case err != nil:
				answers[i] = c.name + " (no answer: " + err.Error() + ")"
			case set:
				ok[i] = true
			default:
				answers[i] = c.name + " (held)"
			}
		}()
	}
	wg.Wait()
	var granted, refused []string
	for i, c := range r.conns {
		if ok[i] {
			granted = append(granted, c.name)
		} else {
			refused = append(refused, answers[i])
		}
	}
	elapsed := time.Since(start)
	drift := time.Duration(float64(ttl)*r.drift) + 2*time.Millisecond
	validity := ttl - elapsed - drift
	quorum := len(r.conns)/2 + 1
	if len(granted) >= quorum && validity > 0 {
		slices.Sort(granted)
		// Valid until the end of the attempt plus validity, that is
		// start + ttl - drift.
		return lock.Grant{Token: token, Nodes: granted, Validity: int64(elapsed + validity)}, nil
	}
	// Give back whatever was taken, on every node: a node that timed out
	// may have set the key all the same.
	// All nodes at once, so an unreachable one costs one timeout, not one
	// each.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.nodeTimeout)
	defer cancel()
	var give sync.WaitGroup
	for _, c := range r.conns {
		give.Add(1)
		go func() {
			defer give.Done()
			_ = releaseScript.Run(rctx, c.c, []string{key}, token).Err()
		}()
	}
	give.Wait()
	why := fmt.Sprintf("%d of %d nodes granted (quorum %d): %s", len(granted), len(r.conns), quorum, strings.Join(refused, ", "))
	if len(granted) >= quorum {
		why = fmt.Sprintf("quorum reached but validity %s is gone after %s", validity, elapsed)
	}
	return lock.Grant{}, fmt.Errorf("%w: %s", lock.ErrNotGranted, why)
}

func (r *redlock) Release(ctx context.Context, key string, g lock.Grant) ([]string, error) {
	var released []string
	unsure := false
	for _, c := range r.conns {
		nctx, cancel := context.WithTimeout(ctx, r.nodeTimeout)
		n, err := releaseScript.Run(nctx, c.c, []string{key}, g.Token).Int64()
		cancel()
		switch {
		case err != nil:
			unsure = true
		case n > 0:
			released = append(released, c.name)
		}
	}
	switch {
	case len(released) > 0:
		return released, nil
	case unsure:
		return nil, errors.New("no node confirmed the release and some did not answer")
	}
	return nil, fmt.Errorf("%w: no node had our token any more", lock.ErrNotHeld)
}

func names(cs []nodeConn) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.name
	}
	return strings.Join(out, ",")
}
