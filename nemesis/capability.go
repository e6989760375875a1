package nemesis

import (
	"errors"
	"fmt"
	"strings"

	"github.com/chaostest/chaos/core"
)

// Each nemesis says, before the run, whether the nodes can take its faults,
// so a fault that could never happen is refused instead of recorded.
var (
	_ core.NodeChecker = (*Clock)(nil)
	_ core.NodeChecker = (*Kill)(nil)
	_ core.NodeChecker = (*Pause)(nil)
	_ core.NodeChecker = (*Partition)(nil)
)

// errNoNodes is the refusal of a fault that acts on node processes when the
// target describes none.
func errNoNodes(what string) error {
	return fmt.Errorf("%s needs node processes, but the target describes none; describe them (core.NodeSpec, chaostest.Scenario.Nodes) or drop this nemesis", what)
}

// CheckNodes refuses nodes whose clock cannot move.
func (c *Clock) CheckNodes(specs []core.NodeSpec) error {
	if len(specs) == 0 {
		return errNoNodes("moving a clock")
	}
	var fixed []string
	for _, s := range specs {
		if s.Clock == core.ClockNone {
			fixed = append(fixed, s.Name)
		}
	}
	if len(fixed) > 0 {
		return fmt.Errorf("the clock of node %s cannot be moved (NodeSpec.Clock is ClockNone); set Clock to core.ClockControl (the node reads time through core.NodeClock) or core.ClockFaketime (the node runs under libfaketime), or drop the clock nemesis",
			strings.Join(fixed, ", "))
	}
	return nil
}

// CheckNodes refuses a target without node processes.
func (k *Kill) CheckNodes(specs []core.NodeSpec) error {
	if len(specs) == 0 {
		return errNoNodes("killing a node")
	}
	return nil
}

// CheckNodes refuses a target without node processes.
func (p *Pause) CheckNodes(specs []core.NodeSpec) error {
	if len(specs) == 0 {
		return errNoNodes("pausing a node")
	}
	return nil
}

// CheckNodes refuses a target without node processes: a partition cuts the
// links the runtime routes between them.
func (n *Partition) CheckNodes(specs []core.NodeSpec) error {
	if len(specs) == 0 {
		return errNoNodes("cutting links")
	}
	return nil
}

// unsupported reports whether err says the runtime cannot do the thing at
// all: then the fault certainly did not happen.
func unsupported(err error) bool { return errors.Is(err, core.ErrUnsupported) }
