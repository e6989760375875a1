package cli

import (
	"fmt"
	"strings"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
)

// runtimeNames lists the registered runtimes for --runtime's help.
func (env *cliEnv) runtimeNames() []string { return env.reg.RuntimeNames() }

// runtimeNemeses says which of a target's nemeses a runtime offers, for
// `chaos list`. On the local runtime the packet nemesis names the faults it
// can apply there.
func (env *cliEnv) runtimeNemeses(runtime string, t core.TargetInfo) []string {
	rt, err := env.reg.Runtime(runtime)
	if err != nil {
		return nil
	}
	ns := core.RuntimeNemeses(rt, t)
	if runtime != "local" {
		return ns
	}
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		if n == "packet" {
			n = "packet(" + local.PacketFaults + ")"
		}
		out = append(out, n)
	}
	return out
}

func (env *cliEnv) newRuntime(name string) (func() (core.Runtime, error), error) {
	rt, err := env.reg.Runtime(name)
	if err != nil {
		return nil, fmt.Errorf("--runtime %q: unknown runtime (known: %s)", name, strings.Join(env.runtimeNames(), ", "))
	}
	return func() (core.Runtime, error) { return rt.New(env.ctx) }, nil
}
