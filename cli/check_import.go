package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/checkers/linearizable"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/history/jepsen"
	"github.com/chaostest/chaos/internal/term"
)

// importFlags are the flags of `chaos check` for histories that another
// tool wrote.
type importFlags struct {
	format string
	model  string
	vizDir string
}

const (
	formatChaos     = "chaos"
	formatJepsenEDN = "jepsen-edn"
	formatJepsenLog = "jepsen-log"
)

func (f *importFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.format, "format", formatChaos, "history format: chaos (history.jsonl or a run directory), jepsen-edn (Jepsen's history.edn) or jepsen-log (Jepsen log lines, as in porcupine's test data)")
	fs.StringVar(&f.model, "model", "cas-register", "for jepsen formats, the model to judge by: "+strings.Join(linearizable.ModelNames(), ", ")+" (kv and kv-register read jepsen.independent [key value] tuples)")
	fs.StringVar(&f.vizDir, "viz-dir", "", "for jepsen formats, a directory for porcupine's visualization of failing keys (default: none)")
	cmd.Example += `
  chaos check --format jepsen-edn --model cas-register store/history.edn
  chaos check --format jepsen-log --model cas-register etcd_000.log`
}

// imported reports whether the history is another tool's.
func (f *importFlags) imported(cmd *cobra.Command) (bool, error) {
	switch f.format {
	case formatChaos:
		if cmd.Flags().Changed("model") || cmd.Flags().Changed("viz-dir") {
			return false, fmt.Errorf("--model and --viz-dir apply to --format %s or %s; a chaos history names its own checkers", formatJepsenEDN, formatJepsenLog)
		}
		return false, nil
	case formatJepsenEDN, formatJepsenLog:
		return true, nil
	}
	return false, fmt.Errorf("--format %q: must be one of %s, %s, %s", f.format, formatChaos, formatJepsenEDN, formatJepsenLog)
}

// checkImported judges a Jepsen history with the linearizability checker.
func (f *importFlags) checkImported(env *cliEnv, path string, timeout time.Duration) error {
	model, err := linearizable.ByName(f.model)
	if err != nil {
		return fmt.Errorf("--model: %w", err)
	}
	if _, err := statRunArg(path); err != nil {
		return err
	}
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("check: %s: %w", path, err)
	}
	defer file.Close()
	if st, err := file.Stat(); err == nil && st.IsDir() {
		return fmt.Errorf("%s is a directory; --format %s wants the history file itself", path, f.format)
	}
	opts := jepsen.Options{Source: path, Independent: model.Key != nil}
	var hf *history.File
	if f.format == formatJepsenEDN {
		hf, err = jepsen.ReadEDN(file, opts)
	} else {
		hf, err = jepsen.ReadLog(file, opts)
	}
	if err != nil {
		return fmt.Errorf("read %s history: %w", f.format, err)
	}
	if len(hf.Ops) == 0 {
		return fmt.Errorf("%s: no Jepsen operation records found (is --format %s right?)", path, f.format)
	}
	if f.vizDir != "" {
		if err := os.MkdirAll(f.vizDir, 0o755); err != nil {
			return fmt.Errorf("--viz-dir: %w", err)
		}
		hf.ArtifactDir = f.vizDir
	}
	ctx := env.ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	rs := checkers.Run(ctx, hf, []checkers.Checker{linearizable.New(model)})
	printCheck(env, checkJSON{History: path, Records: len(hf.Ops)}, rs,
		fmt.Sprintf("history  %s (%d records, %s, model %s)", term.Line(path), len(hf.Ops), f.format, model.Name))
	env.code = exitCode(rs.Valid)
	return nil
}

// printWitnesses prints the first anomalies of every invalid checker.
func printWitnesses(env *cliEnv, rs checkers.Results, max int) {
	for _, n := range rs.Names() {
		r := rs.Checkers[n]
		if r.Valid != checkers.Invalid {
			continue
		}
		for i, a := range r.Anomalies {
			if i == max {
				var total int64
				for _, c := range r.AnomalyCounts {
					total += c
				}
				fmt.Fprintf(env.stdout, "  ... %d more in results.json and report.html\n", total-int64(max))
				break
			}
			fmt.Fprintf(env.stdout, "\n%s: %s\n", term.Line(a.Kind), term.Text(a.Message))
			if w, ok := a.Data.(*linearizable.Witness); ok {
				for _, c := range w.Competing {
					fmt.Fprintf(env.stdout, "  also open: %s\n", term.Line(c))
				}
				if w.Visualization != "" {
					fmt.Fprintf(env.stdout, "  visualization: %s (%s)\n", term.Line(w.Visualization), term.Line(w.VisualizationNote))
				}
			}
		}
	}
}
