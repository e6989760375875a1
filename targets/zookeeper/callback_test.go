package zookeeper

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// socksConnect opens a SOCKS5 CONNECT to host:port through the relay at
// relay, as the JVM does, and returns the connection and the reply code.
func socksConnect(t *testing.T, relay, host string, port int) (net.Conn, byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", relay, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	ip := net.ParseIP(host).To4()
	req := []byte{5, 2, 0, 2, 5, 1, 0, 1}
	req = append(req, ip...)
	req = append(req, byte(port>>8), byte(port))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	var rep [12]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil {
		t.Fatal(err)
	}
	if rep[0] != 5 || rep[1] != 0 || rep[2] != 5 {
		t.Fatalf("greeting reply % x, reply % x", rep[:2], rep[2:])
	}
	return c, rep[3]
}

// The relay sends a connection to a server's advertised host through the
// link to that server's election port, any other connection where it asks
// to go, and answers a refused link with a refusal.
func TestSOCKSRelayRoutesCallBacks(t *testing.T) {
	link, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	go func() {
		for {
			c, err := link.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	_, lport, _ := net.SplitHostPort(link.Addr().String())
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	_, dport, _ := net.SplitHostPort(dead.Addr().String())
	dead.Close()
	servers := []server{
		{id: 1, host: "127.0.0.1", quorumPort: "1", electionPt: "2"},
		{id: 2, host: "127.0.0.1", quorumPort: "3", electionPt: lport},
		{id: 3, host: "127.0.0.1", quorumPort: "5", electionPt: dport},
	}
	r, err := newSOCKSRelay(servers, 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	relay := "127.0.0.1:" + strconv.Itoa(r.port())

	echo := func(c net.Conn) {
		t.Helper()
		if _, err := c.Write([]byte("hello\n")); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "hello\n" {
			t.Fatalf("echo = %q, %v", line, err)
		}
	}
	// A call-back to server 2's advertised address, at whatever port,
	// reaches server 2's link.
	c, code := socksConnect(t, relay, advertisedHost(2), 4242)
	if code != socksOK {
		t.Fatalf("call-back to server 2: reply %d", code)
	}
	echo(c)
	c.Close()
	// A dial of a link address goes there.
	lp, _ := strconv.Atoi(lport)
	c, code = socksConnect(t, relay, "127.0.0.1", lp)
	if code != socksOK {
		t.Fatalf("dial of the link: reply %d", code)
	}
	echo(c)
	c.Close()
	// Server 3's link refuses: so does the call-back.
	c, code = socksConnect(t, relay, advertisedHost(3), 4242)
	c.Close()
	if code != socksRefused {
		t.Fatalf("call-back over a refusing link: reply %d, want %d", code, socksRefused)
	}
}
