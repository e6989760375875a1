package gossip

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chaostest/chaos/core"
)

// NodeOptions are the node program's flags.
type NodeOptions struct {
	Name    string
	API     string // listen address of the client API (HTTP)
	Gossip  string // listen address of peer traffic
	Control string // listen address of the clock control port
	// DataDir keeps every applied version, so a killed node restarts with
	// what it had (written without fsync: a process dies, the host does
	// not).
	DataDir string
	// Peers maps every other node to the address this node dials for it
	// (through the runtime's link layer, so partitions cut it).
	Peers         map[string]string
	RumorInterval time.Duration
	AEInterval    time.Duration
	Seed          int64
	Engine        Config
}

func parseNodeFlags(args []string) (NodeOptions, error) {
	var o NodeOptions
	fs := flag.NewFlagSet("chaos node gossip", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var peers string
	fs.StringVar(&o.Name, "name", "", "this node's name")
	fs.StringVar(&o.API, "api", "127.0.0.1:0", "client API listen address")
	fs.StringVar(&o.Gossip, "gossip", "127.0.0.1:0", "peer listen address")
	fs.StringVar(&o.Control, "control", "", "clock control listen address")
	fs.StringVar(&o.DataDir, "data", "", "directory that keeps the replica across restarts (empty: memory only)")
	fs.StringVar(&peers, "peers", "", "other nodes as name=addr,name=addr")
	fs.DurationVar(&o.RumorInterval, "rumor-interval", 100*time.Millisecond, "rumor round period")
	fs.DurationVar(&o.AEInterval, "anti-entropy-interval", time.Second, "anti-entropy period")
	fs.Int64Var(&o.Seed, "seed", 1, "random seed")
	fs.BoolVar(&o.Engine.Rumor, "rumor", true, "spread updates by rumor mongering")
	fs.IntVar(&o.Engine.Fanout, "fanout", 2, "peers per rumor round")
	fs.IntVar(&o.Engine.K, "k", 2, "lose interest with probability 1/k on a push to a peer that knew (0: never)")
	fs.BoolVar(&o.Engine.AntiEntropy, "anti-entropy", true, "run push-pull anti-entropy")
	fs.BoolVar(&o.Engine.Ring, "ring", false, "anti-entropy with the ring successor instead of a random peer")
	fs.IntVar(&o.Engine.Buckets, "buckets", 64, "key ranges per digest")
	fs.BoolVar(&o.Engine.BrokenAntiEntropy, "broken-anti-entropy", false, "deliberately keep stale values in anti-entropy (for tests)")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("flags: %w", err)
	}
	if o.Name == "" {
		return o, errors.New("--name is required")
	}
	o.Peers = map[string]string{}
	for _, p := range strings.Split(peers, ",") {
		if p == "" {
			continue
		}
		name, addr, ok := strings.Cut(p, "=")
		if !ok || name == "" || addr == "" {
			return o, fmt.Errorf("--peers: %q is not name=addr", p)
		}
		o.Peers[name] = addr
	}
	if o.RumorInterval <= 0 || o.AEInterval <= 0 {
		return o, errors.New("--rumor-interval and --anti-entropy-interval must be positive")
	}
	all := []string{o.Name}
	for n := range o.Peers {
		all = append(all, n)
	}
	sort.Strings(all)
	o.Engine.Self, o.Engine.Peers, o.Engine.KeepLog = o.Name, all, true
	return o, nil
}

// Main runs the node program until ctx ends (`chaos node gossip`).
func Main(ctx context.Context, args []string) error {
	o, err := parseNodeFlags(args)
	if err != nil {
		return err
	}
	clock, err := core.NewNodeClock()
	if err != nil {
		return err
	}
	n, err := StartNode(ctx, o, clock)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return n.Close()
}

// Node is a running store node.
type Node struct {
	o     NodeOptions
	clock *core.NodeClock

	mu  sync.Mutex
	eng *Engine

	listeners []net.Listener
	servers   []*http.Server
	peers     map[string]*peerConn
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	inMu    sync.Mutex
	inConns map[net.Conn]struct{}

	data     *bufio.Writer // guarded by mu
	dataFile *os.File
}

const dataFile = "versions.jsonl"

type savedVersion struct {
	Key string `json:"key"`
	Applied
}

