// Package gossip is our own eventually consistent key-value store, built to
// be the AP system of the CAP discussion: any node accepts reads and writes,
// values are last-writer-wins registers ordered by a hybrid logical clock
// (node id breaks ties), deletes are tombstones, and updates spread by two
// mechanisms from Demers et al. 1987 ("Epidemic algorithms for replicated
// database maintenance"):
//
//   - rumor mongering (SIR, push with feedback and coin): each round a node
//     pushes its hot updates to fanout random peers; when a peer already knew
//     an update, the pusher loses interest in it with probability 1/k, so
//     rumors die out and leave a small residue of nodes never reached;
//   - anti-entropy (push-pull): a node sends a digest (one hash per key
//     bucket) to a peer, which answers with its entries of the buckets that
//     differ; the first node merges them and sends back only the entries the
//     peer lacks or has older. Peers are random, or each node's successor on a
//     ring (Ring), which converges in bounded time.
//
// The protocol is the Engine, a pure state machine in the style of etcd's
// raft: it reads no clock but the one it is given, does no I/O, and is driven
// by Tick, AntiEntropy and Step, which return the messages to send. The node
// program (Main) wraps it in TCP and HTTP; the simulator (Simulate) wraps it
// in virtual time and an in-process network, so measurements of spreading
// are measurements of the code that runs in the real store.
package gossip

import (
	"math/rand/v2"
	"slices"
	"sort"
)

// HLC is a hybrid logical clock reading packed in 64 bits: milliseconds of
// physical time in the high 48 bits and a logical counter in the low 16.
// It orders updates like a Lamport clock while staying close to real time.
type HLC uint64

// hlcFromNanos is the smallest HLC reading at physical time ns.
func hlcFromNanos(ns int64) HLC {
	if ns < 0 {
		ns = 0
	}
	return HLC(uint64(ns/1e6) << 16)
}

// Millis is the physical part.
func (h HLC) Millis() int64 { return int64(h >> 16) }

// Entry is one key's register: a value or a tombstone, with its version.
type Entry struct {
	Key     string `json:"key"`
	Value   string `json:"value,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	HLC     HLC    `json:"hlc"`
	// Origin is the node that accepted the write; it breaks HLC ties.
	Origin string `json:"origin"`
}

// Newer reports whether e wins over o under last-writer-wins.
func (e *Entry) Newer(o *Entry) bool {
	if e.HLC != o.HLC {
		return e.HLC > o.HLC
	}
	return e.Origin > o.Origin
}

func (e *Entry) version() Version { return Version{Key: e.Key, HLC: e.HLC, Origin: e.Origin} }

func (e *Entry) hash() uint64 {
	h := fnvString(fnvOffset, e.Key)
	h = fnvString(h^0xff, e.Value)
	for i := range 8 {
		h = (h ^ uint64(byte(e.HLC>>(8*i)))) * fnvPrime
	}
	if e.Deleted {
		h = (h ^ 1) * fnvPrime
	}
	h = fnvString(h, e.Origin)
	// Mix so that the XOR of many hashes stays well spread.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnvString is FNV-1a over s without allocating a hasher.
func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

// Version names one write of a key.
type Version struct {
	Key    string `json:"key"`
	HLC    HLC    `json:"hlc"`
	Origin string `json:"origin"`
}

// Applied is one version a node took as its current value, and when (the
// node's clock, Unix nanoseconds). The log of these is what the checker uses
// to time convergence.
type Applied struct {
	Value   string `json:"value,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	HLC     HLC    `json:"hlc"`
	Origin  string `json:"origin"`
	At      int64  `json:"at"`
}

// Kind is a message type.
type Kind uint8

// The message kinds.
const (
	// Push carries hot rumors; the receiver answers with Feedback.
	Push Kind = iota + 1
	// Feedback lists the pushed versions the receiver already knew.
	Feedback
	// Digest opens an anti-entropy exchange with one hash per bucket.
	Digest
	// Diff answers a digest: the responder's entries of the differing
	// buckets, which are listed so the opener can send its own back.
	Diff
	// Entries closes an exchange: what the responder lacks.
	Entries
)

var kindNames = map[Kind]string{Push: "push", Feedback: "feedback", Digest: "digest", Diff: "diff", Entries: "entries"}

func (k Kind) String() string { return kindNames[k] }

