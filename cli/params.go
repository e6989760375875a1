package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chaostest/chaos/core"
)

// paramValue is one target, workload or nemesis parameter as a typed flag:
// Set checks the value against the declaration, Type names it in --help.
type paramValue struct {
	p       core.Param
	v       string
	set     bool
	aliases []string
}

func (v *paramValue) String() string { return v.v }
func (v *paramValue) Type() string   { return v.p.Placeholder() }

func (v *paramValue) Set(s string) error {
	if err := v.p.Check(s); err != nil {
		// pflag names the flag already.
		_, msg, _ := strings.Cut(err.Error(), ": ")
		return fmt.Errorf("%s", msg)
	}
	v.v, v.set = s, true
	return nil
}

// paramFlags are the parameter flags of a command, by parameter name.
type paramFlags map[string]*paramValue

// addParamFlags turns every registered target, workload and nemesis
// parameter into a typed flag named after it, and each older name into a
// deprecated alias. Only flags the user sets reach the run, so each part
// keeps its own defaults.
func addParamFlags(fs *pflag.FlagSet, reg *core.Registry) paramFlags {
	dst := paramFlags{}
	for _, op := range reg.ParamsFor("") {
		if fs.Lookup(op.Name) != nil {
			continue
		}
		v := &paramValue{p: op.Param, v: op.Default}
		fl := fs.VarPF(v, op.Name, "", fmt.Sprintf("%s [%s]", op.Usage, strings.Join(op.Owners, ", ")))
		if op.Type == core.TypeBool {
			fl.NoOptDefVal = "true"
		}
		dst[op.Name] = v
		for _, a := range op.Aliases {
			if fs.Lookup(a) != nil {
				continue
			}
			al := fs.VarPF(v, a, "", "deprecated: use --"+op.Name)
			al.NoOptDefVal = fl.NoOptDefVal
			al.Hidden = true
			v.aliases = append(v.aliases, a)
		}
	}
	return dst
}

// checkAliases says on w which older names the command line used, and
// refuses an older and a current name of the same parameter together.
func (pf paramFlags) checkAliases(fs *pflag.FlagSet, w io.Writer) error {
	for _, name := range sortedNames(pf) {
		for _, a := range pf[name].aliases {
			if fl := fs.Lookup(a); fl != nil && fl.Changed {
				if fs.Changed(name) {
					return fmt.Errorf("--%s and its older name --%s are both given; keep --%s", name, a, name)
				}
				fmt.Fprintf(w, "chaos: --%s is deprecated and goes in the next release; use --%s\n", a, name)
			}
		}
	}
	return nil
}

func sortedNames(pf paramFlags) []string {
	out := make([]string, 0, len(pf))
	for n := range pf {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// params returns the parameters the user set.
func (pf paramFlags) params() core.Params {
	out := core.Params{}
	for name, v := range pf {
		if v.set {
			out[name] = v.v
		}
	}
	return out
}

// scopeHelp makes `chaos run <target> --help` list only the flags that
// apply to that target: its own, its workloads' and those of the nemeses
// it supports.
func scopeHelp(cmd *cobra.Command, reg *core.Registry, pf paramFlags) {
	help := cmd.HelpFunc()
	cmd.SetHelpFunc(func(c *cobra.Command, args []string) {
		if a := c.Flags().Args(); len(a) > 0 {
			if _, err := reg.Target(a[0]); err == nil {
				keep := map[string]bool{}
				for _, op := range reg.ParamsFor(a[0]) {
					keep[op.Name] = true
				}
				for name := range pf {
					if !keep[name] {
						c.Flags().Lookup(name).Hidden = true
					}
				}
			}
		}
		help(c, args)
	})
}

// completeParamValues completes the values of choice and bool flags.
func completeParamValues(cmd *cobra.Command, pf paramFlags) {
	for name, v := range pf {
		var vals []string
		switch v.p.Type {
		case core.TypeChoice:
			vals = v.p.Choices
		case core.TypeBool:
			vals = []string{"true", "false"}
		default:
			continue
		}
		list := v.p.List
		_ = cmd.RegisterFlagCompletionFunc(name, func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if list {
				return completeList(vals, toComplete), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
			}
			return vals, cobra.ShellCompDirectiveNoFileComp
		})
	}
}

// completeList completes the last element of a comma-separated list.
func completeList(vals []string, toComplete string) []string {
	head := ""
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		head = toComplete[:i+1]
	}
	done := strings.Split(head, ",")
	var out []string
	for _, v := range vals {
		if !slices.Contains(done, v) {
			out = append(out, head+v)
		}
	}
	return out
}

// completeRunFlags completes run's --nemesis, --workload and --runtime
// with what the target on the command line supports.
func completeRunFlags(cmd *cobra.Command, env *cliEnv) {
	target := func(args []string) (core.TargetInfo, bool) {
		if len(args) == 0 {
			return core.TargetInfo{}, false
		}
		t, err := env.reg.Target(args[0])
		return t, err == nil
	}
	_ = cmd.RegisterFlagCompletionFunc("nemesis", func(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		var names []string
		if t, ok := target(args); ok && len(t.Nemeses) > 0 {
			names = t.Nemeses
		} else {
			for _, n := range env.reg.Nemeses() {
				names = append(names, n.Name)
			}
		}
		if !strings.Contains(toComplete, ",") {
			names = append(slices.Clone(names), "none")
		}
		return completeList(names, toComplete), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	})
	_ = cmd.RegisterFlagCompletionFunc("workload", func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if t, ok := target(args); ok {
			return t.Workloads, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, w := range env.reg.Workloads() {
			names = append(names, w.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("runtime", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return env.runtimeNames(), cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp
	})
}
