package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/internal/term"
)

// statRunArg stats a run directory or history file named on the command
// line, with an error that says what to give instead.
func statRunArg(path string) (fs.FileInfo, error) {
	const hint = "give a run directory or its history file, such as store/<target>/latest"
	if strings.TrimSpace(path) == "" {
		return nil, fmt.Errorf("check: the path is empty: %s", hint)
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("check: %s does not exist: %s", path, hint)
	case err != nil:
		return nil, fmt.Errorf("check: %s: %w (%s)", path, err, hint)
	}
	return st, nil
}

func newCheckCmd(env *cliEnv) *cobra.Command {
	var timeout time.Duration
	memory := byteSize(checkers.DefaultMemoryBudget)
	var maxRecord, maxHistory int64
	var imp importFlags
	cmd := &cobra.Command{
		Use:   "check <run-dir | history.jsonl>",
		Short: "Judge a stored history again, from the history alone",
		Long: `check reads a run's history.jsonl, rebuilds the workload's checkers from the
history's header, and prints the verdict. It writes nothing: the stored
results.json stays as the run left it. When that results.json says a
requested fault kind was never applied, a valid verdict is unknown here too.`,
		Example: `  chaos check store/snowflake/latest
  chaos check -o json store/snowflake/latest
  chaos check -q store/snowflake/latest`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return fmt.Errorf("--check-timeout %s: must be positive (leave it out for 5m0s)", timeout)
			}
			// The timeout bounds the whole check, reading the history included.
			deadline := time.Now().Add(timeout)
			env.ctx = checkers.WithMemoryBudget(env.ctx, int64(memory))
			if ext, err := imp.imported(cmd); err != nil || ext {
				if err != nil {
					return err
				}
				return imp.checkImported(env, args[0], timeout)
			}
			if err := env.out.validate(); err != nil {
				return err
			}
			if maxRecord <= 0 || maxHistory <= 0 {
				return fmt.Errorf("--max-record-size and --max-history-size must be positive (got %d and %d)", maxRecord, maxHistory)
			}
			path := args[0]
			var faults []core.FaultTally
			if st, err := statRunArg(path); err != nil {
				return err
			} else if st.IsDir() {
				// The run's own tally of faults, when it has one: a
				// verdict about faults that never happened is no pass.
				if sr, err := core.ReadResults(path); err == nil {
					faults = sr.Faults
				}
				path = core.HistoryPath(path)
				if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("check: %s holds no %s: give a run directory that `chaos run` wrote (store/<target>/<time>, or store/<target>/latest) or a history file", args[0], core.HistoryFile)
				}
			}
			hf, err := history.ReadFile(path, history.MaxRecordSize(maxRecord), history.MaxInputSize(maxHistory))
			if err != nil {
				return fmt.Errorf("read history: %w", err)
			}
			w, err := core.WorkloadFor(env.reg, &hf.Header)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			rs, err := core.CheckFile(env.ctx, hf, w, max(time.Until(deadline), time.Millisecond))
			if err != nil {
				return err
			}
			allow := false
			if sc, err := core.ReadConfig(filepath.Dir(path)); err == nil {
				allow = sc.AllowUnappliedFaults
			}
			core.JudgeFaults(&rs, faults, allow)
			printCheck(env, checkJSON{History: filepath.Clean(path), Records: len(hf.Ops), Target: hf.Header.Target,
				Workload: hf.Header.Workload, Seed: hf.Header.Seed, Faults: faults}, rs,
				fmt.Sprintf("history  %s (%d records, target %s, workload %s, seed %d)",
					term.Line(filepath.Clean(path)), len(hf.Ops), term.Line(hf.Header.Target), term.Line(hf.Header.Workload), hf.Header.Seed))
			env.code = exitCode(rs.Valid)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "check-timeout", 5*time.Minute, "bound on the checkers; past it the verdict is unknown")
	cmd.Flags().Var(&memory, "check-memory", "bound on the heap the checkers' searches may grow to; past it the verdict is unknown")
	cmd.Flags().Int64Var(&maxRecord, "max-record-size", history.DefaultMaxRecordSize, "largest history record (one line) accepted, in bytes")
	cmd.Flags().Int64Var(&maxHistory, "max-history-size", history.DefaultMaxInputSize, "largest history accepted, in bytes")
	imp.register(cmd)
	addOutputFlags(cmd.Flags(), &env.out)
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}