// Msg is one message between nodes.
type Msg struct {
	Kind    Kind      `json:"kind"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Entries []Entry   `json:"entries,omitempty"`
	Known   []Version `json:"known,omitempty"`
	Buckets []uint64  `json:"buckets,omitempty"` // Digest: hashes; Diff: indices
}

// Config tunes an Engine. Zero values take the defaults of DefaultConfig.
type Config struct {
	// Self is this node; Peers every node of the cluster (Self included).
	// The engine does not modify Peers.
	Self  string
	Peers []string
	// Rumor turns rumor mongering on; Fanout is how many peers each round
	// pushes to; K is the loss of interest: after pushing to a peer that
	// already knew an update, stop with probability 1/K. K = 0 never stops
	// (pure push, for measuring spread).
	Rumor  bool
	Fanout int
	K      int
	// AntiEntropy turns the periodic digest exchange on; Ring picks each
	// node's successor instead of a random peer.
	AntiEntropy bool
	Ring        bool
	// Buckets is how many key ranges a digest hashes.
	Buckets int
	// BrokenAntiEntropy keeps a node's own value for any key it already
	// has when merging an anti-entropy exchange, whatever the versions: a
	// deliberate bug, so tests can see the convergence checker fail.
	BrokenAntiEntropy bool
	// OnApply, when set, is called with every version the replica takes as
	// current, before the call that caused it returns: the node program
	// saves it so a restart keeps what was acknowledged.
	OnApply func(key string, a Applied) `json:"-"`
	// KeepLog records every applied version (for the debug dump); the
	// simulator turns it off.
	KeepLog bool
}

// DefaultConfig is a small LAN cluster's preset.
func DefaultConfig(self string, peers []string) Config {
	return Config{Self: self, Peers: peers, Rumor: true, Fanout: 2, K: 2, AntiEntropy: true,
		Buckets: 64, KeepLog: true}
}

// Counters count what an engine sent, by kind, and what it learned.
type Counters struct {
	Sent     map[string]int64 `json:"sent"`
	Entries  int64            `json:"entries_sent"`
	Received int64            `json:"received"`
	// Learned counts updates that were new to this node, by mechanism.
	LearnedRumor int64 `json:"learned_rumor"`
	LearnedAE    int64 `json:"learned_anti_entropy"`
	Writes       int64 `json:"writes"`
}

// Engine is one node's replica and gossip state. It is not safe for
// concurrent use; the node program serialises calls.
type Engine struct {
	cfg   Config
	rng   *rand.Rand
	now   func() int64 // Unix nanoseconds, this node's clock
	clock HLC
	self  int // index of Self in Peers

	data    map[string]*Entry
	log     map[string][]Applied
	buckets []uint64
	hot     map[Version]*Entry // rumors this node still spreads
	hotKeys []Version          // hot in insertion order, for determinism
	aeRound int

	sent     [Entries + 1]int64
	entries  int64
	received int64
	learnedR int64
	learnedA int64
	writes   int64
}

// NewEngine returns an empty replica. rng drives every random choice; now is
// the node's clock.
func NewEngine(cfg Config, rng *rand.Rand, now func() int64) *Engine {
	if !sort.StringsAreSorted(cfg.Peers) {
		cfg.Peers = slices.Clone(cfg.Peers)
		sort.Strings(cfg.Peers)
	}
	return newEngine(cfg, rng, now)
}

// newEngine trusts cfg.Peers to be sorted: a simulation shares one sorted
// slice among all its engines, read-only.
func newEngine(cfg Config, rng *rand.Rand, now func() int64) *Engine {
	if cfg.Buckets <= 0 {
		cfg.Buckets = 64
	}
	if cfg.Fanout <= 0 {
		cfg.Fanout = 1
	}
	e := &Engine{cfg: cfg, rng: rng, now: now, data: map[string]*Entry{},
		buckets: make([]uint64, cfg.Buckets), hot: map[Version]*Entry{}}
	e.self = sort.SearchStrings(cfg.Peers, cfg.Self)
	return e
}

// Config returns the engine's configuration.
func (e *Engine) Config() Config { return e.cfg }

// tick advances the HLC for a local event.
func (e *Engine) tick() HLC {
	pt := hlcFromNanos(e.now())
	if pt > e.clock {
		e.clock = pt
	} else {
		e.clock++
	}
	return e.clock
}

// observe moves the HLC past a remote reading.
func (e *Engine) observe(h HLC) {
	if h > e.clock {
		e.clock = h
	}
}

// Put writes key locally (a tombstone when deleted) and starts a rumor.
func (e *Engine) Put(key, value string, deleted bool) Entry {
	en := Entry{Key: key, Value: value, Deleted: deleted, HLC: e.tick(), Origin: e.cfg.Self}
	if deleted {
		en.Value = ""
	}
	e.apply(&en)
	e.writes++
	e.heat(&en)
	return en
}

// Get returns key's entry (a tombstone too); ok is false for a key never
// written.
func (e *Engine) Get(key string) (Entry, bool) {
	en, ok := e.data[key]
	if !ok {
		return Entry{}, false
	}
	return *en, true
}

// Has reports whether the replica holds key at version v or newer.
func (e *Engine) Has(v Version) bool {
	cur, ok := e.data[v.Key]
	if !ok {
		return false
	}
	probe := Entry{HLC: v.HLC, Origin: v.Origin}
	return !probe.Newer(cur)
}

// apply merges en and reports whether it was newer than what the replica
// held.
func (e *Engine) apply(en *Entry) bool {
	e.observe(en.HLC)
	cur, ok := e.data[en.Key]
	if ok && !en.Newer(cur) {
		return false
	}
	a := Applied{Value: en.Value, Deleted: en.Deleted, HLC: en.HLC, Origin: en.Origin, At: e.now()}
	e.install(en, a)
	if e.cfg.OnApply != nil {
		e.cfg.OnApply(en.Key, a)
	}
	return true
}

func (e *Engine) install(en *Entry, a Applied) {
	b := e.bucket(en.Key)
	if cur, ok := e.data[en.Key]; ok {
		e.buckets[b] ^= cur.hash()
	}
	cp := *en
	e.data[en.Key] = &cp
	e.buckets[b] ^= cp.hash()
	if e.cfg.KeepLog {
		if e.log == nil {
			e.log = map[string][]Applied{}
		}
		e.log[en.Key] = append(e.log[en.Key], a)
	}
}

// Restore replays one version saved by OnApply, as the node starts again:
// it becomes current if newer, with its original time, and starts no rumor.
func (e *Engine) Restore(key string, a Applied) {
	en := Entry{Key: key, Value: a.Value, Deleted: a.Deleted, HLC: a.HLC, Origin: a.Origin}
	e.observe(en.HLC)
	if cur, ok := e.data[key]; ok && !en.Newer(cur) {
		return
	}
	e.install(&en, a)
}

func (e *Engine) bucket(key string) int {
	if len(e.buckets) == 1 {
		return 0
	}
	return int(fnvString(fnvOffset, key) % uint64(len(e.buckets)))
}

func (e *Engine) heat(en *Entry) {
	if !e.cfg.Rumor {
		return
	}
	v := en.version()
	if _, ok := e.hot[v]; ok {
		return
	}
	cp := *en
	e.hot[v] = &cp
	e.hotKeys = append(e.hotKeys, v)
}

func (e *Engine) cool(v Version) {
	if _, ok := e.hot[v]; !ok {
		return
	}
	delete(e.hot, v)
	if i := slices.Index(e.hotKeys, v); i >= 0 {
		e.hotKeys = slices.Delete(e.hotKeys, i, i+1)
	}
}

// Hot is the number of rumors this node still spreads.
func (e *Engine) Hot() int { return len(e.hot) }

func (e *Engine) send(m Msg) Msg {
	m.From = e.cfg.Self
	e.sent[m.Kind]++
	e.entries += int64(len(m.Entries))
	return m
}

// randomPeers picks n distinct peers other than self.
func (e *Engine) randomPeers(n int) []string {
	others := len(e.cfg.Peers) - 1
	if others <= 0 {
		return nil
	}
	n = min(n, others)
	out := make([]string, 0, n)
	for len(out) < n {
		i := e.rng.IntN(others)
		if i >= e.self {
			i++
		}
		p := e.cfg.Peers[i]
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// Tick is one rumor-mongering round: every hot update goes to Fanout random
// peers, batched into one message per peer.
func (e *Engine) Tick() []Msg {
	if len(e.hot) == 0 || !e.cfg.Rumor {
		return nil
	}
	entries := make([]Entry, 0, len(e.hotKeys))
	for _, v := range e.hotKeys {
		entries = append(entries, *e.hot[v])
	}
	var out []Msg
	for _, p := range e.randomPeers(e.cfg.Fanout) {
		out = append(out, e.send(Msg{Kind: Push, To: p, Entries: entries}))
	}
	return out
}

// AntiEntropy opens an exchange with one peer: a random one, or the ring
// successor.
func (e *Engine) AntiEntropy() []Msg {
	if !e.cfg.AntiEntropy || len(e.cfg.Peers) < 2 {
		return nil
	}
	var p string
	if e.cfg.Ring {
		p = e.cfg.Peers[(e.self+1)%len(e.cfg.Peers)]
	} else {
		p = e.randomPeers(1)[0]
	}
	e.aeRound++
	return []Msg{e.send(Msg{Kind: Digest, To: p, Buckets: slices.Clone(e.buckets)})}
}

// Step handles one message and returns the replies.
func (e *Engine) Step(m Msg) []Msg {
	e.received++
	switch m.Kind {
	case Push:
		var known []Version
		for i := range m.Entries {
			en := &m.Entries[i]
			if e.Has(en.version()) {
				known = append(known, en.version())
				continue
			}
			if e.apply(en) {
				e.learnedR++
			}
			e.heat(en)
		}
		if len(known) == 0 {
			return nil
		}
		return []Msg{e.send(Msg{Kind: Feedback, To: m.From, Known: known})}
	case Feedback:
		if e.cfg.K <= 0 {
			return nil
		}
		for _, v := range m.Known {
			if _, ok := e.hot[v]; ok && e.rng.IntN(e.cfg.K) == 0 {
				e.cool(v)
			}
		}
		return nil
	case Digest:
		if len(m.Buckets) != len(e.buckets) {
			return nil
		}
		var diff []uint64
		for i, h := range m.Buckets {
			if h != e.buckets[i] {
				diff = append(diff, uint64(i))
			}
		}
		if len(diff) == 0 {
			return nil
		}
		return []Msg{e.send(Msg{Kind: Diff, To: m.From, Buckets: diff, Entries: e.entriesIn(diff)})}
	case Diff:
		theirs := make(map[string]*Entry, len(m.Entries))
		for i := range m.Entries {
			theirs[m.Entries[i].Key] = &m.Entries[i]
		}
		mine := e.entriesIn(m.Buckets)
		e.mergeAE(m.Entries)
		// Send back only what the peer lacks or holds older.
		var back []Entry
		for i := range mine {
			t, ok := theirs[mine[i].Key]
			if !ok || mine[i].Newer(t) {
				back = append(back, mine[i])
			}
		}
		if len(back) == 0 {
			return nil
		}
		return []Msg{e.send(Msg{Kind: Entries, To: m.From, Entries: back})}
	case Entries:
		e.mergeAE(m.Entries)
	}
	return nil
}

func (e *Engine) mergeAE(entries []Entry) {
	for i := range entries {
		en := &entries[i]
		if e.cfg.BrokenAntiEntropy {
			if _, ok := e.data[en.Key]; ok {
				continue
			}
		}
		if e.apply(en) {
			e.learnedA++
		}
	}
}

// entriesIn returns the replica's entries in the given buckets, sorted by key.
func (e *Engine) entriesIn(buckets []uint64) []Entry {
	want := make(map[int]bool, len(buckets))
	for _, b := range buckets {
		want[int(b)] = true
	}
	var out []Entry
	for _, k := range e.keys() {
		if want[e.bucket(k)] {
			out = append(out, *e.data[k])
		}
	}
	return out
}

func (e *Engine) keys() []string {
	ks := make([]string, 0, len(e.data))
	for k := range e.data {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// RootDigest is one hash of the whole replica: equal on two nodes exactly
// when their buckets agree (up to hash collisions).
func (e *Engine) RootDigest() uint64 {
	h := uint64(1469598103934665603)
	for _, b := range e.buckets {
		h = (h ^ b) * 1099511628211
	}
	return h
}

// Dump is a node's whole state, for the checker's final phase.
type Dump struct {
	Node     string               `json:"node"`
	Entries  []Entry              `json:"entries"`
	Log      map[string][]Applied `json:"log,omitempty"`
	Digest   uint64               `json:"digest"`
	Hot      int                  `json:"hot"`
	Counters Counters             `json:"counters"`
}

// Dump copies the replica, its log and its counters.
func (e *Engine) Dump() Dump {
	d := Dump{Node: e.cfg.Self, Digest: e.RootDigest(), Hot: len(e.hot), Log: map[string][]Applied{}}
	for _, k := range e.keys() {
		d.Entries = append(d.Entries, *e.data[k])
		if l := e.log[k]; len(l) > 0 {
			d.Log[k] = slices.Clone(l)
		}
	}
	d.Counters = e.Counters()
	return d
}

// Counters returns a copy of the counters.
func (e *Engine) Counters() Counters {
	c := Counters{Sent: map[string]int64{}, Entries: e.entries, Received: e.received,
		LearnedRumor: e.learnedR, LearnedAE: e.learnedA, Writes: e.writes}
	for k, v := range e.sent {
		if v > 0 {
			c.Sent[Kind(k).String()] = v
		}
	}
	return c
}

// TotalSent is the number of messages sent, all kinds.
func (c Counters) TotalSent() int64 {
	var n int64
	for _, v := range c.Sent {
		n += v
	}
	return n
}
