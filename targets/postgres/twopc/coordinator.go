package twopc

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	bankcheck "github.com/chaostest/chaos/checkers/bank"
	"github.com/chaostest/chaos/internal/httpnode"
)

// GIDPrefix starts the global id of every transaction the coordinator
// prepares: GIDPrefix + the transfer's id.
const GIDPrefix = "chaos-"

// Log modes.
const (
	LogNone    = "none"
	LogDurable = "durable"
)

// lockTimeout bounds how long a branch waits for a row lock, so that a lock
// held by a transaction nobody will resolve turns into a failed operation
// instead of a hung one, and no distributed deadlock outlives it.
const lockTimeout = "500ms"

// prepareTimeout bounds the wait for a participant's answer to PREPARE
// TRANSACTION.
const prepareTimeout = time.Second

// coordFlags are the flags of `chaos node twopc`.
type coordFlags struct {
	listen, control string
	dataDir         string
	logMode         string
	participants    []participantAddr
	accounts        int
	balance         int64
}

type participantAddr struct{ name, addr string }

func parseCoordFlags(args []string) (coordFlags, error) {
	var f coordFlags
	var parts string
	fs := flag.NewFlagSet("chaos node twopc", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:0", "address of the transfer API")
	fs.StringVar(&f.control, "control", "", "address of the test hook endpoint (loopback only)")
	fs.StringVar(&f.dataDir, "data-dir", ".", "where the durable log keeps its decisions")
	fs.StringVar(&f.logMode, "log", LogDurable, "none: decisions live in memory only; durable: commit decisions are fsynced before any participant commits, and recovered on start")
	fs.StringVar(&parts, "participants", "", "the participants, name=host:port,...")
	fs.IntVar(&f.accounts, "accounts", 4, "accounts 0..n-1; account a lives on participant a mod (number of participants)")
	fs.Int64Var(&f.balance, "balance", 100, "each account's initial balance")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.logMode != LogNone && f.logMode != LogDurable {
		return f, fmt.Errorf("--log %q: want none or durable", f.logMode)
	}
	for _, p := range strings.Split(parts, ",") {
		name, addr, ok := strings.Cut(p, "=")
		if !ok || name == "" || addr == "" {
			return f, fmt.Errorf("--participants %q: want name=host:port,...", parts)
		}
		f.participants = append(f.participants, participantAddr{name, addr})
	}
	if f.accounts < 1 {
		return f, fmt.Errorf("--accounts %d: want at least 1", f.accounts)
	}
	if f.control != "" {
		if err := httpnode.CheckControl(f.control, "the test hook endpoint"); err != nil {
			return f, err
		}
	}
	return f, nil
}

// CoordinatorMain runs the two-phase commit coordinator until ctx ends.
//
// POST /transfer {"id","from","to","amount"} runs one transfer as a
// two-phase commit over the participants holding the two accounts: on each,
// in name order, BEGIN, the balance updates, a ledger row for the id, then
// PREPARE TRANSACTION 'chaos-<id>'; once every one is prepared, the
// decision (logged and fsynced first in the durable mode), then COMMIT
// PREPARED on each. 200: committed everywhere. 409: aborted, committed
// nowhere. 503: unknown (a commit went unacknowledged). POST /read reads
// every balance under shared locks held on all participants until all are
// read. POST /recover runs a recovery pass now. GET /health answers once
// the coordinator serves, after recovery.
//
// The durable mode recovers on start and then every half second: every
// transaction prepared on a participant that no transfer in progress owns
// is committed when the log holds its commit decision and rolled back
// otherwise (presumed abort). The none mode keeps nothing: after a crash,
// what it had prepared stays prepared.
func CoordinatorMain(ctx context.Context, args []string) error {
	f, err := parseCoordFlags(args)
	if err != nil {
		return err
	}
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	c := &coordinator{accounts: f.accounts, balance: f.balance, logger: logger, inflight: map[string]bool{}}
	for _, p := range f.participants {
		c.parts = append(c.parts, &participant{name: p.name, addr: p.addr, idle: make(chan *pgx.Conn, 16)})
	}
	sort.Slice(c.parts, func(i, j int) bool { return c.parts[i].name < c.parts[j].name })
	defer c.closeAll()
	if f.logMode == LogDurable {
		if c.log, err = openDecisionLog(filepath.Join(f.dataDir, "decisions.log")); err != nil {
			return err
		}
		defer c.log.close()
	}
	logger.Printf("twopc coordinator: log %s, %d participants, %d accounts", f.logMode, len(c.parts), f.accounts)
	// Until the schema exists and recovery has run, the node is not ready:
	// the API listener opens only then.
	if err := c.setup(ctx); err != nil {
		return err
	}
	if c.log != nil {
		if err := c.recoverUntilDone(ctx); err != nil {
			return err
		}
		go c.resolverLoop(ctx)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("POST /transfer", c.handleTransfer)
	mux.HandleFunc("POST /read", c.handleRead)
	mux.HandleFunc("POST /recover", c.handleRecover)
	ls := []httpnode.Listener{{Addr: f.listen, Handler: mux}}
	if f.control != "" {
		ctl := http.NewServeMux()
		ctl.HandleFunc("POST /hold", c.handleArm)
		ctl.HandleFunc("GET /hold", c.handleHoldState)
		ctl.HandleFunc("POST /release", c.handleRelease)
		ls = append(ls, httpnode.Listener{Addr: f.control, Handler: ctl})
	}
	err = httpnode.Serve(ctx, ls...)
	logger.Printf("twopc coordinator: stopped")
	return err
}

type coordinator struct {
	parts    []*participant
	accounts int
	balance  int64
	log      *decisionLog // nil: no log
	logger   *log.Logger

	mu       sync.Mutex
	inflight map[string]bool // gids of transfers in progress
	hold     hold
}

// hold is the test hook that puts a transfer at the state a fault needs.
// At "commit": the next transfer spanning more than after participants
// commits on the first after of them and then stops, as if the coordinator
// had died there, until the process is killed. At "prepare": the next
// transfer spanning participant on and another one stops right before it
// sends PREPARE TRANSACTION to on, until released (POST /release).
type hold struct {
	armed   bool
	at      string
	after   int
	on      string
	reached string        // the transfer that reached the point
	release chan struct{} // closed by POST /release
}

// participant is one PostgreSQL server and a few idle connections to it.
type participant struct {
	name, addr string
	idle       chan *pgx.Conn
}

func (p *participant) conn(ctx context.Context) (*pgx.Conn, error) {
	select {
	case c := <-p.idle:
		if !c.IsClosed() {
			return c, nil
		}
	default:
	}
	host, port, err := net.SplitHostPort(p.addr)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%s user=postgres dbname=postgres sslmode=disable connect_timeout=5", host, port))
	if err != nil {
		return nil, err
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", p.name, err)
	}
	return c, nil
}

// put returns a connection that is idle and healthy, and closes any other.
func (p *participant) put(c *pgx.Conn) {
	if c == nil {
		return
	}
	if c.IsClosed() || c.PgConn().TxStatus() != 'I' {
		closeConn(c)
		return
	}
	select {
	case p.idle <- c:
	default:
		closeConn(c)
	}
}

// flush closes every idle connection: after one connection to a
// participant broke, the others are suspect too (a cut link, a restarted
// server), and a request that matters (a rollback after a lost answer)
// must not go out on one of them and seem to fail while it arrived.
func (p *participant) flush() {
	for {
		select {
		case c := <-p.idle:
			closeConn(c)
		default:
			return
		}
	}
}

func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Close(ctx)
}

func (c *coordinator) closeAll() {
	for _, p := range c.parts {
		p.flush()
	}
}

// holderOf is the participant that holds account a.
func (c *coordinator) holderOf(a int) *participant { return c.parts[a%len(c.parts)] }

// setup creates each participant's tables and initial balances, trying
// until every participant answers: they may still be starting.
func (c *coordinator) setup(ctx context.Context) error {
	for _, p := range c.parts {
		for {
			err := c.setupOne(ctx, p)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.logger.Printf("set up %s: %v (retrying)", p.name, err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

func (c *coordinator) setupOne(ctx context.Context, p *participant) error {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := p.conn(sctx)
	if err != nil {
		return err
	}
	defer p.put(conn)
	stmts := []string{
		"CREATE TABLE IF NOT EXISTS accounts (id bigint PRIMARY KEY, balance bigint NOT NULL)",
		"CREATE TABLE IF NOT EXISTS ledger (id bigint PRIMARY KEY)",
	}
	for _, s := range stmts {
		if _, err := conn.Exec(sctx, s); err != nil {
			conn.Close(sctx)
			return err
		}
	}
	// Only accounts that do not exist yet are created: after a restart a
	// prepared transaction may hold an account's row lock, and an insert
	// that met the row would wait for it.
	rows, err := conn.Query(sctx, "SELECT id FROM accounts")
	if err != nil {
		conn.Close(sctx)
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		conn.Close(sctx)
		return err
	}
	have := map[int64]bool{}
	for _, id := range ids {
		have[id] = true
	}
	for a := 0; a < c.accounts; a++ {
		if c.holderOf(a) != p || have[int64(a)] {
			continue
		}
		if _, err := conn.Exec(sctx, "INSERT INTO accounts (id, balance) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", a, c.balance); err != nil {
			conn.Close(sctx)
			return err
		}
	}
	return nil
}

// branch is one participant's part of a transfer: balance changes by
// account, applied in account order.
type branch struct {
	p      *participant
	deltas [][2]int64 // account, change
}

func (c *coordinator) branches(t bankcheck.Transfer) []*branch {
	by := map[*participant]*branch{}
	var out []*branch
	for _, d := range [][2]int64{{int64(t.From), -t.Amount}, {int64(t.To), t.Amount}} {
		p := c.holderOf(int(d[0]))
		b := by[p]
		if b == nil {
			b = &branch{p: p}
			by[p] = b
			out = append(out, b)
		}
		b.deltas = append(b.deltas, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].p.name < out[j].p.name })
	for _, b := range out {
		sort.Slice(b.deltas, func(i, j int) bool { return b.deltas[i][0] < b.deltas[j][0] })
	}
	return out
}

// outcome of a transfer as the API reports it.
type outcome struct {
	status int
	msg    string
}

func (c *coordinator) handleTransfer(w http.ResponseWriter, r *http.Request) {
	var t bankcheck.Transfer
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&t); err != nil {
		http.Error(w, "bad transfer: "+err.Error(), http.StatusBadRequest)
		return
	}
	if t.From < 0 || t.From >= c.accounts || t.To < 0 || t.To >= c.accounts || t.From == t.To {
		http.Error(w, fmt.Sprintf("bad transfer: accounts %d and %d must differ and lie in 0..%d", t.From, t.To, c.accounts-1), http.StatusBadRequest)
		return
	}
	o := c.transfer(r.Context(), t)
	if o.status != http.StatusOK {
		c.logger.Printf("transfer %d: %d %s", t.ID, o.status, o.msg)
	}
	http.Error(w, o.msg, o.status)
}

// transfer runs one transfer's two phases.
func (c *coordinator) transfer(ctx context.Context, t bankcheck.Transfer) outcome {
	gid := GIDPrefix + strconv.FormatInt(t.ID, 10)
	c.mu.Lock()
	if c.inflight[gid] {
		c.mu.Unlock()
		return outcome{http.StatusConflict, "transfer " + gid + " is already in progress"}
	}
	c.inflight[gid] = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.inflight, gid)
		c.mu.Unlock()
	}()
	bs := c.branches(t)
	// Phase one: prepare on every participant, in name order, so two
	// transfers never wait for each other's locks in opposite orders.
	var prepared []*participant
	for _, b := range bs {
		maybe, err := c.prepare(ctx, b, t.ID, gid, c.prepareHold(t, bs, b.p))
		if err == nil {
			prepared = append(prepared, b.p)
			continue
		}
		if maybe {
			prepared = append(prepared, b.p)
		}
		c.rollback(prepared, gid)
		return outcome{http.StatusConflict, fmt.Sprintf("aborted: prepare on %s: %v", b.p.name, err)}
	}
	// The decision. In the durable mode it is on disk before any
	// participant is told to commit.
	if c.log != nil {
		if err := c.log.commit(gid); err != nil {
			c.rollback(prepared, gid)
			return outcome{http.StatusConflict, "aborted: the commit decision could not be logged: " + err.Error()}
		}
	}
	// Phase two.
	var unacked []string
	stopAt := c.holdAt(t, len(bs))
	for i, b := range bs {
		if i == stopAt {
			// Only now, with the first commits done, is the point reached.
			c.reach(t.ID)
			c.logger.Printf("transfer %d: stopped at the crash point after %d of %d commits", t.ID, i, len(bs))
			select {} // the nemesis kills the process here
		}
		if err := c.commitPrepared(ctx, b.p, gid); err != nil {
			unacked = append(unacked, fmt.Sprintf("%s: %v", b.p.name, err))
		}
	}
	if len(unacked) > 0 {
		msg := "unknown: COMMIT PREPARED unacknowledged on " + strings.Join(unacked, "; ")
		if c.log != nil {
			msg += " (the decision is logged: recovery finishes it)"
		}
		return outcome{http.StatusServiceUnavailable, msg}
	}
	return outcome{http.StatusOK, "committed"}
}

// holdAt is the index of the commit before which the armed hold stops this
// transfer, or -1.
func (c *coordinator) holdAt(t bankcheck.Transfer, n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.hold.armed || c.hold.at != "commit" || n <= c.hold.after {
		return -1
	}
	c.hold.armed = false
	return c.hold.after
}

// reach records that transfer id stands at the armed point, for the
// nemesis waiting on GET /hold.
func (c *coordinator) reach(id int64) {
	c.mu.Lock()
	c.hold.reached = strconv.FormatInt(id, 10)
	c.mu.Unlock()
}

// prepare runs a branch and prepares it. maybe reports that the branch may
// have been prepared although an error came back (the connection broke
// while PREPARE TRANSACTION was on its way).
func (c *coordinator) prepare(ctx context.Context, b *branch, id int64, gid string, held chan struct{}) (maybe bool, err error) {
	conn, err := b.p.conn(ctx)
	if err != nil {
		return false, err
	}
	defer b.p.put(conn)
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		conn.Close(ctx)
		return false, err
	}
	abort := func(err error) (bool, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if _, rerr := conn.Exec(rctx, "ROLLBACK"); rerr != nil {
			conn.Close(rctx)
		}
		return false, err
	}
	if _, err := conn.Exec(ctx, "SET LOCAL lock_timeout = '"+lockTimeout+"'"); err != nil {
		return abort(err)
	}
	for _, d := range b.deltas {
		tag, err := conn.Exec(ctx, "UPDATE accounts SET balance = balance + $1 WHERE id = $2", d[1], d[0])
		if err != nil {
			return abort(err)
		}
		if tag.RowsAffected() != 1 {
			return abort(fmt.Errorf("account %d is not on %s", d[0], b.p.name))
		}
	}
	if _, err := conn.Exec(ctx, "INSERT INTO ledger (id) VALUES ($1)", id); err != nil {
		return abort(err)
	}
	if held != nil {
		// The branch's work is done; only PREPARE is left to send.
		c.reach(id)
		c.logger.Printf("transfer %d: held before PREPARE on %s", id, b.p.name)
		select {
		case <-held:
		case <-ctx.Done():
			return abort(ctx.Err())
		}
	}
	// A participant that does not answer PREPARE within the timeout is
	// given up on; the transaction may still be prepared there later.
	pctx, cancel := context.WithTimeout(ctx, prepareTimeout)
	defer cancel()
	if _, err := conn.Exec(pctx, "PREPARE TRANSACTION '"+gid+"'"); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			// The server answered: it aborted the transaction.
			return abort(err)
		}
		conn.Close(context.WithoutCancel(ctx))
		b.p.flush()
		return true, err
	}
	return false, nil
}

