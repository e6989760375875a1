package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/chaostest/chaos/workloads/lock"
)

// lockRoot holds one directory per lock name; the lock's waiters are its
// children.
const lockRoot = "/chaos/lock"

// locker is ZooKeeper's lock recipe on one client session: to acquire, create
// an ephemeral sequential znode under the lock's directory; the lowest
// sequence number holds the lock; every other waiter watches the znode just
// before its own and looks again when that one goes. A hold lasts as long as
// its znode, that is until it is deleted or the session that created it
// expires. The grant's token is the znode's path and its fencing token the
// znode's sequence number, which grows with every later holder (the parent's
// counter never goes back while the directory exists).
//
// Znode names carry the client's endpoint ("c0-lock-0000000007"), so that a
// znode whose creation or deletion had an unknown outcome can be found and
// removed before the next acquire instead of blocking every other client for
// as long as this session lives.
type locker struct {
	conn     *zk.Conn
	names    serverNames
	endpoint string
	timeout  time.Duration
	// validity makes grants report how long their session is certainly
	// alive (the fenced client); a plain recipe user knows nothing of that.
	validity bool
	keeper   *sessionKeeper

	dirs  map[string]bool // lock directories known to exist
	dirty bool            // a znode of ours may be left behind
	hold  *zkHold
}

// zkHold is the current hold.
type zkHold struct {
	key, path string
	seq       int64
	session   int64
}

var _ lock.Locker = (*locker)(nil)

func newLocker(conn *zk.Conn, endpoint string, names serverNames, timeout time.Duration, validity bool) *locker {
	l := &locker{conn: conn, names: names, endpoint: endpoint, timeout: timeout, validity: validity, dirs: map[string]bool{}}
	if validity {
		l.keeper = newSessionKeeper(conn, timeout)
	}
	return l
}

// Acquire runs the recipe for key. The ttl is ZooKeeper's session timeout,
// fixed when the client connected (--zk-session-timeout); the one asked for
// here is not used. It reports ErrNotGranted only when this client's znode
// certainly no longer exists.
func (l *locker) Acquire(ctx context.Context, key string, _ time.Duration) (lock.Grant, error) {
	start := time.Now()
	l.hold = nil
	if err := waitSession(ctx, l.conn); err != nil {
		return lock.Grant{}, fmt.Errorf("%w: %v", lock.ErrNotGranted, err)
	}
	dir := lockRoot + "/" + key
	if err := l.ensureDir(ctx, dir); err != nil {
		return lock.Grant{}, fmt.Errorf("%w: create %s: %v", lock.ErrNotGranted, dir, err)
	}
	if l.dirty {
		if err := l.cleanup(ctx, dir); err != nil {
			return lock.Grant{}, fmt.Errorf("%w: remove a znode left by an earlier attempt: %v", lock.ErrNotGranted, err)
		}
	}
	session := l.conn.SessionID()
	prefix := dir + "/" + l.endpoint + "-lock-"
	path, err := call(ctx, func() (string, error) {
		return l.conn.Create(prefix, []byte(l.endpoint), zk.FlagEphemeral|zk.FlagSequence, zk.WorldACL(zk.PermAll))
	})
	if err != nil {
		if certainlyNotApplied(err) {
			return lock.Grant{}, fmt.Errorf("%w: create: %v", lock.ErrNotGranted, err)
		}
		l.dirty = true
		return lock.Grant{}, fmt.Errorf("create %s: %w", prefix, err)
	}
	name := path[len(dir)+1:]
	seq, err := sequenceOf(name)
	if err != nil {
		l.dirty = true
		return lock.Grant{}, err
	}
	for {
		sent := time.Now()
		children, err := call(ctx, func() ([]string, error) { c, _, err := l.conn.Children(dir); return c, err })
		if err != nil {
			return lock.Grant{}, l.giveUp(path, session, fmt.Errorf("list %s: %w", dir, err))
		}
		if l.conn.SessionID() != session {
			return lock.Grant{}, fmt.Errorf("%w: session %#x expired while waiting; its znode %s is gone", lock.ErrNotGranted, session, name)
		}
		pred, found := predecessor(children, name, seq)
		if !found {
			return lock.Grant{}, fmt.Errorf("%w: znode %s is gone (its session expired)", lock.ErrNotGranted, name)
		}
		if pred == "" {
			l.keeper.acked(session, sent)
			l.hold = &zkHold{key: key, path: path, seq: seq, session: session}
			fence := seq
			// Nodes: the server the session was on when it learnt it holds.
			g := lock.Grant{Token: path, Fence: &fence, Nodes: l.names.of(l.conn)}
			if l.validity {
				// The session lives at least its timeout past the last
				// request it had answered, counted from that request's
				// sending (the server touched the session when the
				// request arrived, later).
				g.Validity = int64(l.keeper.deadline(session).Sub(start))
				if g.Validity <= 0 {
					g.Validity = 1 // already over: any use is late
				}
			}
			return g, nil
		}
		type watch struct {
			exists bool
			ch     <-chan zk.Event
		}
		w, err := call(ctx, func() (watch, error) {
			ok, _, ch, err := l.conn.ExistsW(dir + "/" + pred)
			return watch{ok, ch}, err
		})
		if err != nil {
			return lock.Grant{}, l.giveUp(path, session, fmt.Errorf("watch %s: %w", pred, err))
		}
		if !w.exists {
			continue
		}
		select {
		case <-w.ch:
		case <-ctx.Done():
			return lock.Grant{}, l.giveUp(path, session, fmt.Errorf("waiting for %s: %w", pred, ctx.Err()))
		}
	}
}

