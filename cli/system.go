package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/targets/system"
)

// systemArgs refuses a target name beside --system: the file names the
// system.
func systemArgs(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("run --system takes no target (got %q): the system file describes the system", args[0])
	}
	return nil
}

// useSystem loads a system file, registers it as the run's target, fills
// cfg in from it where no flag was given, and runs its build. done removes
// what the build left.
func useSystem(env *cliEnv, cmd *cobra.Command, path string, cfg *core.Config) (done func(), err error) {
	s, err := system.Load(path)
	if err != nil {
		return nil, err
	}
	if err := s.CheckParams(env.reg); err != nil {
		return nil, err
	}
	if err := s.Apply(cfg, cmd.Flags().Changed); err != nil {
		return nil, err
	}
	s.Register(env.reg)
	if err := s.Build(env.ctx, env.stderr); err != nil {
		_ = s.Close()
		return nil, err
	}
	return func() { _ = s.Close() }, nil
}
