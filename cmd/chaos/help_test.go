package main

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/chaostest/chaos/catalog"
	"github.com/chaostest/chaos/cli"
	"github.com/chaostest/chaos/core"
)

// flagLine is one flag of a help page: its name, then its placeholder (the
// value's type), then at least two spaces and the usage.
var flagLine = regexp.MustCompile(`^\s+(?:-\w, )?--([a-z0-9-]+)(?: (\S+))?\s{2,}\S`)

// placeholders are the value types a help page may show; a choice shows its
// values (a|b|c), a list ends in ",...".
var placeholders = regexp.MustCompile(`^(string|int|int64|uint|float|duration|size|strings|[a-z0-9-]+(\|[a-z0-9/-]+)+)(,\.\.\.)?$`)

// untypedDefault is a quoted default that reads as a number, a duration or
// a boolean: the flag showing it as a string has lost its type.
var untypedDefault = regexp.MustCompile(`\(default "(-?[0-9][0-9.]*(?:ns|us|µs|ms|s|h)?|true|false)"\)$`)

// TestEveryHelpShowsTypedFlags runs every command's --help: each flag line
// parses as name, type, usage; no usage's backticks turn into a placeholder.
func TestEveryHelpShowsTypedFlags(t *testing.T) {
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	root := cli.Command(context.Background(), catalog.New(), cli.WithOutput(io.Discard, io.Discard))
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	walk(root, nil)
	for _, target := range catalog.New().TargetNames() {
		paths = append(paths, []string{"run", target})
	}
	seen := map[string]bool{}
	for _, p := range paths {
		code, stdout, stderr := chaos(t, append(p, "--help")...)
		name := strings.Join(append([]string{"chaos"}, p...), " ")
		seen[name] = true
		if code != 0 || stderr != "" || !strings.Contains(stdout, "Usage:") {
			t.Errorf("%s --help: exit %d, stderr %q", name, code, stderr)
			continue
		}
		inFlags := false
		for _, l := range strings.Split(stdout, "\n") {
			if strings.HasSuffix(l, "Flags:") {
				inFlags = true
				continue
			}
			if !inFlags || strings.TrimSpace(l) == "" {
				inFlags = inFlags && strings.TrimSpace(l) != ""
				continue
			}
			m := flagLine.FindStringSubmatch(l)
			if m == nil {
				t.Errorf("%s --help: flag line does not read as name, type, usage: %q", name, l)
				continue
			}
			if m[2] != "" && !placeholders.MatchString(m[2]) {
				t.Errorf("%s --help: --%s shows %q as its type", name, m[1], m[2])
			}
			if d := untypedDefault.FindStringSubmatch(l); m[2] == "string" && d != nil {
				t.Errorf("%s --help: --%s is a string flag with default %q: give it its type", name, m[1], d[1])
			}
			if strings.Contains(l, "`") {
				t.Errorf("%s --help: backticks in %q", name, l)
			}
		}
	}
	for _, want := range []string{"chaos run", "chaos check", "chaos list", "chaos repro", "chaos completion", "chaos completion bash"} {
		if !seen[want] {
			t.Errorf("%s was not among the commands", want)
		}
	}
}

