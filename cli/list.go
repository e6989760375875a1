package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chaostest/chaos/core"
)

// listWidth is the width `chaos list` keeps to.
const listWidth = 100

func newListCmd(env *cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "list [name]",
		Short: "List targets, workloads, nemeses, runtimes and named scenarios",
		Long: `list shows what chaos can run, one line each. With a name (a target,
workload, nemesis or scenario) it shows that part in full: its flags with
their types and defaults, and for a target its workloads and the nemeses
each runtime offers.`,
		Example: "  chaos list\n  chaos list snowflake\n  chaos list clock",
		Args:    cobra.MaximumNArgs(1),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return listNames(env.reg), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return listOne(env, args[0])
			}
			listAll(env.stdout, env.reg)
			return nil
		},
	}
}

// listNames is every name `chaos list <name>` knows.
func listNames(reg *core.Registry) []string {
	var out []string
	for _, t := range reg.Targets() {
		out = append(out, t.Name+"\ttarget: "+t.Summary)
	}
	for _, w := range reg.Workloads() {
		out = append(out, w.Name+"\tworkload: "+w.Summary)
	}
	for _, n := range reg.Nemeses() {
		out = append(out, n.Name+"\tnemesis: "+n.Summary)
	}
	for _, s := range reg.Scenarios() {
		out = append(out, s.Name+"\tscenario: "+s.Summary)
	}
	return out
}

func listAll(w io.Writer, reg *core.Registry) {
	section := func(title string, rows []listRow) {
		fmt.Fprintf(w, "%s\n", title)
		width := 0
		for _, r := range rows {
			width = max(width, len(r.name))
		}
		for _, r := range rows {
			lead := fmt.Sprintf("  %-*s  ", width, r.name)
			fmt.Fprintf(w, "%s%s\n", lead, clip(r.text, listWidth-len(lead)))
		}
		fmt.Fprintln(w)
	}
	section("TARGETS (chaos list <target>: workloads, nemeses, flags)",
		listRows(reg.Targets(), func(x core.TargetInfo) (string, string) { return x.Name, runsOnly(reg, x) + x.Summary }))
	section("WORKLOADS", listRows(reg.Workloads(), func(x core.WorkloadInfo) (string, string) { return x.Name, x.Summary }))
	section("NEMESES", listRows(reg.Nemeses(), func(x core.NemesisInfo) (string, string) { return x.Name, x.Summary }))
	section("RUNTIMES (--runtime)", listRows(reg.Runtimes(), func(x core.RuntimeInfo) (string, string) { return x.Name, x.Summary }))
	section("SCENARIOS (chaos repro <name> [--control])",
		listRows(reg.Scenarios(), func(x core.ScenarioInfo) (string, string) { return x.Name, x.Summary }))
}

// listRow is one line of a chaos list section: a part's name and summary.
type listRow struct{ name, text string }

// listRows makes a section's rows from the registry's parts, in their order.
func listRows[T any](parts []T, row func(T) (name, summary string)) []listRow {
	rows := make([]listRow, 0, len(parts))
	for _, p := range parts {
		name, summary := row(p)
		rows = append(rows, listRow{name, summary})
	}
	return rows
}

// listOne shows every part named name in full.
func listOne(env *cliEnv, name string) error {
	w := env.stdout
	found := false
	if t, err := env.reg.Target(name); err == nil {
		found = true
		fmt.Fprintf(w, "target %s\n", t.Name)
		para(w, "  ", t.Summary)
		fmt.Fprintf(w, "  workloads: %s (default %s)\n", strings.Join(t.Workloads, ", "), first(t.Workloads))
		for _, rt := range env.runtimeNames() {
			if err := env.reg.CanRun(rt, t); err != nil {
				para(w, "  ", fmt.Sprintf("on %s: cannot run: %v", rt, lackLine(err)))
				continue
			}
			para(w, "  ", fmt.Sprintf("nemeses on %s: %s", rt, strings.Join(env.runtimeNemeses(rt, t), ", ")))
		}
		fmt.Fprintf(w, "\n  flags (chaos run %s --help shows them with the run's own):\n", t.Name)
		printParams(w, env.reg.ParamsFor(t.Name))
	}
	if x, err := env.reg.Workload(name); err == nil {
		found = true
		fmt.Fprintf(w, "workload %s\n", x.Name)
		para(w, "  ", x.Summary)
		printParams(w, owned(x.Params, "workload "+x.Name))
	}
	if x, err := env.reg.Nemesis(name); err == nil {
		found = true
		fmt.Fprintf(w, "nemesis %s\n", x.Name)
		para(w, "  ", x.Summary)
		printParams(w, owned(x.Params, "nemesis "+x.Name))
	}
	if s, err := env.reg.Scenario(name); err == nil {
		found = true
		fmt.Fprintf(w, "scenario %s (chaos repro %s [--control])\n", s.Name, s.Name)
		para(w, "  ", s.Summary)
		para(w, "  ", "expect: "+s.Expect)
		para(w, "  ", "control: "+s.ControlExpect)
	}
	if !found {
		return fmt.Errorf("%q is no target, workload, nemesis or scenario (see 'chaos list')", name)
	}
	return nil
}

func first(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return xs[0]
}

func owned(ps []core.Param, owner string) []core.OwnedParam {
	out := make([]core.OwnedParam, 0, len(ps))
	for _, p := range ps {
		out = append(out, core.OwnedParam{Param: p, Owners: []string{owner}})
	}
	return out
}

// printParams prints each flag on its own line (name, type, default), its
// usage wrapped beneath it.
func printParams(w io.Writer, ps []core.OwnedParam) {
	for _, p := range ps {
		line := fmt.Sprintf("    --%s %s", p.Name, p.Placeholder())
		if p.Default != "" {
			line += fmt.Sprintf(" (default %s)", p.Default)
		}
		if len(p.Aliases) > 0 {
			line += " (was --" + strings.Join(p.Aliases, ", --") + ")"
		}
		fmt.Fprintln(w, clip(line, listWidth))
		para(w, "        ", p.Usage+" ["+strings.Join(p.Owners, ", ")+"]")
	}
}

// para prints text wrapped at listWidth, each line led by indent.
func para(w io.Writer, indent, text string) {
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > listWidth {
			fmt.Fprintln(w, line)
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	if len(line) > len(indent) {
		fmt.Fprintln(w, line)
	}
}

// clip shortens s to n bytes, marking the cut with "...".
func clip(s string, n int) string {
	if len(s) <= n || n < 4 {
		return s
	}
	return s[:n-3] + "..."
}

// runsOnly is "(local only) " for a target that some registered runtime
// cannot run (its Needs), naming the runtimes that can; "" when every one
// can.
func runsOnly(reg *core.Registry, t core.TargetInfo) string {
	var can []string
	for _, rt := range reg.RuntimeNames() {
		if reg.CanRun(rt, t) == nil {
			can = append(can, rt)
		}
	}
	if len(can) == len(reg.RuntimeNames()) {
		return ""
	}
	if len(can) == 0 {
		return "(no runtime here can run it) "
	}
	return "(" + strings.Join(can, ", ") + " only) "
}

// lackLine is a LacksError for `chaos list <target>`: what the nodes need,
// why, and where they run.
func lackLine(err error) string {
	var le *core.LacksError
	if !errors.As(err, &le) {
		return err.Error()
	}
	s := fmt.Sprintf("its nodes need %s (%s)", le.Need.Capability, le.Need.Why)
	if len(le.Others) > 0 {
		s += "; runs on " + strings.Join(le.Others, ", ")
	}
	return s
}
