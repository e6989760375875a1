package twopc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/chaostest/chaos/internal/httpnode"
)

// errNotReached says the phase ended before any transfer reached the armed
// hook.
var errNotReached = errors.New("no transfer reached the hook")

// awaitHold is the nemeses' side of the coordinator's test hook: it arms
// the hook at base (the control address, "http://host:port") with query
// ("at=commit&after=1", "at=prepare&on=n3") and polls until a transfer is
// held there, returning its id. If ctx ends first it disarms the hook, so
// no later transfer is held with nobody to release it, and returns
// errNotReached. An arm that fails returns its status, body and error.
func awaitHold(ctx context.Context, hc *http.Client, base, query string) (transfer string, err error) {
	if code, body, err := httpnode.Do(ctx, hc, http.MethodPost, base+"/hold?"+query, ""); err != nil || code != http.StatusOK {
		return "", fmt.Errorf("%d %s %v", code, body, err)
	}
	for {
		code, body, err := httpnode.Do(ctx, hc, http.MethodGet, base+"/hold", "")
		if err == nil && code == http.StatusOK && strings.HasPrefix(body, "reached ") {
			return strings.TrimPrefix(body, "reached "), nil
		}
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _, _ = httpnode.Do(dctx, hc, http.MethodPost, base+"/hold?at=none", "")
			cancel()
			return "", errNotReached
		case <-time.After(20 * time.Millisecond):
		}
	}
}
