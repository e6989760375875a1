package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chaostest/chaos/core"
)

func newReproCmd(env *cliEnv) *cobra.Command {
	var control bool
	var store, rt string
	var runs int
	var seed int64
	cmd := &cobra.Command{
		Use:   "repro <scenario> [--control] [--seed N] [--runs K]",
		Short: "Reproduce a named anomaly, or run its control",
		Long: `repro runs a named scenario: a fixed, seeded run that reproduces one known
anomaly (it should exit 1 with a witness). With --control it runs the same
scenario without the ingredient that makes the anomaly possible (it should
exit 0). 'chaos list' shows the scenarios.

--runs K plays it K times with seeds N, N+1, ... (--seed N, default the
scenario's own). Each run prints whether its verdict matched what the
scenario expects, and a closing line says how many did, for example
"reproduced 10/10 (overlapping-holds), first anomaly after 3.1-6.8 s".
The exit code is 1 when the anomaly showed in every run, 0 when every run
of --control was valid, and 2 otherwise: the closing line names the runs
that missed.`,
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
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []string
			for _, s := range env.reg.Scenarios() {
				out = append(out, s.Name+"\t"+s.Summary)
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(store) == "" {
				return fmt.Errorf("--store %q: must name a directory (leave it out for \"store\")", store)
			}
			s, err := env.reg.Scenario(args[0])
			if err != nil {
				return err
			}
			nr, err := env.newRuntime(rt)
			if err != nil {
				return err
			}
			if runs < 1 {
				return fmt.Errorf("--runs %d: must be at least 1", runs)
			}
			cfg := s.Config(control)
			if cmd.Flags().Changed("seed") {
				cfg.Seed = seed
			}
			cfg.Scenario = core.NewScenarioRun(s.Name, control)
			if err := seedsFit(cfg.Seed, runs, "--runs"); err != nil {
				return err
			}
			cfg.NewRuntime, cfg.Runtime = env.live.wrap(nr), rt
			cfg.Store = store
			cfg.Command = append([]string{"chaos"}, os.Args[1:]...)
			expect := s.Expect
			if control {
				expect = s.ControlExpect
			}
			if !env.out.quiet {
				fmt.Fprintf(env.stderr, "chaos: scenario %s (control: %t): %s\n", s.Name, control, expect)
			}
			return runMany(env, cfg, runs)
		},
	}
	cmd.Flags().BoolVar(&control, "control", false, "run the control: the scenario without the anomaly's ingredient")
	cmd.Flags().Int64Var(&seed, "seed", 0, "seed of the first run (default: the scenario's own)")
	cmd.Flags().IntVar(&runs, "runs", 1, "number of runs; run i uses seed+i-1")
	cmd.Flags().StringVar(&store, "store", "store", "directory that keeps the runs")
	cmd.Flags().StringVar(&rt, "runtime", "local", "where nodes run: "+strings.Join(env.runtimeNames(), ", "))
	addOutputFlags(cmd.Flags(), &env.out)
	return cmd
}
