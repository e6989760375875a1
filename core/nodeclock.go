package core

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync/atomic"
	"time"
)

// ClockOffsetEnv carries a node's clock offset across a restart, so that a
// node killed while its clock was behind comes back still behind.
const ClockOffsetEnv = "CHAOS_CLOCK_OFFSET"

// NodeClock is the clock our own node programs read: host time plus an offset
// that the clock nemesis moves through the node's control port. Only this
// node's view of time changes; the host clock is never touched.
type NodeClock struct {
	offset atomic.Int64
	now    func() time.Time
}

// NewNodeClock returns a clock with the offset from CHAOS_CLOCK_OFFSET (a Go
// duration), zero when unset.
func NewNodeClock() (*NodeClock, error) {
	c := &NodeClock{now: time.Now}
	if v := os.Getenv(ClockOffsetEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: not a duration", ClockOffsetEnv, v)
		}
		c.offset.Store(int64(d))
	}
	return c, nil
}

// NewNodeClockAt returns a clock over an arbitrary time source, for tests.
func NewNodeClockAt(now func() time.Time) *NodeClock { return &NodeClock{now: now} }

// Now is host time plus the offset.
func (c *NodeClock) Now() time.Time { return c.now().Add(time.Duration(c.offset.Load())) }

// Offset is the current offset.
func (c *NodeClock) Offset() time.Duration { return time.Duration(c.offset.Load()) }

// SetOffset moves the clock.
func (c *NodeClock) SetOffset(d time.Duration) { c.offset.Store(int64(d)) }

// Handler serves the control protocol: GET /clock returns the offset, PUT
// /clock?offset=DUR sets it.
func (c *NodeClock) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/clock", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			fmt.Fprintln(w, c.Offset())
		case http.MethodPut, http.MethodPost:
			d, err := time.ParseDuration(r.URL.Query().Get("offset"))
			if err != nil {
				http.Error(w, "offset must be a Go duration", http.StatusBadRequest)
				return
			}
			c.SetOffset(d)
			fmt.Fprintln(w, d)
		default:
			http.Error(w, "use GET or PUT", http.StatusMethodNotAllowed)
		}
	})
	return mux
}

// SetRemoteClockOffset sets the offset of the node whose control port is at
// addr.
func SetRemoteClockOffset(ctx context.Context, addr string, d time.Duration) error {
	u := "http://" + addr + "/clock?offset=" + url.QueryEscape(d.String())
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("set clock offset at %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("set clock offset at %s: %s: %s", addr, resp.Status, b)
	}
	return nil
}