// rollback rolls back a prepared transaction on each participant, once; a
// failure is left to recovery (durable mode) or to nobody (none mode).
func (c *coordinator) rollback(ps []*participant, gid string) {
	for _, p := range ps {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := c.finish(ctx, p, "ROLLBACK PREPARED", gid); err != nil {
			c.logger.Printf("rollback %s on %s: %v", gid, p.name, err)
		}
		cancel()
	}
}

func (c *coordinator) commitPrepared(ctx context.Context, p *participant, gid string) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return c.finish(cctx, p, "COMMIT PREPARED", gid)
}

// finish sends COMMIT PREPARED or ROLLBACK PREPARED.
func (c *coordinator) finish(ctx context.Context, p *participant, verb, gid string) error {
	conn, err := p.conn(ctx)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, verb+" '"+gid+"'")
	var pe *pgconn.PgError
	if err != nil && !errors.As(err, &pe) {
		conn.Close(ctx)
		p.flush()
		return err
	}
	p.put(conn)
	return err
}

// handleRead reads every balance under shared row locks taken on each
// participant in name order and held until all are read: a transfer can
// be neither half applied nor half prepared under it, so the read is
// atomic across participants. A prepared transaction nobody resolves
// holds its locks, and the read fails after the lock timeout.
func (c *coordinator) handleRead(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	bal := map[int]int64{}
	var conns []*pgx.Conn
	defer func() {
		for i, conn := range conns {
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if _, err := conn.Exec(rctx, "ROLLBACK"); err != nil {
				conn.Close(rctx)
			}
			cancel()
			c.parts[i].put(conn)
		}
	}()
	for _, p := range c.parts {
		conn, err := p.conn(ctx)
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		conns = append(conns, conn)
		if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
			http.Error(w, fmt.Sprintf("read on %s: %v", p.name, err), http.StatusConflict)
			return
		}
		if _, err := conn.Exec(ctx, "SET LOCAL lock_timeout = '"+lockTimeout+"'"); err != nil {
			http.Error(w, fmt.Sprintf("read on %s: %v", p.name, err), http.StatusConflict)
			return
		}
		rows, err := conn.Query(ctx, "SELECT id, balance FROM accounts ORDER BY id FOR SHARE")
		if err != nil {
			http.Error(w, fmt.Sprintf("read on %s: %v", p.name, err), http.StatusConflict)
			return
		}
		for rows.Next() {
			var id, b int64
			if err := rows.Scan(&id, &b); err != nil {
				rows.Close()
				http.Error(w, fmt.Sprintf("read on %s: %v", p.name, err), http.StatusConflict)
				return
			}
			bal[int(id)] = b
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			http.Error(w, fmt.Sprintf("read on %s: %v", p.name, err), http.StatusConflict)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(bal)
}

// handleRecover runs one recovery pass now and answers once it has
// resolved everything it can: 200, or 503 with what is left. Without a log
// there is nothing to recover from, and it answers 200 at once. The final
// phase calls it, so the state it reads is the one recovery leaves, not one
// the next background pass would still change.
func (c *coordinator) handleRecover(w http.ResponseWriter, r *http.Request) {
	if c.log == nil {
		fmt.Fprintln(w, "no log: nothing to recover")
		return
	}
	if err := c.resolve(r.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "recovered")
}

// handleArm arms the hook: POST /hold?at=commit&after=N (N commits of the
// next transfer spanning more than N participants happen, then it stops),
// POST /hold?at=prepare&on=P (the next transfer spanning P and another
// participant stops before its PREPARE on P until POST /release);
// POST /hold?at=none disarms and releases.
func (c *coordinator) handleArm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	h := hold{at: q.Get("at"), on: q.Get("on"), release: make(chan struct{})}
	switch h.at {
	case "commit":
		n, err := strconv.Atoi(q.Get("after"))
		if err != nil || n < 0 {
			http.Error(w, "after: want a whole number, 0 or more", http.StatusBadRequest)
			return
		}
		h.after, h.armed = n, true
	case "prepare":
		if c.participant(h.on) == nil {
			http.Error(w, fmt.Sprintf("on: no participant %q", h.on), http.StatusBadRequest)
			return
		}
		h.armed = true
	case "none":
	default:
		http.Error(w, "at: want commit, prepare or none", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	if c.hold.release != nil {
		closeOnce(c.hold.release)
	}
	c.hold = h
	c.mu.Unlock()
	c.logger.Printf("hook armed: %s", r.URL.RawQuery)
	fmt.Fprintln(w, "armed")
}

// handleRelease lets a transfer held before its PREPARE go on.
func (c *coordinator) handleRelease(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	if c.hold.release != nil {
		closeOnce(c.hold.release)
	}
	c.mu.Unlock()
	fmt.Fprintln(w, "released")
}

// closeOnce closes ch unless it is closed; callers hold c.mu.
func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func (c *coordinator) participant(name string) *participant {
	for _, p := range c.parts {
		if p.name == name {
			return p
		}
	}
	return nil
}

// prepareHold returns, for a transfer about to prepare on p, the channel to
// wait on before sending PREPARE, or nil.
func (c *coordinator) prepareHold(t bankcheck.Transfer, bs []*branch, p *participant) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.hold.armed || c.hold.at != "prepare" || c.hold.on != p.name || len(bs) < 2 {
		return nil
	}
	c.hold.armed = false
	return c.hold.release
}

// handleHoldState answers "reached <transfer id>", "armed" or "idle".
func (c *coordinator) handleHoldState(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	h := c.hold
	c.mu.Unlock()
	switch {
	case h.reached != "":
		fmt.Fprintln(w, "reached", h.reached)
	case h.armed:
		fmt.Fprintln(w, "armed")
	default:
		fmt.Fprintln(w, "idle")
	}
}

// recoverUntilDone resolves every prepared transaction the coordinator
// owns, trying until every participant answers.
func (c *coordinator) recoverUntilDone(ctx context.Context) error {
	for {
		err := c.resolve(ctx)
		if err == nil {
			return nil
		}
		c.logger.Printf("recovery: %v (retrying)", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *coordinator) resolverLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
		if err := c.resolve(ctx); err != nil && ctx.Err() == nil {
			c.logger.Printf("resolver: %v", err)
		}
	}
}

// resolve commits or rolls back, on every participant, each prepared
// transaction of ours that no transfer in progress owns: commit when the
// log holds its decision, roll back otherwise.
func (c *coordinator) resolve(ctx context.Context) error {
	var errs []error
	for _, p := range c.parts {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		gids, err := preparedGIDs(rctx, p)
		if err != nil {
			cancel()
			errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
			continue
		}
		for _, gid := range gids {
			c.mu.Lock()
			busy := c.inflight[gid]
			c.mu.Unlock()
			if busy {
				continue
			}
			verb := "ROLLBACK PREPARED"
			if c.log.committed(gid) {
				verb = "COMMIT PREPARED"
			}
			if err := c.finish(rctx, p, verb, gid); err != nil {
				var pe *pgconn.PgError
				if errors.As(err, &pe) && pe.Code == "42704" {
					continue // finished meanwhile by its own transfer
				}
				errs = append(errs, fmt.Errorf("%s %s on %s: %w", verb, gid, p.name, err))
				continue
			}
			c.logger.Printf("recovery: %s %s on %s", verb, gid, p.name)
		}
		cancel()
	}
	return errors.Join(errs...)
}

// preparedGIDs lists the transactions of ours prepared on p.
func preparedGIDs(ctx context.Context, p *participant) ([]string, error) {
	conn, err := p.conn(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, "SELECT gid FROM pg_prepared_xacts WHERE gid LIKE '"+GIDPrefix+"%' ORDER BY gid")
	if err != nil {
		conn.Close(ctx)
		return nil, err
	}
	gids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		conn.Close(ctx)
		return nil, err
	}
	p.put(conn)
	return gids, nil
}

