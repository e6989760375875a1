package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/docker"
	"github.com/chaostest/chaos/runtime/local"
)

// runtimes maps --runtime names to constructors.
var runtimes = map[string]func() (core.Runtime, error){
	"local":  func() (core.Runtime, error) { return local.New() },
	"docker": func() (core.Runtime, error) { return docker.New(context.Background()) },
}

// runtimeNemeses says which of a target's nemeses a runtime offers, for
// `chaos list`.
func runtimeNemeses(runtime string, t core.TargetInfo) []string {
	if runtime != "docker" {
		out := make([]string, 0, len(t.Nemeses))
		for _, n := range t.Nemeses {
			if n == "packet" {
				n = "packet(" + local.PacketFaults + ")"
			}
			out = append(out, n)
		}
		return out
	}
	var specs []core.NodeSpec
	p := core.Params{}
	for _, x := range t.Params {
		p[x.Name] = x.Default
	}
	if tg, err := t.New(p); err == nil {
		specs, _ = tg.Nodes([]string{"n1"}, p)
	}
	return docker.Nemeses(t.Nemeses, specs)
}

func runtimeNames() []string {
	names := make([]string, 0, len(runtimes))
	for n := range runtimes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func newRuntime(name string) (func() (core.Runtime, error), error) {
	nr, ok := runtimes[name]
	if !ok {
		return nil, fmt.Errorf("--runtime %s: unknown runtime (known: %s)", name, strings.Join(runtimeNames(), ", "))
	}
	return nr, nil
}
