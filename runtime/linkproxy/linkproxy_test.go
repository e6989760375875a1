package linkproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chaostest/chaos/core"
)

// echoServer answers every line with the same line and counts the lines it
// received, so a test can tell "never arrived" from "answer lost".
func echoServer(t testing.TB) (addr string, lines *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	lines = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					lines.Add(1)
					if _, err := c.Write([]byte(l)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), lines
}

type client struct {
	c net.Conn
	r *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{c: c, r: bufio.NewReader(c)}
}

// roundTrip sends a line and waits up to d for the echo.
func (c *client) roundTrip(d time.Duration) error {
	c.c.SetDeadline(time.Now().Add(d))
	if _, err := c.c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err := c.r.ReadString('\n')
	return err
}

func newLayer(t testing.TB, opts ...Option) *Layer {
	l := New(opts...)
	t.Cleanup(func() { l.Close() })
	return l
}

func TestForwardsAndAddressIsStable(t *testing.T) {
	direct, _ := echoServer(t)
	l := newLayer(t)
	a1, err := l.Addr("n1", "n2", "api", direct)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := l.Addr("n1", "n2", "api", direct)
	b, _ := l.Addr("n2", "n1", "api", direct)
	if a1 != a2 || a1 == b || a1 == direct {
		t.Fatalf("addresses: n1->n2 %s then %s, n2->n1 %s, direct %s", a1, a2, b, direct)
	}
	if err := dial(t, a1).roundTrip(time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestCutDirectionDropsRequestsUntilHeal(t *testing.T) {
	direct, lines := echoServer(t)
	l := newLayer(t)
	addr, _ := l.Addr("c0", "n1", "api", direct)
	c := dial(t, addr)
	if err := c.roundTrip(time.Second); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := l.Partition(ctx, []core.Link{{From: "c0", To: "n1"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.roundTrip(200 * time.Millisecond); err == nil {
		t.Fatal("request crossed a cut link")
	}
	if n := lines.Load(); n != 1 {
		t.Fatalf("server saw %d lines, want 1: the cut direction must drop data", n)
	}
	// A new connection during the cut hangs as well.
	if err := dial(t, addr).roundTrip(200 * time.Millisecond); err == nil {
		t.Fatal("new connection crossed a cut link")
	}
	if err := l.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	// The damaged connection is closed at the heal; a new one works.
	c.c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.r.ReadString('\n'); err == nil {
		t.Fatal("damaged connection still delivers after the heal")
	}
	if err := dial(t, addr).roundTrip(time.Second); err != nil {
		t.Fatalf("after heal: %v", err)
	}
}

func TestCutAnswersOnly(t *testing.T) {
	direct, lines := echoServer(t)
	l := newLayer(t)
	addr, _ := l.Addr("c0", "n1", "api", direct)
	c := dial(t, addr)
	if err := c.roundTrip(time.Second); err != nil {
		t.Fatal(err)
	}
	// n1 cannot reach c0: the request arrives and takes effect, the answer
	// is lost, which is what makes an outcome indeterminate.
	_ = l.Partition(context.Background(), []core.Link{{From: "n1", To: "c0"}})
	if err := c.roundTrip(300 * time.Millisecond); err == nil {
		t.Fatal("answer crossed a cut link")
	}
	if n := lines.Load(); n != 2 {
		t.Fatalf("server saw %d lines, want 2", n)
	}
	// Other links are untouched.
	other, _ := l.Addr("c1", "n1", "api", direct)
	if err := dial(t, other).roundTrip(time.Second); err != nil {
		t.Fatalf("uncut link: %v", err)
	}
}

func TestWildcardAndCutList(t *testing.T) {
	direct, _ := echoServer(t)
	l := newLayer(t)
	a0, _ := l.Addr("c0", "n1", "api", direct)
	a1, _ := l.Addr("c7", "n1", "api", direct)
	n2, _ := l.Addr("n2", "n1", "api", direct)
	_ = l.Partition(context.Background(), []core.Link{{From: "c*", To: "n1"}})
	for _, a := range []string{a0, a1} {
		if err := dial(t, a).roundTrip(200 * time.Millisecond); err == nil {
			t.Fatalf("client link %s not cut by c*", a)
		}
	}
	if err := dial(t, n2).roundTrip(time.Second); err != nil {
		t.Fatalf("node link cut by c*: %v", err)
	}
	if got := l.Cut(); len(got) != 1 || got[0] != (core.Link{From: "c*", To: "n1"}) {
		t.Fatalf("Cut() = %v", got)
	}
}

func TestRejectClosesConnections(t *testing.T) {
	direct, _ := echoServer(t)
	l := newLayer(t, WithMode(Reject))
	addr, _ := l.Addr("n1", "n2", "api", direct)
	c := dial(t, addr)
	if err := c.roundTrip(time.Second); err != nil {
		t.Fatal(err)
	}
	_ = l.Partition(context.Background(), []core.Link{{From: "n1", To: "n2"}})
	start := time.Now()
	if err := c.roundTrip(2 * time.Second); err == nil {
		t.Fatal("request crossed a rejected link")
	}
	if time.Since(start) > time.Second {
		t.Fatal("reject mode hung instead of closing")
	}
	_ = l.Heal(context.Background())
	if err := dial(t, addr).roundTrip(time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestLatencyShape(t *testing.T) {
	direct, _ := echoServer(t)
	l := newLayer(t, WithShape(func(lk core.Link) Shape {
		if lk.From == "n1" {
			return Shape{Latency: 50 * time.Millisecond}
		}
		return Shape{}
	}))
	addr, _ := l.Addr("n1", "n2", "api", direct)
	c := dial(t, addr)
	start := time.Now()
	if err := c.roundTrip(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); rtt < 50*time.Millisecond {
		t.Fatalf("round trip %s with 50ms one-way latency", rtt)
	}
	// SetShape adds the answer direction; Heal restores the base shape.
	_ = l.SetShape(context.Background(), []core.Link{{From: "n2", To: "n1"}}, Shape{Latency: 100 * time.Millisecond})
	start = time.Now()
	_ = c.roundTrip(2 * time.Second)
	if rtt := time.Since(start); rtt < 150*time.Millisecond {
		t.Fatalf("round trip %s with 50ms + 100ms", rtt)
	}
	_ = l.Heal(context.Background())
	start = time.Now()
	_ = c.roundTrip(2 * time.Second)
	if rtt := time.Since(start); rtt > 140*time.Millisecond {
		t.Fatalf("round trip %s after heal, want about 50ms", rtt)
	}
	if err := l.SetShape(context.Background(), nil, Shape{Loss: 1}); err == nil {
		t.Fatal("loss 1 accepted")
	}
}

func TestNodeDownLooksRefused(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	l := newLayer(t)
	addr, _ := l.Addr("n1", "n2", "api", dead)
	// Without NodeDown the proxy accepts, then resets the connection.
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		defer c.Close()
		cl := &client{c: c, r: bufio.NewReader(c)}
		if err := cl.roundTrip(time.Second); err == nil {
			t.Fatal("round trip to a dead node succeeded")
		}
	}
}

func TestCloseStopsEverything(t *testing.T) {
	direct, _ := echoServer(t)
	l := New()
	addr, _ := l.Addr("n1", "n2", "api", direct)
	c := dial(t, addr)
	if err := c.roundTrip(time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.roundTrip(time.Second); err == nil {
		t.Fatal("connection survived Close")
	}
	if _, err := l.Addr("n1", "n3", "api", direct); err == nil {
		t.Fatal("Addr after Close succeeded")
	}
}

// BenchmarkRoundTrip measures what the proxy adds to one small request and
// its answer on an open connection.
func BenchmarkRoundTrip(b *testing.B) {
	direct, _ := echoServer(b)
	l := newLayer(b)
	proxied, _ := l.Addr("n1", "n2", "api", direct)
	for _, bc := range []struct{ name, addr string }{{"direct", direct}, {"proxied", proxied}} {
		b.Run(bc.name, func(b *testing.B) {
			c := dial(b, bc.addr)
			for b.Loop() {
				if err := c.roundTrip(time.Second); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConnect measures opening a connection and one round trip.
func BenchmarkConnect(b *testing.B) {
	direct, _ := echoServer(b)
	l := newLayer(b)
	proxied, _ := l.Addr("n1", "n2", "api", direct)
	for _, bc := range []struct{ name, addr string }{{"direct", direct}, {"proxied", proxied}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				c, err := net.Dial("tcp", bc.addr)
				if err != nil {
					b.Fatal(err)
				}
				cl := &client{c: c, r: bufio.NewReader(c)}
				if err := cl.roundTrip(time.Second); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

func TestDeadNodeIsRefused(t *testing.T) {
	direct, _ := echoServer(t)
	l := newLayer(t)
	addr, _ := l.Addr("c0", "n1", "api", direct)
	c := dial(t, addr)
	l.NodeDown("n1")
	if _, err := net.DialTimeout("tcp", addr, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to a down node: %v, want connection refused", err)
	}
	if err := l.NodeUp("n1"); err != nil {
		t.Fatal(err)
	}
	if err := dial(t, addr).roundTrip(time.Second); err != nil {
		t.Fatalf("after NodeUp: %v", err)
	}
	// A connection opened before the node went down still works (the
	// node's side decides when it ends).
	if err := c.roundTrip(time.Second); err != nil {
		t.Fatalf("open connection: %v", err)
	}
}

// A rate spaces a link's bytes: 64 KiB at 256 KiB/s take at least a
// quarter of a second. Packet faults a stream cannot show are refused.
func TestRateShapeAndStreamLimits(t *testing.T) {
	direct, _ := echoServer(t)
	l := newLayer(t)
	addr, _ := l.Addr("n1", "n2", "api", direct)
	c := dial(t, addr)
	if err := l.SetShape(context.Background(), []core.Link{{From: "n1", To: "n2"}}, Shape{Rate: 256 << 10}); err != nil {
		t.Fatal(err)
	}
	line := append(bytes.Repeat([]byte("x"), 64<<10-1), '\n')
	start := time.Now()
	c.c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := c.c.Write(line); err != nil {
		t.Fatal(err)
	}
	if _, err := c.r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 240*time.Millisecond {
		t.Fatalf("64 KiB through a 256 KiB/s link took %s", took)
	}
	for _, s := range []Shape{{Duplicate: 0.1}, {Reorder: 0.1}, {Corrupt: 0.1}} {
		if err := l.SetShape(context.Background(), []core.Link{{From: "n1", To: "n2"}}, s); !errors.Is(err, core.ErrUnsupported) {
			t.Errorf("%+v: %v, want unsupported", s, err)
		}
	}
}
