package cli

import (
	"github.com/spf13/cobra"

	"github.com/chaostest/chaos/core"
)

func newNodeCmd(env *cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "node <kind> [flags]",
		Short: "Run one of our own node programs (started by the runtimes, not by hand)",
		Long: `node runs a node program that this binary carries, such as the snowflake
ID service. The runtimes start nodes this way; running one by hand helps when
debugging a target.`,
		Args:               cobra.MinimumNArgs(1),
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "-h" || args[0] == "--help" {
				return cmd.Help()
			}
			env.code = core.RunNode(env.ctx, env.reg, args[0], args[1:], env.stderr)
			return nil
		},
	}
}
