package cli

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/internal/term"
)

// runFlags are the flags of `chaos run`, in Jepsen's spirit.
type runFlags struct {
	cfg       core.Config
	nemeses   string
	runtime   string
	testCount int
	params    paramFlags
	system    string
}

func newRunCmd(env *cliEnv) *cobra.Command {
	f := &runFlags{cfg: core.DefaultConfig()}
	cmd := &cobra.Command{
		Use:   "run <target> [flags]",
		Short: "Run a chaos test against a target and judge its history",
		Long: `run starts the target's nodes, drives --concurrency workers against them at
--rate operations per second for --time-limit while the nemeses inject faults
every --nemesis-interval, heals everything, runs the final phase, and judges
the history. Everything is kept in --store/<target>/<time>/ (history.jsonl,
results.json, config.json, node logs), with a "latest" link per target.

The same --seed gives the same operations and the same fault schedule.
` + "`chaos run <target> --help`" + ` lists only the flags of that target, its
workloads and the nemeses it supports.`,
		Example: `  chaos run snowflake --snowflake-mode naive --nemesis clock --time-limit 10s --seed 7
  chaos run snowflake --snowflake-mode monotonic --nemesis clock,kill --nodes 5
  chaos run snowflake --help`,
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []string
			for _, t := range env.reg.Targets() {
				out = append(out, t.Name+"\t"+t.Summary)
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("system") && strings.TrimSpace(f.system) == "" {
				return fmt.Errorf("--system %q: must name a system file (TOML, see docs/bring-your-own.md), or leave it out to run a registered target", f.system)
			}
			if f.system != "" {
				return systemArgs(args)
			}
			if len(args) != 1 {
				return fmt.Errorf("run wants one target (known: %s)", strings.Join(env.reg.TargetNames(), ", "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				f.cfg.Target = args[0]
			}
			if !cmd.Flags().Changed("seed") {
				f.cfg.Seed = randomSeed()
			}
			return f.run(env, cmd)
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.IntVar(&f.cfg.Nodes, "nodes", f.cfg.Nodes, "number of nodes")
	fs.IntVar(&f.cfg.Concurrency, "concurrency", f.cfg.Concurrency, "number of concurrent workers")
	fs.DurationVar(&f.cfg.TimeLimit, "time-limit", f.cfg.TimeLimit, "length of the main phase, the one with faults")
	fs.Float64Var(&f.cfg.Rate, "rate", f.cfg.Rate, "operations per second over all workers (0: as fast as the target answers)")
	fs.StringVar(&f.nemeses, "nemesis", "none", "comma-separated fault kinds, or none (see 'chaos list')")
	fs.DurationVar(&f.cfg.NemesisInterval, "nemesis-interval", f.cfg.NemesisInterval, "time between faults")
	fs.Int64Var(&f.cfg.Seed, "seed", 0, "seed of every random choice (random when absent; always printed and stored)")
	fs.IntVar(&f.testCount, "test-count", 1, "number of runs; run i uses seed+i")
	fs.StringVar(&f.cfg.Workload, "workload", "", "workload (default: the target's first)")
	fs.StringVar(&f.cfg.Store, "store", f.cfg.Store, "directory that keeps the runs")
	fs.StringVar(&f.system, "system", "", "a system file (TOML) describing your own nodes, client, workload and nemeses; flags override it (see docs/bring-your-own.md)")
	fs.StringVar(&f.runtime, "runtime", "local", "where nodes run: "+strings.Join(env.runtimeNames(), ", "))
	fs.DurationVar(&f.cfg.OpTimeout, "op-timeout", f.cfg.OpTimeout, "bound on one operation; past it the outcome is indeterminate (info)")
	fs.DurationVar(&f.cfg.CheckTimeout, "check-timeout", f.cfg.CheckTimeout, "bound on the checkers; past it the verdict is unknown")
	fs.BoolVar(&f.cfg.StopOnAnomaly, "stop-on-anomaly", false, "check the history while the run goes and end the run (heal, final reads, teardown, full check) at the first anomaly proven")
	fs.Var((*byteSize)(&f.cfg.CheckMemory), "check-memory", "bound on the heap the checkers' searches may grow to; past it the verdict is unknown (default 2GiB)")
	addOutputFlags(fs, &env.out)
	f.params = addParamFlags(fs, env.reg)
	scopeHelp(cmd, env.reg, f.params)
	completeParamValues(cmd, f.params)
	completeRunFlags(cmd, env)
	return cmd
}

func (f *runFlags) run(env *cliEnv, cmd *cobra.Command) error {
	if f.testCount < 1 {
		return fmt.Errorf("--test-count %d: must be at least 1", f.testCount)
	}
	nr, err := env.newRuntime(f.runtime)
	if err != nil {
		return err
	}
	cfg := f.cfg
	cfg.NewRuntime, cfg.Runtime = env.live.wrap(nr), f.runtime
	cfg.Nemeses = splitList(f.nemeses)
	if err := f.params.checkAliases(cmd.Flags(), env.stderr); err != nil {
		return err
	}
	cfg.Params = f.params.params()
	cfg.Command = append([]string{"chaos"}, os.Args[1:]...)
	// Every flag starts at its default, so a zero here was given as zero:
	// refuse it before Prepare would replace it with the default.
	if err := cfg.Validate(); err != nil {
		return err
	}
	if f.system != "" {
		done, err := useSystem(env, cmd, f.system, &cfg)
		if err != nil {
			return err
		}
		defer done()
	}
	return runMany(env, cfg, f.testCount)
}

// runMany runs cfg count times and sets the exit code from the worst verdict.
// Each run gets its report.html and junit.xml.
func runMany(env *cliEnv, cfg core.Config, count int) error {
	if err := env.out.validate(); err != nil {
		return err
	}
	if err := seedsFit(cfg.Seed, count, countFlag(cfg)); err != nil {
		return exitError{exitOther, err}
	}
	cfg.Progress = env.out.progress(env.stderr)
	verdicts := make([]checkers.Validity, 0, count)
	results := make([]runResult, 0, count)
	lines := env.stdout
	if env.out.quiet || env.out.format == "json" {
		lines = env.stderr
	}
	for i := 0; i < count; i++ {
		c := cfg
		c.Seed = cfg.Seed + int64(i)
		p, err := core.Prepare(env.reg, c)
		if err != nil {
			return exitError{exitOther, err}
		}
		if !env.out.quiet {
			fmt.Fprintf(env.stderr, "chaos: run %d/%d: target %s, workload %s, seed %d\n", i+1, count, p.TargetInfo.Name, p.Config.Workload, c.Seed)
		}
		out, err := core.Execute(env.ctx, p)
		if out != nil && out.Dir != "" && !env.out.quiet {
			fmt.Fprintf(env.stderr, "chaos: run directory %s\n", out.Dir)
		}
		if err != nil {
			// What was recorded still deserves a report ("not judged").
			if out != nil && out.Dir != "" {
				if _, serr := os.Stat(core.HistoryPath(out.Dir)); serr == nil {
					if rp := writeReport(env, out.Dir); rp.HTML != "" {
						fmt.Fprintf(env.stderr, "chaos: report of what was recorded: %s\n", rp.HTML)
					}
				}
			}
			if cfg.Scenario != nil && count > 1 && env.ctx.Err() == nil {
				// One broken set-up is one run that missed, not the end
				// of the series: the closing line names it.
				fmt.Fprintf(env.stderr, "chaos: run failed (seed %d): %v\n", c.Seed, err)
				rr := runResult{n: i + 1, seed: c.Seed, valid: checkers.Unknown, failed: true}
				results = append(results, rr)
				verdicts = append(verdicts, checkers.Unknown)
				say(lines, "chaos: ", rr.line(count, cfg.Scenario))
				continue
			}
			return exitError{exitOther, fmt.Errorf("run failed (seed %d): %w", c.Seed, err)}
		}
		for _, w := range out.Warnings {
			fmt.Fprintf(env.stderr, "chaos: warning: %s\n", term.Text(w))
		}
		printOutcome(env, p, out, c.Seed, writeReport(env, out.Dir))
		verdicts = append(verdicts, out.Results.Valid)
		rr := judge(i+1, c.Seed, out, cfg.Scenario)
		results = append(results, rr)
		if count > 1 || cfg.Scenario != nil {
			say(lines, "chaos: ", rr.line(count, cfg.Scenario))
		}
		if out.Interrupted {
			fmt.Fprintln(env.stderr, "chaos: interrupted; the verdict above covers the history recorded so far")
			break
		}
	}
	if count > 1 || cfg.Scenario != nil {
		say(lines, "", closing(results, cfg.Scenario))
	}
	env.code = exitCode(verdicts...)
	if cfg.Scenario != nil {
		env.code = scenarioCode(results, cfg.Scenario)
	}
	return nil
}

// countFlag names the flag that set the number of runs, for errors.
func countFlag(cfg core.Config) string {
	if cfg.Scenario != nil {
		return "--runs"
	}
	return "--test-count"
}

// exitCode is 1 when any verdict is invalid, 2 when any is unknown, else 0.
func exitCode(vs ...checkers.Validity) int {
	code := exitValid
	for _, v := range vs {
		switch v {
		case checkers.Invalid:
			return exitInvalid
		case checkers.Unknown:
			code = exitOther
		}
	}
	return code
}

func printSummary(env *cliEnv, out *core.Outcome, seed int64) {
	w := env.stdout
	s := out.Stats
	fmt.Fprintf(w, "\nrun      %s\n", term.Line(out.Dir))
	fmt.Fprintf(w, "seed     %d\n", seed)
	fmt.Fprintf(w, "elapsed  %s\n", out.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "ops      %d invoked: %d ok, %d fail, %d info\n", s.Invoked, s.OK, s.Fail, s.Info)
	if len(out.Faults) > 0 {
		fmt.Fprintf(w, "faults   %d invoked, %d applied (heals apart: %d)\n", s.Faults, s.Applied, s.Heals)
		for _, ft := range out.Faults {
			fmt.Fprintf(w, "         %s\n", ft)
		}
	}
	printResults(env, out.Results)
}

func printResults(env *cliEnv, rs checkers.Results) {
	w := env.stdout
	// Names, summaries and errors come from the history: printed through
	// term, so no escape sequence in it reaches the terminal.
	for _, warn := range rs.Warnings {
		fmt.Fprintf(w, "warning  %s\n", term.Line(warn))
	}
	fmt.Fprintln(w)
	width := len("checker")
	for _, n := range rs.Names() {
		width = max(width, len(term.Line(n)))
	}
	fmt.Fprintf(w, "%-*s  %-8s  %s\n", width, "checker", "verdict", "summary")
	for _, n := range rs.Names() {
		r := rs.Checkers[n]
		line := r.Summary
		if r.Error != "" {
			line = strings.TrimSpace(line + " (" + r.Error + ")")
		}
		fmt.Fprintf(w, "%-*s  %-8s  %s\n", width, term.Line(n), r.Valid, term.Line(line))
	}
	printWitnesses(env, rs, 3)
	fmt.Fprintf(w, "\nverdict  %s\n", strings.ToUpper(rs.Valid.String()))
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" && x != "none" {
			out = append(out, x)
		}
	}
	return out
}

func randomSeed() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	// Positive and below 2^53, so it survives a trip through JSON numbers in
	// other tools.
	return int64(binary.LittleEndian.Uint64(b[:]) & (1<<53 - 1))
}