// decisionLog is the durable log: one line "commit <gid>" per decision,
// fsynced before the decision is acted on.
type decisionLog struct {
	mu   sync.Mutex
	f    *os.File
	done map[string]bool
}

func openDecisionLog(path string) (*decisionLog, error) {
	l := &decisionLog{done: map[string]bool{}}
	if b, err := os.ReadFile(path); err == nil {
		lines := strings.Split(string(b), "\n")
		// The last piece is empty or a torn line: a decision never made,
		// since nothing acts on a decision before its fsync returns.
		for _, line := range lines[:len(lines)-1] {
			verb, gid, ok := strings.Cut(line, " ")
			if ok && verb == "commit" && strings.HasPrefix(gid, GIDPrefix) {
				l.done[gid] = true
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("decision log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("decision log: %w", err)
	}
	// Cut a torn last line off, so the next decision starts a line of its
	// own.
	b, err := io.ReadAll(f)
	if err == nil {
		keep := int64(strings.LastIndexByte(string(b), '\n') + 1)
		if err = f.Truncate(keep); err == nil {
			_, err = f.Seek(keep, io.SeekStart)
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("decision log: %w", err)
	}
	l.f = f
	return l, nil
}

func (l *decisionLog) commit(gid string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.WriteString("commit " + gid + "\n"); err != nil {
		return err
	}
	if err := l.f.Sync(); err != nil {
		return err
	}
	l.done[gid] = true
	return nil
}

func (l *decisionLog) committed(gid string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done[gid]
}

func (l *decisionLog) close() { _ = l.f.Close() }
