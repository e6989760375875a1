// Command asynckv is a small replicated register store that is NOT
// linearizable: a node applies a write locally, acknowledges it at once,
// and only then ships it to its peers in the background. While a partition
// keeps the replication from arriving, the other side serves the old value
// to reads that begin after the write was acknowledged: a stale read, which
// chaos finds and shows as a witness. Once the partition heals, the
// replication gets through and every node converges (the newest version
// wins), so the store is eventually consistent, just not linearizable.
//
// It speaks chaos's HTTP contract for the register workload (see
// docs/bring-your-own.md): POST /chaos/register/{read,write,cas} with a JSON
// body {"key": ..., "value": ...}. Peers are reached at the addresses given
// by --peers, which chaos routes through its fault layer.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"
)

// version orders writes: a Lamport counter, then the writing node.
type version struct {
	N    uint64 `json:"n"`
	Node string `json:"node"`
}

func (v version) less(o version) bool { return v.N < o.N || v.N == o.N && v.Node < o.Node }

type entry struct {
	Key     string  `json:"key"`
	Value   int64   `json:"value"`
	Version version `json:"version"`
}

type store struct {
	name  string
	mu    sync.Mutex
	data  map[string]entry
	clock uint64
	peers []*peer
}

// peer is the queue of writes still to ship to one other node.
type peer struct {
	addr    string
	mu      sync.Mutex
	pending []entry
	wake    chan struct{}
}

// put applies an entry if it is newer than what the node holds.
func (s *store) put(e entry) {
	if e.Version.N > s.clock {
		s.clock = e.Version.N
	}
	if old, ok := s.data[e.Key]; !ok || old.Version.less(e.Version) {
		s.data[e.Key] = e
	}
}

// write makes a new version locally and queues it for every peer.
func (s *store) write(key string, value int64) {
	s.clock++
	e := entry{Key: key, Value: value, Version: version{N: s.clock, Node: s.name}}
	s.put(e)
	for _, p := range s.peers {
		p.mu.Lock()
		p.pending = append(p.pending, e)
		p.mu.Unlock()
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// ship sends queued writes to the peer until they are accepted, retrying
// through partitions.
func (p *peer) ship(delay time.Duration) {
	c := &http.Client{Timeout: 500 * time.Millisecond}
	for range p.wake {
		time.Sleep(delay)
		for {
			p.mu.Lock()
			batch := p.pending
			p.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			b, _ := json.Marshal(batch)
			resp, err := c.Post("http://"+p.addr+"/replicate", "application/json", bytes.NewReader(b))
			if err == nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			p.mu.Lock()
			p.pending = p.pending[len(batch):]
			p.mu.Unlock()
		}
	}
}

// op is an invocation of chaos's HTTP contract.
type op struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

func (s *store) handle(w http.ResponseWriter, r *http.Request) {
	var o op
	if err := json.NewDecoder(r.Body).Decode(&o); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.PathValue("f") {
	case "read":
		if e, ok := s.data[o.Key]; ok {
			json.NewEncoder(w).Encode(map[string]int64{"value": e.Value})
			return
		}
		w.Write([]byte(`{"value":null}`))
	case "write":
		var v int64
		if err := json.Unmarshal(o.Value, &v); err != nil {
			http.Error(w, "value must be a whole number", http.StatusBadRequest)
			return
		}
		s.write(o.Key, v)
		w.Write([]byte(`{}`))
	case "cas":
		var ft [2]int64
		if err := json.Unmarshal(o.Value, &ft); err != nil {
			http.Error(w, "value must be [expected, new]", http.StatusBadRequest)
			return
		}
		if e, ok := s.data[o.Key]; !ok || e.Value != ft[0] {
			http.Error(w, "the register does not hold the expected value", http.StatusConflict)
			return
		}
		s.write(o.Key, ft[1])
		w.Write([]byte(`{}`))
	default:
		http.NotFound(w, r)
	}
}

func main() {
	name := flag.String("name", "n1", "this node's name")
	listen := flag.String("listen", "127.0.0.1:7001", "address to serve on")
	peers := flag.String("peers", "", "comma-separated addresses of the other nodes")
	delay := flag.Duration("replication-delay", 0, "how long a write waits before it is shipped to the peers")
	flag.Parse()
	s := &store{name: *name, data: map[string]entry{}}
	for _, a := range strings.Split(*peers, ",") {
		if a != "" {
			p := &peer{addr: a, wake: make(chan struct{}, 1)}
			s.peers = append(s.peers, p)
			go p.ship(*delay)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("POST /chaos/register/{f}", s.handle)
	mux.HandleFunc("POST /replicate", func(w http.ResponseWriter, r *http.Request) {
		var es []entry
		if err := json.NewDecoder(r.Body).Decode(&es); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		for _, e := range es {
			s.put(e)
		}
		s.mu.Unlock()
	})
	log.Printf("asynckv %s on %s, peers %q", *name, *listen, *peers)
	log.Fatal(http.ListenAndServe(*listen, mux))
}
