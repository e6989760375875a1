package checkers

import (
	"context"

	"github.com/chaostest/chaos/history"
)

// Online is a Checker that can also judge a history while it is being
// recorded, and report the first violation before the run ends. What it
// reports online must be something the offline Check proves as well: a
// prefix of a history that cannot be explained means the whole history
// cannot.
type Online interface {
	Checker
	// Watch starts watching one run, whose header is h. The watcher works
	// in the background until ctx ends or Close is called.
	Watch(ctx context.Context, h *history.Header) Watcher
}

// Watcher is one run's online check.
type Watcher interface {
	// Observe is given every record of the run, in record order. It must be
	// cheap: it runs on the path of every operation.
	Observe(op history.Op)
	// Violation returns the first anomaly proven so far, or nil.
	Violation() *Anomaly
	// Found is closed when a violation has been proven.
	Found() <-chan struct{}
	// Close stops the background work.
	Close()
}
