package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
)

// runtimes maps --runtime names to constructors.
var runtimes = map[string]func() (core.Runtime, error){
	"local": func() (core.Runtime, error) { return local.New() },
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
