package core

import (
	"context"
	"fmt"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// online feeds the run's records to the checkers that judge while the run
// goes (checkers.Online), when the run stops on the first anomaly.
type online struct {
	names    []string
	watchers []checkers.Watcher
	found    chan string // the name of the first checker that found one
}

// startOnline starts the watchers of the workload's online checkers; nil
// when the run does not stop on anomalies or no checker judges online.
func (r *run) startOnline(ctx context.Context, h *history.Header) *online {
	if !r.cfg.StopOnAnomaly {
		return nil
	}
	cs, err := r.p.Workload.Checkers(h)
	if err != nil {
		return nil // the offline check reports it
	}
	o := &online{found: make(chan string, 1)}
	for _, c := range cs {
		if oc, ok := c.(checkers.Online); ok {
			w := oc.Watch(ctx, h)
			o.names = append(o.names, c.Name())
			o.watchers = append(o.watchers, w)
			go func(name string, w checkers.Watcher) {
				select {
				case <-w.Found():
					select {
					case o.found <- name:
					default:
					}
				case <-ctx.Done():
				}
			}(c.Name(), w)
		}
	}
	if len(o.watchers) == 0 {
		return nil
	}
	return o
}

func (o *online) observe(op history.Op) {
	if o == nil {
		return
	}
	for _, w := range o.watchers {
		w.Observe(op)
	}
}

// anomaly is closed-over by the main phase: it yields when a watcher found
// a violation (never, for a nil online).
func (o *online) anomaly() <-chan string {
	if o == nil {
		return nil
	}
	return o.found
}

// describe says what the watcher named found, for the progress line.
func (o *online) describe(name string) string {
	for i, n := range o.names {
		if n == name {
			if a := o.watchers[i].Violation(); a != nil {
				return fmt.Sprintf("%s found %s: %s", name, a.Kind, a.Message)
			}
		}
	}
	return name + " found an anomaly"
}

func (o *online) close() {
	if o == nil {
		return
	}
	for _, w := range o.watchers {
		w.Close()
	}
}
