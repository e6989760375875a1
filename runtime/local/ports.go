package local

import (
	"fmt"
	"net"
	"sync"
)

// reserved holds every node port this process has handed out and not yet
// released. The kernel's bind to port 0 picks a free port, but once the
// listener is closed (the node binds it later) the same port can come back
// on the next call: with 200 nodes, a handful of ports came back twice. The
// set is per process, not per runtime, because ports are a host resource and
// runtimes in one process (parallel tests, several chaostest scenarios) must
// not be given each other's ports either.
var reserved = portSet{used: map[int]bool{}}

type portSet struct {
	mu   sync.Mutex
	used map[int]bool
}

// reserveAttempts bounds the retries when the kernel keeps handing back
// ports already given out; collisions are rare, so hitting it means the
// ephemeral range is nearly exhausted.
const reserveAttempts = 1000

// reserve returns a free port on host that this process has not handed out.
func (s *portSet) reserve(host string) (int, error) {
	var last error
	for range reserveAttempts {
		p, err := bindZero(host)
		if err != nil {
			last = err
			continue
		}
		s.mu.Lock()
		if !s.used[p] {
			s.used[p] = true
			s.mu.Unlock()
			return p, nil
		}
		s.mu.Unlock()
		last = fmt.Errorf("the kernel handed back port %d, already given to a node", p)
	}
	return 0, fmt.Errorf("no free port after %d attempts: %w", reserveAttempts, last)
}

// release returns ports to the kernel's pool once their nodes are gone.
func (s *portSet) release(ports []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ports {
		delete(s.used, p)
	}
}

func bindZero(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
