package cli

import (
	"fmt"
	"io"
	"sync"

	"github.com/chaostest/chaos/core"
)

// leaver is a runtime that can leave things on the host when the harness
// exits without its teardown (the docker runtime's containers and
// network). Leftover names the run to clean, or "" when nothing is left.
type leaver interface {
	Leftover() string
}

// liveRuntimes tracks the runtimes this process made, so that a harness
// that exits without finishing their teardown (a second Ctrl-C, a failed
// teardown) can say how to remove what they left.
type liveRuntimes struct {
	mu  sync.Mutex
	all []core.Runtime
}

// wrap records every runtime that nr makes.
func (l *liveRuntimes) wrap(nr func() (core.Runtime, error)) func() (core.Runtime, error) {
	if l == nil {
		return nr
	}
	return func() (core.Runtime, error) {
		rt, err := nr()
		if err == nil {
			l.mu.Lock()
			l.all = append(l.all, rt)
			l.mu.Unlock()
		}
		return rt, err
	}
}

// hint prints, for each run whose runtime left something behind, the
// command that removes it. It returns how many it printed.
func (l *liveRuntimes) hint(w io.Writer, prog string) int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, rt := range l.all {
		lv, ok := rt.(leaver)
		if !ok {
			continue
		}
		if run := lv.Leftover(); run != "" {
			fmt.Fprintf(w, "%s: run %s did not finish its teardown; its containers and network may be left. Remove them with:\n  %s clean --run %s\n", prog, run, prog, run)
			n++
		}
	}
	return n
}
