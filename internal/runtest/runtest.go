// Package runtest holds what target tests share to run a scenario: one
// run on the local runtime, start to verdict, that fails the test when the
// harness itself fails.
package runtest

import (
	"context"
	"testing"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
)

// Local prepares cfg against reg and executes it on the local runtime,
// failing tb on a refused configuration or a harness failure (not on a
// verdict: that is the caller's to judge). The caller chooses cfg.Store.
func Local(tb testing.TB, reg *core.Registry, cfg core.Config) *core.Outcome {
	tb.Helper()
	cfg.NewRuntime = func() (core.Runtime, error) { return local.New() }
	p, err := core.Prepare(reg, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := core.Execute(context.Background(), p)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
