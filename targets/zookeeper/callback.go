package zookeeper

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// ZooKeeper's election connections are kept by the server with the higher
// id: a server dialled by a lower one reads the dialler's first message
// (protocol version, server id, the election address it advertises), closes
// the connection and dials the advertised address back. A server advertises
// its own zoo.cfg entry, one address for every peer, so a call-back that
// reached it would go around the runtime's link from the caller, and a
// partition would leave the election talking; a call-back that cannot reach
// it leaves a lower server that starts or restarts after the others have a
// leader unable to join: nobody that finished its election dials it.
//
// So every server advertises advertisedHost(id), a loopback address where
// nothing listens, and its JVM sends every connection it opens through a
// SOCKS relay in its node process (the JVM's own socksProxyHost). The relay
// sends a connection to advertisedHost(n) through the runtime's link to
// server n's election port, and any other connection (to the links of its
// zoo.cfg, already the runtime's) on as asked. A call-back is then cut
// exactly as the caller's own dial would be.

// advertisedHost is the election host server id advertises.
func advertisedHost(id int) string { return "127.0.1." + strconv.Itoa(id) }

// socksRelay is a SOCKS5 server (CONNECT, no authentication) for one JVM.
type socksRelay struct {
	ln net.Listener
	// election maps an advertised host to the link to that server's
	// election port.
	election map[string]string
	log      io.Writer
	mu       sync.Mutex
}

func newSOCKSRelay(servers []server, self int, log io.Writer) (*socksRelay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("election relay: %w", err)
	}
	r := &socksRelay{ln: ln, election: map[string]string{}, log: log}
	for _, s := range servers {
		if s.id != self {
			r.election[advertisedHost(s.id)] = net.JoinHostPort(s.host, s.electionPt)
		}
	}
	go r.serve()
	return r, nil
}

func (r *socksRelay) port() int { return r.ln.Addr().(*net.TCPAddr).Port }

func (r *socksRelay) Close() error { return r.ln.Close() }

func (r *socksRelay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		go r.handle(c)
	}
}

func (r *socksRelay) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.log, "=== chaos: election relay: "+format+"\n", args...)
}

// handshakeTimeout bounds a JVM's SOCKS handshake; a JVM on a loaded machine
// may take seconds to write it.
const handshakeTimeout = 30 * time.Second

// SOCKS5 reply codes.
const (
	socksOK      = 0
	socksFailure = 1
	socksRefused = 5
	socksBadCmd  = 7
)

func (r *socksRelay) handle(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	br := bufio.NewReader(c)
	dest, err := readConnect(br, c)
	if err != nil {
		r.logf("%v", err)
		return
	}
	target := dest
	if host, _, err := net.SplitHostPort(dest); err == nil {
		if link, ok := r.election[host]; ok {
			target = link
		}
	}
	up, err := net.DialTimeout("tcp", target, 10*time.Second)
	if err != nil {
		// As refused as the direct dial would be.
		_ = reply(c, socksRefused)
		return
	}
	defer up.Close()
	if err := reply(c, socksOK); err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, br); closeWrite(up); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); closeWrite(c); done <- struct{}{} }()
	<-done
	// ZooKeeper never half-closes its connections: one side ended, so
	// does the other.
	c.Close()
	up.Close()
	<-done
}

// readConnect reads a SOCKS5 greeting and CONNECT request and returns the
// destination host:port. It answers the greeting (no authentication) and a
// bad request.
func readConnect(br *bufio.Reader, w io.Writer) (string, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return "", fmt.Errorf("greeting: %w", err)
	}
	if hdr[0] != 5 {
		return "", fmt.Errorf("SOCKS version %d, want 5", hdr[0])
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(br, methods); err != nil {
		return "", fmt.Errorf("greeting: %w", err)
	}
	if _, err := w.Write([]byte{5, 0}); err != nil {
		return "", err
	}
	var req [4]byte
	if _, err := io.ReadFull(br, req[:]); err != nil {
		return "", fmt.Errorf("request: %w", err)
	}
	if req[1] != 1 {
		_ = reply(w, socksBadCmd)
		return "", fmt.Errorf("SOCKS command %d, want CONNECT", req[1])
	}
	var host string
	switch req[3] {
	case 1:
		var a [4]byte
		if _, err := io.ReadFull(br, a[:]); err != nil {
			return "", err
		}
		host = net.IP(a[:]).String()
	case 4:
		var a [16]byte
		if _, err := io.ReadFull(br, a[:]); err != nil {
			return "", err
		}
		host = net.IP(a[:]).String()
	case 3:
		n, err := br.ReadByte()
		if err != nil {
			return "", err
		}
		name := make([]byte, n)
		if _, err := io.ReadFull(br, name); err != nil {
			return "", err
		}
		host = string(name)
	default:
		_ = reply(w, socksFailure)
		return "", errors.New("SOCKS address type unknown")
	}
	var p [2]byte
	if _, err := io.ReadFull(br, p[:]); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(p[:])))), nil
}

func reply(w io.Writer, code byte) error {
	_, err := w.Write([]byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0})
	return err
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
