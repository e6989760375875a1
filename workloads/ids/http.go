package ids

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/internal/httpnode"
)

// HTTPClient asks an ID server for IDs with GET url, which answers one ID
// in decimal, or 503 when it refuses to issue one.
type HTTPClient struct {
	HTTP *http.Client
	URL  string
}

var _ core.Client = (*HTTPClient)(nil)

// Invoke asks for one ID. A refusal (503) is fail (the server said it
// issued nothing), and so is a connection that could not be made; anything
// after the request may have reached the server is info. A body that is
// no number is recorded as it came, ok, for the checker to flag.
func (c *HTTPClient) Invoke(ctx context.Context, op history.Op) history.Op {
	status, body, err := httpnode.Do(ctx, c.HTTP, http.MethodGet, c.URL, "")
	switch {
	case err != nil && httpnode.IsDialError(err):
		op.Type, op.Error = history.Fail, err.Error()
	case err != nil:
		op.Type, op.Error = history.Info, err.Error()
	case status == http.StatusServiceUnavailable:
		op.Type, op.Error = history.Fail, body
	case status != http.StatusOK:
		op.Type, op.Error = history.Info, fmt.Sprintf("HTTP %d: %s", status, body)
	default:
		id, perr := strconv.ParseUint(body, 10, 64)
		if perr != nil {
			op.Type, op.Value = history.OK, history.JSON(body)
			return op
		}
		op.Type, op.Value = history.OK, history.Uint(id)
	}
	return op
}

// Close does nothing: the HTTP client is the caller's.
func (c *HTTPClient) Close() error { return nil }