// predecessor finds name among the lock's children and returns the child
// with the next lower sequence number ("" when name is the lowest: it holds
// the lock).
func predecessor(children []string, name string, seq int64) (string, bool) {
	found := false
	best, bestSeq := "", int64(-1)
	for _, c := range children {
		if c == name {
			found = true
			continue
		}
		s, err := sequenceOf(c)
		if err != nil {
			continue // not a waiter's znode
		}
		if s < seq && s > bestSeq {
			best, bestSeq = c, s
		}
	}
	return best, found
}

// sequenceOf is the sequence number ZooKeeper appended to a znode's name
// (ten digits).
func sequenceOf(name string) (int64, error) {
	if len(name) < 10 {
		return 0, fmt.Errorf("znode %q has no sequence number", name)
	}
	n, err := strconv.ParseInt(name[len(name)-10:], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("znode %q has no sequence number", name)
	}
	return n, nil
}

// giveUp deletes the waiter's znode after a failed acquire. If the delete is
// acknowledged, or the session is gone, nothing can be held any more and the
// acquire certainly failed; otherwise the outcome is unknown and the znode is
// removed before the next attempt.
func (l *locker) giveUp(path string, session int64, cause error) error {
	if l.conn.SessionID() != session {
		return fmt.Errorf("%w: %v (session %#x expired: its znode is gone)", lock.ErrNotGranted, cause, session)
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	_, err := call(ctx, func() (struct{}, error) { return struct{}{}, l.conn.Delete(path, -1) })
	if err == nil || errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("%w: %v (znode deleted)", lock.ErrNotGranted, cause)
	}
	l.dirty = true
	return cause
}

// Release deletes the hold's znode. ErrNotHeld when it was already gone:
// the session that created it expired, so another client may have held the
// lock meanwhile.
func (l *locker) Release(ctx context.Context, key string, _ lock.Grant) ([]string, error) {
	h := l.hold
	l.hold = nil
	if h == nil || h.key != key {
		return nil, fmt.Errorf("%w: this client holds no lock on %s", lock.ErrNotHeld, key)
	}
	if s := l.conn.SessionID(); s != h.session {
		return nil, fmt.Errorf("%w: session %#x expired, and with it znode %s", lock.ErrNotHeld, h.session, h.path)
	}
	_, err := call(ctx, func() (struct{}, error) { return struct{}{}, l.conn.Delete(h.path, -1) })
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return nil, fmt.Errorf("%w: znode %s was gone (its session had expired)", lock.ErrNotHeld, h.path)
	case err != nil:
		l.dirty = true
		return nil, fmt.Errorf("delete %s: %w", h.path, err)
	}
	return l.names.of(l.conn), nil
}