// TestRunHelpIsScopedToTheTarget: `chaos run <target> --help` shows the
// target's typed flags and not another target's.
func TestRunHelpIsScopedToTheTarget(t *testing.T) {
	for target, c := range map[string]struct{ want, not []string }{
		"snowflake": {want: []string{"--snowflake-mode naive|guarded|monotonic", "--clock-rollback duration", "--kill-restart-delay duration",
			"--ids-time-tolerance duration", "--nemesis string", "--time-limit duration"},
			not: []string{"--redis-fencing", "--partition-topologies", "--lock-ttl", "--mode ", "chaos list  "}},
		"redis": {want: []string{"--redis-fencing  ", "--redis-lock redlock|redsync|single", "--lock-ttl duration", "--lock-hold duration,...",
			"--partition-topologies halves|", "--partition-loss float"},
			not: []string{"--snowflake-mode", "--gossip-fanout"}},
		"gossip": {want: []string{"--gossip-fanout int", "--gossip-rumor  ", "--kv-checkers convergence|linearizable,..."},
			not: []string{"--redis-lock", "--snowflake-mode"}},
	} {
		code, stdout, _ := chaos(t, "run", target, "--help")
		if code != 0 {
			t.Fatalf("run %s --help: exit %d", target, code)
		}
		stdout = stdout[strings.Index(stdout, "Flags:"):]
		for _, w := range c.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("run %s --help lacks %q", target, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(stdout, n) {
				t.Errorf("run %s --help shows %q", target, n)
			}
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := chaos(t, "--version")
	if code != 0 || !regexp.MustCompile(`^chaos \S.* \(go1\.\S+ \S+/\S+\)\n$`).MatchString(stdout) {
		t.Errorf("--version: exit %d, %q", code, stdout)
	}
}

// TestOldParamNamesStillWork: the unscoped names of one release ago are
// accepted, with a notice, and reach the run under the new name.
func TestOldParamNamesStillWork(t *testing.T) {
	store := t.TempDir()
	code, stdout, stderr := chaos(t, "run", "snowflake", "--mode", "monotonic", "--time-limit", "300ms", "--store", store, "-q")
	if code != 0 || !strings.Contains(stderr, "--mode is deprecated") || !strings.HasPrefix(stdout, "VALID ") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	sc, err := core.ReadConfig(strings.TrimSuffix(strings.Fields(stdout)[1], "/report.html"))
	if err != nil || sc.Params["snowflake-mode"] != "monotonic" {
		t.Errorf("config.json params %v, %v", sc.Params, err)
	}
}

func TestCompletion(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "run", ""}, "snowflake\t"},
		{[]string{"__complete", "run", "snowflake", "--nemesis", "clock,"}, "clock,kill\n"},
		{[]string{"__complete", "run", "snowflake", "--snowflake-mode", ""}, "monotonic\n"},
		{[]string{"__complete", "run", "gossip", "--workload", ""}, "kv\n"},
		{[]string{"__complete", "repro", ""}, "redlock-clock-jump\t"},
		{[]string{"__complete", "list", ""}, "clock\tnemesis: "},
		{[]string{"__complete", "check", "-o", ""}, "json\n"},
	} {
		code, stdout, _ := chaos(t, c.args...)
		if code != 0 || !strings.Contains(stdout, c.want) {
			t.Errorf("%v: exit %d, %q lacks %q", c.args, code, stdout, c.want)
		}
	}
	code, stdout, _ := chaos(t, "completion", "bash")
	if code != 0 || !strings.Contains(stdout, "bash completion") {
		t.Errorf("completion bash: exit %d", code)
	}
}

// TestListFitsIn100Columns: `chaos list` and `chaos list <name>` keep to 100
// columns; details live under the name.
func TestListFitsIn100Columns(t *testing.T) {
	for _, args := range [][]string{{"list"}, {"list", "snowflake"}, {"list", "redis"}, {"list", "clock"}, {"list", "lock-set"}, {"list", "redlock-clock-jump"}} {
		code, stdout, _ := chaos(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, l := range strings.Split(stdout, "\n") {
			if len(l) > 100 {
				t.Errorf("%v: line of %d columns: %q", args, len(l), l)
			}
		}
	}
	_, stdout, _ := chaos(t, "list", "snowflake")
	for _, want := range []string{"target snowflake", "--snowflake-mode naive|guarded|monotonic (default naive) (was --mode)", "nemeses on local: clock, kill, pause"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("list snowflake lacks %q", want)
		}
	}
	if code, _, stderr := chaos(t, "list", "nope"); code != 2 || !strings.Contains(stderr, "no target, workload, nemesis or scenario") {
		t.Errorf("list nope: exit %d, %q", code, stderr)
	}
}
