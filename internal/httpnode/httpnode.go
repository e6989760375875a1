// Package httpnode holds what our own HTTP node programs and their clients
// share: serving until the node is told to stop, one small request, and
// telling a request that never left from one whose fate is unknown.
package httpnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Listener is one address a node serves and its handler.
type Listener struct {
	Addr    string
	Handler http.Handler
}

// Serve serves every listener until ctx ends (SIGTERM to the node) or one of
// them fails, then shuts them all down within two seconds.
func Serve(ctx context.Context, ls ...Listener) error {
	servers := make([]*http.Server, 0, len(ls))
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, s := range servers {
			_ = s.Shutdown(sctx)
		}
	}()
	errc := make(chan error, len(ls))
	for _, l := range ls {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", l.Addr, err)
		}
		s := &http.Server{Handler: l.Handler}
		servers = append(servers, s)
		go func() { errc <- s.Serve(ln) }()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}

// Do sends one request and returns the status and the trimmed body, read up
// to 4 KiB: node answers are short.
func Do(ctx context.Context, c *http.Client, method, url, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return resp.StatusCode, "", err
	}
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}

// IsDialError reports whether err happened before any byte of the request
// could reach the node: such an operation certainly did not happen (fail),
// where any later error leaves it unknown (info).
func IsDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// CheckControl checks a node's --control address: the control endpoint
// changes how the node behaves (what names it, e.g. "the test hook
// endpoint"), so it must be on a loopback address.
func CheckControl(addr, what string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--control %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--control %q: %s must be on a loopback address", addr, what)
	}
	return nil
}
