package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/chaostest/chaos/core"
)

func newListCmd(env *cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List targets, workloads, nemeses, runtimes and named scenarios",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TARGETS\tworkloads\tnemeses (local runtime)\t")
			for _, t := range env.reg.Targets() {
				fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", t.Name, strings.Join(t.Workloads, ","), strings.Join(t.Nemeses, ","), t.Summary)
				printParams(w, t.Params)
			}
			fmt.Fprintln(w, "\nWORKLOADS\t\t\t")
			for _, x := range env.reg.Workloads() {
				fmt.Fprintf(w, "  %s\t\t\t%s\n", x.Name, x.Summary)
				printParams(w, x.Params)
			}
			fmt.Fprintln(w, "\nNEMESES\t\t\t")
			for _, x := range env.reg.Nemeses() {
				fmt.Fprintf(w, "  %s\t\t\t%s\n", x.Name, x.Summary)
				printParams(w, x.Params)
			}
			fmt.Fprintln(w, "\nRUNTIMES\t\t\t")
			for _, n := range env.runtimeNames() {
				fmt.Fprintf(w, "  %s\t\t\t\n", n)
				for _, t := range env.reg.Targets() {
					fmt.Fprintf(w, "    %s\tnemeses: %s\t\t\n", t.Name, strings.Join(env.runtimeNemeses(n, t), ","))
				}
			}
			fmt.Fprintln(w, "\nSCENARIOS (chaos repro <name> [--control])\t\t\t")
			for _, s := range env.reg.Scenarios() {
				fmt.Fprintf(w, "  %s\t\t\t%s\n", s.Name, s.Summary)
				fmt.Fprintf(w, "  \t\t\texpect: %s; control: %s\n", s.Expect, s.ControlExpect)
			}
			return w.Flush()
		},
	}
}

func printParams(w *tabwriter.Writer, ps []core.Param) {
	for _, p := range ps {
		fmt.Fprintf(w, "    --%s\t%s\t\t%s\n", p.Name, p.Default, p.Usage)
	}
}
