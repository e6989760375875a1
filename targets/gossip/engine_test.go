package gossip

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// cluster is an in-memory network of engines with a manual clock.
type cluster struct {
	t       *testing.T
	now     int64
	engines map[string]*Engine
	names   []string
	sent    int
}

func newCluster(t *testing.T, n int, tune func(*Config)) *cluster {
	c := &cluster{t: t, engines: map[string]*Engine{}}
	for i := range n {
		c.names = append(c.names, string(rune('a'+i)))
	}
	for i, name := range c.names {
		cfg := DefaultConfig(name, c.names)
		if tune != nil {
			tune(&cfg)
		}
		c.engines[name] = NewEngine(cfg, rand.New(rand.NewPCG(7, uint64(i))), func() int64 { return c.now })
	}
	return c
}

// deliver runs messages to completion, dropping those for which cut says so.
func (c *cluster) deliver(msgs []Msg, cut func(m Msg) bool) {
	for len(msgs) > 0 {
		m := msgs[0]
		msgs = msgs[1:]
		c.sent++
		if cut != nil && cut(m) {
			continue
		}
		msgs = append(msgs, c.engines[m.To].Step(m)...)
	}
}

func (c *cluster) round(cut func(Msg) bool, rumor, ae bool) {
	c.now += 1e8
	for _, n := range c.names {
		if rumor {
			c.deliver(c.engines[n].Tick(), cut)
		}
		if ae {
			c.deliver(c.engines[n].AntiEntropy(), cut)
		}
	}
}

func (c *cluster) agree() bool {
	d := c.engines[c.names[0]].RootDigest()
	for _, n := range c.names[1:] {
		if c.engines[n].RootDigest() != d {
			return false
		}
	}
	return true
}

func TestLastWriterWinsWithTiesByOrigin(t *testing.T) {
	a := Entry{Key: "k", Value: "1", HLC: 5, Origin: "a"}
	b := Entry{Key: "k", Value: "2", HLC: 5, Origin: "b"}
	c := Entry{Key: "k", Value: "3", HLC: 6, Origin: "a"}
	if !b.Newer(&a) || a.Newer(&b) || !c.Newer(&b) {
		t.Fatal("LWW order wrong")
	}
	e := NewEngine(DefaultConfig("x", []string{"x", "y"}), rand.New(rand.NewPCG(1, 1)), func() int64 { return 0 })
	for _, en := range []Entry{c, a, b} {
		e.Step(Msg{Kind: Entries, From: "y", Entries: []Entry{en}})
	}
	if got, _ := e.Get("k"); got.Value != "3" {
		t.Fatalf("holds %+v, want the newest", got)
	}
}

func TestHLCMovesPastRemoteAndStaysMonotonic(t *testing.T) {
	now := int64(1e9)
	e := NewEngine(DefaultConfig("x", []string{"x", "y"}), rand.New(rand.NewPCG(1, 1)), func() int64 { return now })
	w1 := e.Put("k", "1", false)
	// A remote write from a clock far ahead.
	ahead := hlcFromNanos(now + 60e9)
	e.Step(Msg{Kind: Push, From: "y", Entries: []Entry{{Key: "j", Value: "9", HLC: ahead, Origin: "y"}}})
	w2 := e.Put("k", "2", false)
	if w2.HLC <= ahead || w2.HLC <= w1.HLC {
		t.Fatalf("HLC %d after remote %d and local %d", w2.HLC, ahead, w1.HLC)
	}
	// The physical clock going back does not move the HLC back.
	now -= 10e9
	if w3 := e.Put("k", "3", false); w3.HLC <= w2.HLC {
		t.Fatalf("HLC went back: %d after %d", w3.HLC, w2.HLC)
	}
}

func TestTombstonesSpreadAndWin(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.engines["a"].Put("k", "1", false)
	c.round(nil, false, true)
	c.round(nil, false, true)
	c.engines["b"].Put("k", "", true)
	for range 10 {
		c.round(nil, true, true)
	}
	for _, n := range c.names {
		if e, ok := c.engines[n].Get("k"); !ok || !e.Deleted {
			t.Fatalf("%s holds %+v, want the tombstone", n, e)
		}
	}
}

func TestAntiEntropySendsOnlyDifferingBuckets(t *testing.T) {
	c := newCluster(t, 2, func(cfg *Config) { cfg.Rumor = false; cfg.Buckets = 16 })
	for i := range 100 {
		k := string(rune('A' + i))
		c.engines["a"].Put(k, "v", false)
		c.engines["b"].Step(Msg{Kind: Entries, From: "a", Entries: []Entry{mustGet(t, c.engines["a"], k)}})
	}
	c.engines["a"].Put("A", "new", false)
	d := c.engines["a"].AntiEntropy()
	if len(d) != 1 || d[0].Kind != Digest || len(d[0].Entries) != 0 {
		t.Fatalf("exchange must open with a digest only: %+v", d)
	}
	diff := c.engines["b"].Step(d[0])
	if len(diff) != 1 || diff[0].Kind != Diff || len(diff[0].Buckets) != 1 || len(diff[0].Entries) >= 20 {
		t.Fatalf("diff should carry one bucket's entries, got %d buckets, %d entries", len(diff[0].Buckets), len(diff[0].Entries))
	}
	back := c.engines["a"].Step(diff[0])
	if len(back) != 1 || len(back[0].Entries) != 1 || back[0].Entries[0].Value != "new" {
		t.Fatalf("only the newer entry should go back: %+v", back)
	}
	c.engines["b"].Step(back[0])
	if !c.agree() {
		t.Fatal("not in agreement after one exchange")
	}
}

