package refkv

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chaostest/chaos/internal/httpnode"
)

type nodeFlags struct {
	listen      string
	mode        string
	primary     string
	staleWindow time.Duration
	dataDir     string
}

func parseNodeFlags(args []string) (nodeFlags, error) {
	var f nodeFlags
	fs := flag.NewFlagSet("chaos node refkv", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:0", "address of the key-value API")
	fs.StringVar(&f.mode, "mode", string(Linearizable), "linearizable, stale or lost-write")
	fs.StringVar(&f.primary, "primary", "", "address of the node holding the data; empty: this node holds it")
	fs.StringVar(&f.dataDir, "data-dir", ".", "where the data node keeps its registers across restarts")
	fs.DurationVar(&f.staleWindow, "stale-window", 100*time.Millisecond, "stale mode: how long after a write reads return the old value")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.staleWindow < 0 {
		return f, fmt.Errorf("--stale-window %s: must not be negative", f.staleWindow)
	}
	return f, nil
}

// Handler serves the store:
//
//	GET  /kv/{key}               200 with the value, 404 when unset
//	PUT  /kv/{key}   body: N     200
//	POST /cas/{key}?from=A&to=B  200 when swapped, 409 when the value was not A
//	GET  /health                 200
func Handler(s *Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /kv/{key}", func(w http.ResponseWriter, r *http.Request) {
		v, ok := s.Read(r.PathValue("key"))
		if !ok {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		w.Write(strconv.AppendInt(nil, v, 10))
	})
	mux.HandleFunc("PUT /kv/{key}", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 64))
		v, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || perr != nil {
			http.Error(w, "body must be a whole number", http.StatusBadRequest)
			return
		}
		if err := s.Write(r.PathValue("key"), v); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("POST /cas/{key}", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		from, err1 := strconv.ParseInt(q.Get("from"), 10, 64)
		to, err2 := strconv.ParseInt(q.Get("to"), 10, 64)
		if err1 != nil || err2 != nil {
			http.Error(w, "from and to must be whole numbers", http.StatusBadRequest)
			return
		}
		ok, err := s.CAS(r.PathValue("key"), from, to)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if !ok {
			http.Error(w, "value differs", http.StatusConflict)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// NodeMain runs a refkv node until ctx ends.
func NodeMain(ctx context.Context, args []string) error {
	f, err := parseNodeFlags(args)
	if err != nil {
		return err
	}
	mode, err := ParseMode(f.mode)
	if err != nil {
		return fmt.Errorf("--%w", err)
	}
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	var h http.Handler
	if f.primary != "" {
		u, err := url.Parse("http://" + f.primary)
		if err != nil {
			return fmt.Errorf("--primary %q: %w", f.primary, err)
		}
		proxy := httputil.NewSingleHostReverseProxy(u)
		proxy.ErrorLog = logger
		mux := http.NewServeMux()
		mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
		mux.Handle("/", proxy)
		h = mux
		logger.Printf("refkv node: forwarding to %s", f.primary)
	} else {
		s, err := NewStore(mode, WithStaleWindow(f.staleWindow), WithFile(filepath.Join(f.dataDir, "store.json")))
		if err != nil {
			return err
		}
		h = Handler(s)
		logger.Printf("refkv node: holding the data, mode %s", mode)
	}
	if err := httpnode.Serve(ctx, httpnode.Listener{Addr: f.listen, Handler: h}); err != nil {
		return err
	}
	logger.Printf("refkv node: stopped")
	return nil
}
