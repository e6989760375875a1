package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/matrix"
)

func newMatrixCmd(env *cliEnv) *cobra.Command {
	var rows, faults, rt, store, outPath string
	var cellTime time.Duration
	var seed int64
	var parallel int
	cmd := &cobra.Command{
		Use:   "matrix locks|ids [--rows a,b] [--faults f,g] [--runtime local|docker|both]",
		Short: "Run every lock or ID implementation against every fault kind and write the comparison page",
		Long: `matrix runs each registered implementation (a row) against each fault
column (` + strings.Join(core.MatrixFaults(), ", ") + `): one short run
per cell with the row's fixed seed, stored like any run, with its report.
It then writes one self-contained HTML page (rows = implementations,
columns = faults, each cell the verdict with a link to its run's report and
the first witness in one line), the same as a Markdown table (.md) and as
JSON (.json) beside it.

A cell is n/a when the implementation has no such fault (no replica to
fail over) or the runtime cannot make it. --runtime both runs every cell on
the local and on the docker runtime, one table each.

The matrix is a measurement, not a verdict: the exit code is 0 when every
cell ran and was judged (valid, invalid or unknown) or is n/a, and 2 when a
cell could not run (its set-up failed), the run was interrupted, or the
arguments are wrong.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 || (args[0] != core.MatrixLocks && args[0] != core.MatrixIDs) {
				return fmt.Errorf("matrix wants one of %s, %s (see `chaos matrix --help`)", core.MatrixLocks, core.MatrixIDs)
			}
			return nil
		},
		ValidArgs: []string{core.MatrixLocks, core.MatrixIDs},
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(store) == "" {
				return fmt.Errorf("--store %q: must name a directory (leave it out for \"store\")", store)
			}
			if parallel < 1 || parallel > 8 {
				return fmt.Errorf("--parallel %d: must be between 1 and 8", parallel)
			}
			if cmd.Flags().Changed("cell-time") && cellTime <= 0 {
				return fmt.Errorf("--cell-time %s: must be positive (leave it out for each cell's own length)", cellTime)
			}
			runtimes := []string{rt}
			if rt == "both" {
				runtimes = []string{"local", "docker"}
			}
			o := matrix.Options{Matrix: args[0], Rows: splitNames(rows), Faults: splitNames(faults), Runtimes: runtimes,
				CellTime: cellTime, Store: store, Parallel: parallel, Log: env.stderr,
				Command: append([]string{"chaos"}, os.Args[1:]...),
				NewRuntime: func(name string) (func() (core.Runtime, error), error) {
					nr, err := env.newRuntime(name)
					if err != nil {
						return nil, err
					}
					return env.live.wrap(nr), nil
				}}
			if cmd.Flags().Changed("seed") {
				o.Seed = &seed
			}
			if _, _, _, err := matrix.Plan(env.reg, o); err != nil {
				return err
			}
			if outPath == "" {
				outPath = filepath.Join(store, "matrix-"+args[0]+".html")
			}
			res, err := matrix.Run(env.ctx, env.reg, o)
			if err != nil {
				return err
			}
			paths, err := matrix.Write(res, outPath)
			if err != nil {
				return exitError{exitOther, err}
			}
			matrix.RenderMarkdown(env.stdout, res)
			fmt.Fprintf(env.stderr, "chaos: matrix %s: %d cells in %s; page %s, table %s\n", args[0], len(res.Cells),
				(time.Duration(res.ElapsedS * float64(time.Second))).Round(time.Second), paths.HTML, paths.Markdown)
			if !res.Complete() {
				env.code = exitOther
				fmt.Fprintf(env.stderr, "chaos: matrix %s: not every cell ran (see the cells marked error)\n", args[0])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&rows, "rows", "", "implementations to run, comma-separated (default: every row of the matrix)")
	cmd.Flags().StringVar(&faults, "faults", "", "fault columns to run, comma-separated: "+strings.Join(core.MatrixFaults(), ", ")+" (default: all)")
	cmd.Flags().StringVar(&rt, "runtime", "local", "where nodes run: "+strings.Join(env.runtimeNames(), ", ")+", or both (local and docker)")
	cmd.Flags().DurationVar(&cellTime, "cell-time", 0, "length of every cell whose faults come on the clock schedule (default: each row's own, a few seconds)")
	cmd.Flags().Int64Var(&seed, "seed", 0, "seed of every cell (default: each row's own)")
	cmd.Flags().IntVar(&parallel, "parallel", 2, "cells run at once")
	cmd.Flags().StringVar(&store, "store", "store", "directory that keeps the runs")
	cmd.Flags().StringVarP(&outPath, "out", "o", "", "the HTML page to write; the .md and .json go beside it (default: <store>/matrix-<matrix>.html)")
	return cmd
}

// splitNames splits a comma-separated list, keeping every name ("none" is
// a fault column here, not the absence of one).
func splitNames(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