func TestRingAntiEntropyConvergesInBoundedRounds(t *testing.T) {
	c := newCluster(t, 8, func(cfg *Config) { cfg.Rumor = false; cfg.Ring = true })
	for i, n := range c.names {
		c.engines[n].Put("k"+n, n, false)
		c.engines[n].Put("shared", n, false)
		_ = i
	}
	// Push-pull with the successor moves news one hop each way per round.
	for range len(c.names) {
		c.round(nil, false, true)
	}
	if !c.agree() {
		t.Fatal("ring anti-entropy did not converge within N rounds")
	}
}

func TestRumorsDieOut(t *testing.T) {
	c := newCluster(t, 20, func(cfg *Config) { cfg.AntiEntropy = false; cfg.Fanout = 1; cfg.K = 1 })
	c.engines["a"].Put("k", "1", false)
	for r := 0; r < 200; r++ {
		c.round(nil, true, false)
	}
	for _, n := range c.names {
		if h := c.engines[n].Hot(); h != 0 {
			t.Fatalf("%s still spreads %d rumors after 200 rounds", n, h)
		}
	}
	if c.engines["a"].Counters().Sent["push"] == 0 {
		t.Fatal("no push counted")
	}
}

func TestBrokenAntiEntropyKeepsStaleValues(t *testing.T) {
	c := newCluster(t, 2, func(cfg *Config) { cfg.Rumor = false; cfg.BrokenAntiEntropy = true })
	c.engines["a"].Put("k", "old", false)
	c.now += 1e9
	c.engines["b"].Put("k", "new", false)
	c.engines["b"].Put("only-b", "x", false)
	for range 5 {
		c.round(nil, false, true)
	}
	if e, _ := c.engines["a"].Get("k"); e.Value != "old" {
		t.Fatalf("broken anti-entropy repaired k: %+v", e)
	}
	if _, ok := c.engines["a"].Get("only-b"); !ok {
		t.Fatal("broken anti-entropy should still copy missing keys")
	}
}

func TestPartitionHealsByAntiEntropy(t *testing.T) {
	c := newCluster(t, 5, nil)
	side := map[string]int{"a": 0, "b": 0, "c": 1, "d": 1, "e": 1}
	cut := func(m Msg) bool { return side[m.From] != side[m.To] }
	c.engines["a"].Put("k", "minority", false)
	c.now += 1e6
	c.engines["c"].Put("j", "majority", false)
	for range 20 {
		c.round(cut, true, true)
	}
	if _, ok := c.engines["c"].Get("k"); ok {
		t.Fatal("write crossed the partition")
	}
	for range 20 {
		c.round(nil, true, true)
	}
	if !c.agree() {
		t.Fatal("no agreement after the heal")
	}
	if e, _ := c.engines["e"].Get("k"); e.Value != "minority" {
		t.Fatalf("minority write lost: %+v", e)
	}
}

func mustGet(t *testing.T, e *Engine, k string) Entry {
	t.Helper()
	en, ok := e.Get(k)
	if !ok {
		t.Fatalf("no %s", k)
	}
	return en
}

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	m := Msg{Kind: Push, From: "a", To: "b", Entries: []Entry{{Key: "k", Value: "v", HLC: 3, Origin: "a"}}}
	if err := writeFrame(&buf, m); err != nil {
		t.Fatal(err)
	}
	got, err := readFrame(bufio.NewReader(&buf))
	if err != nil || got.Kind != m.Kind || !slices.Equal(got.Entries, m.Entries) {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// FuzzReadFrame: whatever arrives on the peer port, the node neither panics
// nor allocates beyond its frame limit.
func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	_ = writeFrame(&buf, Msg{Kind: Digest, From: "a", Buckets: []uint64{1, 2}})
	f.Add(buf.Bytes())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			if _, err := readFrame(r); err != nil {
				return
			}
		}
	})
}

func FuzzParseNodeFlags(f *testing.F) {
	f.Add("--name=n1 --peers=n2=127.0.0.1:1,n3=127.0.0.1:2 --fanout=3")
	f.Add("--peers=bad")
	f.Fuzz(func(t *testing.T, line string) {
		o, err := parseNodeFlags(strings.Fields(line))
		if err == nil && o.Name == "" {
			t.Fatal("accepted flags without a name")
		}
	})
}
