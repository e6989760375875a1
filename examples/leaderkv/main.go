// Command leaderkv is the linearizable twin of asynckv: one node, the
// leader, holds every register, and every other node forwards each
// operation to it and answers only with the leader's answer. Reads and
// writes are serialised in one place, so the store is linearizable. The
// price is availability: a node cut off from the leader cannot answer, and
// its clients' operations time out (chaos records them as info, not as
// failures, because a forwarded write may have reached the leader).
//
// It speaks chaos's HTTP contract for the register workload (see
// docs/bring-your-own.md): POST /chaos/register/{read,write,cas} with a JSON
// body {"key": ..., "value": ...}.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// leader holds the registers, and keeps them in a file so that a killed
// leader comes back with every acknowledged write.
type leader struct {
	mu   sync.Mutex
	data map[string]int64
	file string
}

func (l *leader) save() error {
	b, _ := json.Marshal(l.data)
	tmp := l.file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, l.file)
}

type op struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

func (l *leader) handle(w http.ResponseWriter, r *http.Request) {
	var o op
	if err := json.NewDecoder(r.Body).Decode(&o); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.data[o.Key]
	switch r.PathValue("f") {
	case "read":
		if !ok {
			w.Write([]byte(`{"value":null}`))
			return
		}
		json.NewEncoder(w).Encode(map[string]int64{"value": v})
		return
	case "write":
		var nv int64
		if err := json.Unmarshal(o.Value, &nv); err != nil {
			http.Error(w, "value must be a whole number", http.StatusBadRequest)
			return
		}
		l.data[o.Key] = nv
	case "cas":
		var ft [2]int64
		if err := json.Unmarshal(o.Value, &ft); err != nil {
			http.Error(w, "value must be [expected, new]", http.StatusBadRequest)
			return
		}
		if !ok || v != ft[0] {
			http.Error(w, "the register does not hold the expected value", http.StatusConflict)
			return
		}
		l.data[o.Key] = ft[1]
	default:
		http.NotFound(w, r)
		return
	}
	// Acknowledge only what is on disk.
	if err := l.save(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Write([]byte(`{}`))
}

// forward sends the operation to the leader and relays its answer. Any
// trouble on the way is a 503: the client cannot know whether the leader
// applied it.
func forward(to string) http.HandlerFunc {
	c := &http.Client{}
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, "http://"+to+r.URL.Path, bytes.NewReader(body))
		resp, err := c.Do(req)
		if err != nil {
			http.Error(w, "leader unreachable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}
}

func main() {
	name := flag.String("name", "n1", "this node's name")
	listen := flag.String("listen", "127.0.0.1:7001", "address to serve on")
	lead := flag.String("leader", "n1=127.0.0.1:7001", "NAME=ADDRESS of the leader")
	dir := flag.String("data", ".", "where the leader keeps its registers")
	flag.Parse()
	leaderName, leaderAddr, _ := strings.Cut(*lead, "=")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	if *name == leaderName {
		l := &leader{data: map[string]int64{}, file: filepath.Join(*dir, "registers.json")}
		if b, err := os.ReadFile(l.file); err == nil {
			if err := json.Unmarshal(b, &l.data); err != nil {
				log.Fatalf("%s: %v", l.file, err)
			}
		}
		mux.HandleFunc("POST /chaos/register/{f}", l.handle)
		log.Printf("leaderkv %s on %s: leader", *name, *listen)
	} else {
		mux.HandleFunc("POST /chaos/register/{f}", forward(leaderAddr))
		log.Printf("leaderkv %s on %s: forwarding to %s at %s", *name, *listen, leaderName, leaderAddr)
	}
	log.Fatal(http.ListenAndServe(*listen, mux))
}
