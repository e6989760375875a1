package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chaostest/chaos/internal/term"
	"github.com/chaostest/chaos/reports"
)

func newReportCmd(env *cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "report <run-dir>...",
		Short: "Write report.html and junit.xml for stored runs",
		Long: `report renders a stored run's self-contained report.html (verdicts, the
witness of every anomaly, a timeline of operations with fault periods, clock
offsets, latency and throughput) and its junit.xml (one test case per
checker). It reads history.jsonl, results.json, config.json and the node logs
and changes nothing else in the run directory. ` + "`chaos run`" + ` already does this at the
end of every run; use report for older runs or after ` + "`chaos check`" + `.

Exit codes: 0 when every report was written, 2 otherwise. The verdict is in
the report; ` + "`chaos check`" + ` exits with it.`,
		Example: `  chaos report store/snowflake/latest
  chaos report store/*/2026*`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			failed := 0
			for _, dir := range args {
				if strings.TrimSpace(dir) == "" {
					fmt.Fprintf(env.stderr, "chaos: report: a run directory is empty (%q): give a directory under the store, such as store/<target>/latest\n", dir)
					failed++
					continue
				}
				p, err := reports.Write(dir, reports.WithRegistry(env.reg))
				if err != nil {
					fmt.Fprintf(env.stderr, "chaos: report: %s\n", term.Text(err.Error()))
					failed++
					continue
				}
				fmt.Fprintf(env.stdout, "%s\n%s\n", p.HTML, p.JUnit)
			}
			if failed > 0 {
				env.code = exitOther
			}
			return nil
		},
	}
}