// loadVersions reads the saved versions; a torn last line (the node was
// killed mid-write) is dropped.
func loadVersions(dir string) ([]savedVersion, error) {
	b, err := os.ReadFile(filepath.Join(dir, dataFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read data file: %w", err)
	}
	var out []savedVersion
	lines := bytes.Split(b, []byte("\n"))
	for i, l := range lines {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var v savedVersion
		if err := json.Unmarshal(l, &v); err != nil {
			if i == len(lines)-1 {
				break
			}
			return nil, fmt.Errorf("data file %s line %d: %w", filepath.Join(dir, dataFile), i+1, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// flush writes saved versions out; called under n.mu after every change.
func (n *Node) flushLocked() {
	if n.data != nil {
		if err := n.data.Flush(); err != nil {
			log.Printf("save versions: %v", err)
		}
	}
}

// StartNode listens and starts the gossip loops.
func StartNode(ctx context.Context, o NodeOptions, clock *core.NodeClock) (*Node, error) {
	h := fnv.New64a()
	h.Write([]byte(o.Name))
	rng := rand.New(rand.NewPCG(uint64(o.Seed), h.Sum64()))
	n := &Node{o: o, clock: clock, peers: map[string]*peerConn{}, inConns: map[net.Conn]struct{}{}}
	cfg := o.Engine
	var saved []savedVersion
	if o.DataDir != "" {
		var err error
		if saved, err = loadVersions(o.DataDir); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(filepath.Join(o.DataDir, dataFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open data file: %w", err)
		}
		n.data = bufio.NewWriter(f)
		n.dataFile = f
		cfg.OnApply = func(key string, a Applied) {
			// Called under n.mu; flushed before any answer leaves.
			b, _ := json.Marshal(savedVersion{Key: key, Applied: a})
			n.data.Write(append(b, '\n'))
		}
	}
	n.eng = NewEngine(cfg, rng, func() int64 { return clock.Now().UnixNano() })
	for _, v := range saved {
		n.eng.Restore(v.Key, v.Applied)
	}
	ctx, n.cancel = context.WithCancel(ctx)
	for name, addr := range o.Peers {
		n.peers[name] = newPeerConn(name, addr)
	}
	gl, err := net.Listen("tcp", o.Gossip)
	if err != nil {
		return nil, fmt.Errorf("listen gossip %s: %w", o.Gossip, err)
	}
	n.listeners = append(n.listeners, gl)
	if err := n.serveHTTP(o.API, n.apiHandler()); err != nil {
		n.Close()
		return nil, err
	}
	if o.Control != "" {
		if err := n.serveHTTP(o.Control, clock.Handler()); err != nil {
			n.Close()
			return nil, err
		}
	}
	n.wg.Add(3)
	go func() { defer n.wg.Done(); n.acceptPeers(gl) }()
	go func() { defer n.wg.Done(); n.loop(ctx, o.RumorInterval, (*Engine).Tick) }()
	go func() { defer n.wg.Done(); n.loop(ctx, o.AEInterval, (*Engine).AntiEntropy) }()
	return n, nil
}

func (n *Node) serveHTTP(addr string, h http.Handler) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	n.listeners = append(n.listeners, l)
	n.servers = append(n.servers, s)
	go s.Serve(l)
	return nil
}

// APIAddr is the address the client API listens on.
func (n *Node) APIAddr() string { return n.listeners[1].Addr().String() }

// GossipAddr is the address peers reach this node at.
func (n *Node) GossipAddr() string { return n.listeners[0].Addr().String() }

// Close stops the node.
func (n *Node) Close() error {
	n.cancel()
	for _, s := range n.servers {
		s.Close()
	}
	for _, l := range n.listeners {
		l.Close()
	}
	n.inMu.Lock()
	for c := range n.inConns {
		c.Close()
	}
	n.inMu.Unlock()
	for _, p := range n.peers {
		p.close()
	}
	n.wg.Wait()
	if n.dataFile != nil {
		n.mu.Lock()
		n.flushLocked()
		n.mu.Unlock()
		return n.dataFile.Close()
	}
	return nil
}

func (n *Node) loop(ctx context.Context, every time.Duration, step func(*Engine) []Msg) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.mu.Lock()
		msgs := step(n.eng)
		n.mu.Unlock()
		n.dispatch(msgs)
	}
}

func (n *Node) dispatch(msgs []Msg) {
	for _, m := range msgs {
		if p := n.peers[m.To]; p != nil {
			p.send(m)
		}
	}
}

func (n *Node) acceptPeers(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		n.inMu.Lock()
		n.inConns[c] = struct{}{}
		n.inMu.Unlock()
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			defer func() {
				c.Close()
				n.inMu.Lock()
				delete(n.inConns, c)
				n.inMu.Unlock()
			}()
			r := bufio.NewReader(c)
			for {
				m, err := readFrame(r)
				if err != nil {
					return
				}
				n.mu.Lock()
				replies := n.eng.Step(m)
				n.flushLocked()
				n.mu.Unlock()
				// Replies go out on this node's own link to the sender,
				// so a one-way cut stops them as it would in a network.
				n.dispatch(replies)
			}
		}()
	}
}

const maxFrame = 64 << 20

func writeFrame(w io.Writer, m Msg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func readFrame(r *bufio.Reader) (Msg, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Msg{}, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > maxFrame {
		return Msg{}, fmt.Errorf("frame of %d bytes is too large", size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return Msg{}, err
	}
	var m Msg
	if err := json.Unmarshal(b, &m); err != nil {
		return Msg{}, fmt.Errorf("bad frame: %w", err)
	}
	return m, nil
}

// peerConn is this node's outgoing link to one peer: a queue drained by one
// goroutine over one TCP connection, re-dialled after any error. A message
// that cannot be sent is dropped; anti-entropy repairs what rumors miss.
type peerConn struct {
	name, addr string
	q          chan Msg
	done       chan struct{}
	once       sync.Once
}

func newPeerConn(name, addr string) *peerConn {
	p := &peerConn{name: name, addr: addr, q: make(chan Msg, 4096), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *peerConn) send(m Msg) {
	select {
	case p.q <- m:
	default: // queue full: the peer is unreachable or slow; drop.
	}
}

func (p *peerConn) close() { p.once.Do(func() { close(p.done) }) }

func (p *peerConn) run() {
	var c net.Conn
	var w *bufio.Writer
	var lastDial time.Time
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for {
		var m Msg
		select {
		case <-p.done:
			return
		case m = <-p.q:
		}
		if c == nil {
			if time.Since(lastDial) < 50*time.Millisecond {
				continue
			}
			lastDial = time.Now()
			var err error
			c, err = net.DialTimeout("tcp", p.addr, 500*time.Millisecond)
			if err != nil {
				c = nil
				continue
			}
			w = bufio.NewWriter(c)
		}
		c.SetWriteDeadline(time.Now().Add(time.Second))
		err := writeFrame(w, m)
		// Batch whatever else is queued into the same flush.
		for err == nil && len(p.q) > 0 {
			err = writeFrame(w, <-p.q)
		}
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			c.Close()
			c = nil
		}
	}
}

// GetResponse is the API's answer to a read.
type GetResponse struct {
	Found bool  `json:"found"`
	Entry Entry `json:"entry"`
}

// DigestResponse is the API's answer to a digest probe.
type DigestResponse struct {
	Digest uint64 `json:"digest"`
	Hot    int    `json:"hot"`
	Keys   int    `json:"keys"`
}

func (n *Node) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, "ok") })
	mux.HandleFunc("GET /kv", func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		e, ok := n.eng.Get(r.URL.Query().Get("key"))
		n.mu.Unlock()
		writeJSON(w, GetResponse{Found: ok, Entry: e})
	})
	put := func(deleted bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			key := r.URL.Query().Get("key")
			if key == "" {
				http.Error(w, "key is required", http.StatusBadRequest)
				return
			}
			b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			n.mu.Lock()
			e := n.eng.Put(key, string(b), deleted)
			n.flushLocked()
			n.mu.Unlock()
			writeJSON(w, e)
		}
	}
	mux.HandleFunc("PUT /kv", put(false))
	mux.HandleFunc("DELETE /kv", put(true))
	mux.HandleFunc("GET /digest", func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		d := DigestResponse{Digest: n.eng.RootDigest(), Hot: n.eng.Hot(), Keys: len(n.eng.data)}
		n.mu.Unlock()
		writeJSON(w, d)
	})
	mux.HandleFunc("GET /dump", func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		d := n.eng.Dump()
		n.mu.Unlock()
		writeJSON(w, d)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("write response: %v", err)
	}
}
