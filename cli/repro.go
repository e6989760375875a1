package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func newReproCmd(env *cliEnv) *cobra.Command {
	var control bool
	var store, rt string
	cmd := &cobra.Command{
		Use:   "repro <scenario> [--control]",
		Short: "Reproduce a named anomaly, or run its control",
		Long: `repro runs a named scenario: a fixed, seeded run that reproduces one known
anomaly (it should exit 1 with a witness). With --control it runs the same
scenario without the ingredient that makes the anomaly possible (it should
exit 0). ` + "`chaos list`" + ` shows the scenarios.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				var names []string
				for _, s := range env.reg.Scenarios() {
					names = append(names, s.Name)
				}
				return fmt.Errorf("repro wants one scenario (known: %s)", strings.Join(names, ", "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := env.reg.Scenario(args[0])
			if err != nil {
				return err
			}
			nr, err := env.newRuntime(rt)
			if err != nil {
				return err
			}
			cfg := s.Config(control)
			cfg.NewRuntime = nr
			cfg.Store = store
			cfg.Command = append([]string{"chaos"}, os.Args[1:]...)
			expect := s.Expect
			if control {
				expect = s.ControlExpect
			}
			if !env.out.quiet {
				fmt.Fprintf(env.stderr, "chaos: scenario %s (control: %t): %s\n", s.Name, control, expect)
			}
			return runMany(env, cfg, 1)
		},
	}
	cmd.Flags().BoolVar(&control, "control", false, "run the control: the scenario without the anomaly's ingredient")
	cmd.Flags().StringVar(&store, "store", "store", "directory that keeps the runs")
	cmd.Flags().StringVar(&rt, "runtime", "local", "where nodes run: "+strings.Join(env.runtimeNames(), ", "))
	addOutputFlags(cmd.Flags(), &env.out)
	return cmd
}
