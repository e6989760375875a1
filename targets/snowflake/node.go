package snowflake

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chaostest/chaos/checkers/ids"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/internal/httpnode"
)

// nodeFlags are the snowflake node's command line.
type nodeFlags struct {
	listen, control string
	machine         int64
	mode            string
	epoch           string
	dataDir         string
	maxWait         time.Duration
	reserve         time.Duration
}

func parseNodeFlags(args []string) (nodeFlags, error) {
	var f nodeFlags
	fs := flag.NewFlagSet("chaos node snowflake", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:0", "address of the ID API")
	fs.StringVar(&f.control, "control", "", "address of the clock control endpoint (loopback only)")
	fs.Int64Var(&f.machine, "machine-id", 0, "machine id, 0..1023, unique per node")
	fs.StringVar(&f.mode, "mode", string(Naive), "naive, guarded or monotonic")
	fs.StringVar(&f.epoch, "epoch", ids.DefaultEpoch.Format(time.RFC3339), "custom epoch (RFC 3339)")
	fs.StringVar(&f.dataDir, "data-dir", ".", "where the safe modes keep their high-water mark")
	fs.DurationVar(&f.maxWait, "max-wait", 5*time.Millisecond, "largest rollback the guarded mode waits out")
	fs.DurationVar(&f.reserve, "reserve", 200*time.Millisecond, "how far ahead the safe modes persist their high-water mark")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if f.control != "" {
		if err := httpnode.CheckControl(f.control, "the clock control endpoint"); err != nil {
			return f, err
		}
	}
	return f, nil
}

// NodeMain runs a snowflake node until ctx ends: GET /id issues an ID (503
// with the reason when the node refuses), GET /health answers once it
// serves; the control address serves the node clock's offset.
func NodeMain(ctx context.Context, args []string) error {
	f, err := parseNodeFlags(args)
	if err != nil {
		return err
	}
	mode, err := ParseMode(f.mode)
	if err != nil {
		return err
	}
	epoch, err := time.Parse(time.RFC3339, f.epoch)
	if err != nil {
		return fmt.Errorf("--epoch %q: %w", f.epoch, err)
	}
	clock, err := core.NewNodeClock()
	if err != nil {
		return err
	}
	hw := fileHighWater(filepath.Join(f.dataDir, "high-water"))
	g, err := NewGenerator(ids.Snowflake(epoch), mode, f.machine, WithClock(clock.Now),
		WithMaxWait(f.maxWait), WithHighWater(hw, f.reserve))
	if err != nil {
		return err
	}
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	logger.Printf("snowflake node: mode %s, machine %d, epoch %s, clock offset %s", mode, f.machine, f.epoch, clock.Offset())

	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /id", func(w http.ResponseWriter, r *http.Request) {
		id, err := g.Next()
		if err != nil {
			logger.Printf("refused: %v", err)
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write(strconv.AppendUint(nil, id, 10))
	})
	ls := []httpnode.Listener{{Addr: f.listen, Handler: mux}}
	if f.control != "" {
		ctl := clock.Handler()
		ls = append(ls, httpnode.Listener{Addr: f.control, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctl.ServeHTTP(w, r)
			if r.Method != http.MethodGet {
				logger.Printf("clock offset now %s", clock.Offset())
			}
		})})
	}
	if err := httpnode.Serve(ctx, ls...); err != nil {
		return err
	}
	logger.Printf("snowflake node: stopped")
	return nil
}

// fileHighWater keeps the high-water mark in a file, replaced atomically and
// synced, so a node killed at any moment finds the last mark it stored.
type fileHighWater string

func (p fileHighWater) Load() (int64, error) {
	b, err := os.ReadFile(string(p))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: corrupt high-water mark: %w", p, err)
	}
	return n, nil
}

func (p fileHighWater) Store(ms int64) error {
	tmp := string(p) + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(strconv.FormatInt(ms, 10) + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, string(p))
}