// ensureDir creates the lock's directory and its parents once.
func (l *locker) ensureDir(ctx context.Context, dir string) error {
	if l.dirs[dir] {
		return nil
	}
	if err := ensurePath(ctx, l.conn, dir); err != nil {
		return err
	}
	l.dirs[dir] = true
	return nil
}

// ensurePath creates path and its parents as persistent znodes.
func ensurePath(ctx context.Context, conn *zk.Conn, path string) error {
	p := ""
	for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
		p += "/" + part
		_, err := call(ctx, func() (string, error) { return conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll)) })
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
	return nil
}

// cleanup deletes every znode of this client under dir: it holds none when
// it acquires, so any there was left by an attempt whose outcome was lost.
func (l *locker) cleanup(ctx context.Context, dir string) error {
	children, err := call(ctx, func() ([]string, error) { c, _, err := l.conn.Children(dir); return c, err })
	if err != nil {
		return err
	}
	sort.Strings(children)
	for _, c := range children {
		if !strings.HasPrefix(c, l.endpoint+"-lock-") {
			continue
		}
		_, err := call(ctx, func() (struct{}, error) { return struct{}{}, l.conn.Delete(dir+"/"+c, -1) })
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return err
		}
	}
	l.dirty = false
	return nil
}

// Close ends the session: its znodes go with it.
func (l *locker) Close() error {
	l.keeper.stop()
	l.conn.Close()
	return nil
}

// certainlyNotApplied reports errors after which a request surely did not
// take effect: the server refused it, or it was never sent.
func certainlyNotApplied(err error) bool {
	for _, e := range []error{zk.ErrNoNode, zk.ErrNodeExists, zk.ErrBadArguments, zk.ErrNoAuth, zk.ErrInvalidACL,
		zk.ErrBadVersion, zk.ErrNoChildrenForEphemerals, zk.ErrNotEmpty, zk.ErrInvalidPath, zk.ErrNoServer} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// sessionKeeper sends a cheap request on the session every quarter of its
// timeout and remembers when the last one it got an answer to was sent: the
// server expires a session only a full timeout after it last heard from it,
// so the session is certainly alive until then plus the timeout.
// (go-zookeeper's own pings do the same, but do not say when.)
type sessionKeeper struct {
	conn    *zk.Conn
	timeout time.Duration

	mu      sync.Mutex
	session int64
	last    time.Time

	quit chan struct{}
	once sync.Once
}

func newSessionKeeper(conn *zk.Conn, timeout time.Duration) *sessionKeeper {
	k := &sessionKeeper{conn: conn, timeout: timeout, quit: make(chan struct{})}
	go k.loop()
	return k
}

func (k *sessionKeeper) loop() {
	every := k.timeout / 4
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-k.quit:
			return
		case <-t.C:
		}
		session := k.conn.SessionID()
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		_, err := call(ctx, func() (bool, error) { ok, _, err := k.conn.Exists("/"); return ok, err })
		cancel()
		if err == nil {
			k.acked(session, sent)
		}
	}
}

// acked records that a request sent at sent in session was answered in that
// same session.
func (k *sessionKeeper) acked(session int64, sent time.Time) {
	if k == nil || session == 0 || k.conn.SessionID() != session {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if session != k.session || sent.After(k.last) {
		k.session, k.last = session, sent
	}
}

// deadline is how long session is certainly alive (zero time: unknown).
func (k *sessionKeeper) deadline(session int64) time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.session != session {
		return time.Time{}
	}
	return k.last.Add(k.timeout)
}

func (k *sessionKeeper) stop() {
	if k != nil {
		k.once.Do(func() { close(k.quit) })
	}
}
