package system

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/nemesis"
	"github.com/chaostest/chaos/runtime/local"
	"github.com/chaostest/chaos/workloads/ids"
	"github.com/chaostest/chaos/workloads/lock"
	"github.com/chaostest/chaos/workloads/register"
)

const good = `name = "mykv"

[nodes]
command = ["./mykv", "--listen", "{listen:api}", "--peers", "{peers:api}", "--data", "{data}"]
ports = ["api"]
ready = { http = "api/health" }

[client]
type = "http"

[run]
workload = "register"
nemesis = ["partition", "kill"]
time-limit = "7s"

[params]
register-keys = 2
partition-topologies = ["halves", "isolate"]
`

func TestParseGood(t *testing.T) {
	s, err := Parse("mykv.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "mykv" || s.Client.Port != "api" || s.Client.Path != "/chaos" || s.Nodes.Clock != ClockNone {
		t.Fatalf("defaults: %+v", s.File)
	}
	if s.params["partition-topologies"] != "halves,isolate" || s.params["register-keys"] != "2" {
		t.Fatalf("params: %v", s.params)
	}
	cfg := core.DefaultConfig()
	given := map[string]bool{"time-limit": true, "register-keys": true}
	cfg.TimeLimit = 3 * time.Second
	cfg.Params = core.Params{"register-keys": "5"}
	if err := s.Apply(&cfg, func(f string) bool { return given[f] }); err != nil {
		t.Fatal(err)
	}
	if cfg.Target != "mykv" || cfg.TimeLimit != 3*time.Second || cfg.Params["register-keys"] != "5" ||
		strings.Join(cfg.Nemeses, ",") != "partition,kill" || cfg.Params["partition-topologies"] != "halves,isolate" {
		t.Fatalf("a flag did not override the file, or the file did not fill in: %+v", cfg)
	}
}

// Every bad file names the file, the line and the field, in one line.
func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		name, from, to string
		want           string
	}{
		{"missing command", `command = ["./mykv", "--listen", "{listen:api}", "--peers", "{peers:api}", "--data", "{data}"]`, ``,
			"mykv.toml:3: nodes.command: missing"},
		{"unknown placeholder", `"{peers:api}"`, `"{peer:api}"`, "mykv.toml:4: nodes.command: argument 5 \"{peer:api}\": {peer} takes two arguments"},
		{"misspelt placeholder", `"{data}"`, `"{datadir}"`, "mykv.toml:4: nodes.command: argument 7 \"{datadir}\": unknown placeholder {datadir} (known here: {name}"},
		{"unknown port", `"{listen:api}"`, `"{listen:http}"`, `port "http" is not one of nodes.ports (api)`},
		{"unclosed brace", `"{data}"`, `"{data"`, "a '{' without its '}'"},
		{"unknown field", `ports = ["api"]`, `ports = ["api"]
colour = "blue"`, "mykv.toml:6: nodes.colour: unknown field"},
		{"wrong type", `time-limit = "7s"`, `time-limit = 7`, "mykv.toml:14: run.time-limit:"},
		{"bad duration", `time-limit = "7s"`, `time-limit = "seven"`, `mykv.toml:14: run.time-limit: "seven": want a positive duration`},
		{"no client type", `type = "http"`, ``, "client.type: missing"},
		{"bad client type", `type = "http"`, `type = "grpc"`, `mykv.toml:9: client.type: "grpc": must be http or command`},
		{"command client without command", `type = "http"`, `type = "command"`, "client.command: missing"},
		{"client placeholder", `type = "http"`, `type = "command"
command = ["python3", "client.py", "{listen:api}"]`, "mykv.toml:10: client.command: argument 3 \"{listen:api}\": unknown placeholder {listen:api}"},
		{"no ready probe", `ready = { http = "api/health" }`, ``, "nodes.ready: missing"},
		{"ready on unknown port", `"api/health"`, `"web/health"`, "mykv.toml:6: nodes.ready.http:"},
		{"unknown workload", `workload = "register"`, `workload = "bank"`, `mykv.toml:12: run.workload: "bank": must be one of register`},
		{"clock without a method", `"partition", "kill"`, `"partition", "clock"`, `mykv.toml:13: run.nemesis: clock: nodes.clock is "none"`},
		{"control clock without a port", `ports = ["api"]`, `ports = ["api"]
clock = "control"`, `nodes.clock: control: the nodes need a port named "control"`},
		{"bad clock", `ports = ["api"]`, `ports = ["api"]
clock = "ntp"`, `mykv.toml:6: nodes.clock: "ntp": must be none, faketime`},
		{"bin without build", `"./mykv"`, `"{bin}/mykv"`, "{bin} names the build's output directory, and there is no build.command"},
		{"syntax", `[client]`, `[client`, "mykv.toml:8: expected ']' to close table name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := good
			if c.from != "" {
				if !strings.Contains(src, c.from) {
					t.Fatalf("test broken: %q not in the file", c.from)
				}
				src = strings.Replace(src, c.from, c.to, 1)
			}
			_, err := Parse("mykv.toml", []byte(src))
			if err == nil {
				t.Fatalf("accepted:\n%s", src)
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("%T is not a *system.Error: %v", err, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error\n  %s\nwant one line containing\n  %s", msg, c.want)
			}
		})
	}
}

// A flag that asks for the clock nemesis on nodes whose clocks cannot move
// is refused before anything starts, pointing at nodes.clock.
func TestClockNemesisRefused(t *testing.T) {
	s, err := Parse("mykv.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	cfg := core.DefaultConfig()
	cfg.Nemeses = []string{"clock"}
	err = s.Apply(&cfg, func(f string) bool { return f == "nemesis" })
	if err == nil || !strings.Contains(err.Error(), "mykv.toml:3: nodes.clock: clock: nodes.clock is \"none\"") {
		t.Fatalf("clock nemesis on nodes without a clock method: %v", err)
	}
	if slices.Contains(s.Info(nil).Nemeses, "clock") {
		t.Fatal("the target offers the clock nemesis")
	}
}

func TestCheckParams(t *testing.T) {
	s, err := Parse("mykv.toml", []byte(good+"regster-keys = 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	reg := registry()
	if err := s.CheckParams(reg); err == nil || !strings.Contains(err.Error(), "mykv.toml:19: params.regster-keys: no workload or nemesis takes this parameter") {
		t.Fatalf("misspelt parameter: %v", err)
	}
}

func registry() *core.Registry {
	r := core.NewRegistry()
	register.Register(r)
	ids.Register(r)
	lock.Register(r)
	nemesis.Register(r)
	return r
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("[nodes]\ncommand = [\"{peer:n1:api}\"]\n"))
	f.Add([]byte("name = 1\n[[nodes]]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse("f.toml", b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.toml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if s.Name == "" || len(s.Nodes.Command) == 0 {
			t.Fatalf("accepted a file without name or command: %+v", s.File)
		}
	})
}

// node is a system file whose nodes are Python's HTTP server (enough to be
// ready) and whose client is the given shell script.
func scriptSystem(t *testing.T, script string) *System {
	t.Helper()
	dir := t.TempDir()
	src := `name = "script"
[nodes]
command = ["python3", "-m", "http.server", "{port:api}", "--bind", "127.0.0.1"]
ready = { tcp = "api" }
[client]
type = "command"
command = ["sh", "{dir}/client.sh"]
[run]
concurrency = 2
nodes = 1
time-limit = "3s"
rate = 50
`
	if err := os.WriteFile(filepath.Join(dir, "client.sh"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Parse(filepath.Join(dir, "chaos.toml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func runSystem(t *testing.T, s *System) (*core.Outcome, error) {
	t.Helper()
	reg := registry()
	cfg := core.DefaultConfig()
	cfg.Store = t.TempDir()
	cfg.NewRuntime = func() (core.Runtime, error) { return local.New() }
	if err := s.Apply(&cfg, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	s.Register(reg)
	p, err := core.Prepare(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	return core.Execute(ctx, p)
}

// A client command that breaks the protocol ends the run with one line
// that says what it printed or how it ended; the op it was given is info.
func TestBrokenClientCommandEndsTheRun(t *testing.T) {
	const initOK = `read l; echo '{"id":1,"type":"ok"}'` + "\n"
	for _, c := range []struct{ name, script, want string }{
		{"garbage", initOK + "read l; echo 'hello there'; sleep 5\n", `printed "hello there" for`},
		{"wrong id", initOK + `read l; echo '{"id":7,"type":"ok"}'; sleep 5` + "\n", "id 7 where 2 was expected"},
		{"bad type", initOK + `read l; echo '{"id":2,"type":"maybe"}'; sleep 5` + "\n", `type "maybe": must be ok, fail or info`},
		{"dies mid-run", initOK + `read l; echo 'oops' >&2; exit 3` + "\n", "ended while performing read"},
		{"dies at start", "echo 'no python here' >&2; exit 1\n", "ended before it answered init: exit status 1; its stderr ends: no python here"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := runSystem(t, scriptSystem(t, c.script))
			if err == nil {
				t.Fatalf("the run went on and was judged %v", out.Results.Valid)
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error\n  %v\nwant one line containing %q", err, c.want)
			}
			if c.name == "dies mid-run" && !strings.Contains(err.Error(), "exit status 3; its stderr ends: oops") {
				t.Errorf("the client's last stderr line is not shown: %v", err)
			}
			b, rerr := os.ReadFile(core.HistoryPath(out.Dir))
			if rerr != nil {
				t.Fatal(rerr)
			}
			if strings.Contains(string(b), `"type":"ok"`) {
				t.Errorf("an op was recorded ok:\n%s", b)
			}
		})
	}
}

// The lock, lock-set and ids workloads run through the HTTP contract
// against a correct node (testdata/node.py) and are judged valid; a lock
// that grants every acquire is caught.
func TestLockAndIDsOverHTTP(t *testing.T) {
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		workload string
		params   string
		arg      string
		want     checkers.Validity
	}{{"lock", "", "", checkers.Valid}, {"lock-set", "lock-hold = \"20ms\"\n", "", checkers.Valid}, {"ids", "", "", checkers.Valid},
		{"lock-set", "lock-hold = \"20ms\"\n", "broken", checkers.Invalid}} {
		t.Run(c.workload+c.arg, func(t *testing.T) {
			src := `name = "pynode"
[nodes]
command = ["python3", "{dir}/node.py", "{port:api}", "{index}", "` + c.arg + `"]
ready = { http = "api/health" }
[client]
type = "http"
[run]
workload = "` + c.workload + `"
nodes = 1
concurrency = 3
time-limit = "2s"
rate = 100
nemesis = ["pause"]
nemesis-interval = "500ms"
[params]
` + c.params
			s, err := Parse(filepath.Join(testdata, "chaos.toml"), []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			out, err := runSystem(t, s)
			if err != nil {
				t.Fatal(err)
			}
			if out.Results.Valid != c.want || out.Stats.OK == 0 || out.Stats.Faults == 0 {
				t.Fatalf("verdict %v, %+v: %+v", out.Results.Valid, out.Stats, out.Results.Checkers)
			}
		})
	}
}

// A node that keeps the clock contract (clock = "control": the offset in
// CHAOS_CLOCK_OFFSET at start, PUT /clock on its control port) takes the
// clock nemesis: its clock faults are applied, and its monotonic IDs stay
// valid. (Kill is left out: the node keeps its last timestamp in memory
// only, so a restart behind a rolled-back clock issues lower IDs, which the
// ids checker rightly reports.)
func TestControlClock(t *testing.T) {
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	src := `name = "clocknode"
[nodes]
command = ["python3", "{dir}/node.py", "{port:api}", "{index}", "{port:control}"]
ports = ["api", "control"]
clock = "control"
ready = { http = "api/health" }
[client]
type = "http"
[run]
workload = "ids"
nodes = 2
concurrency = 2
time-limit = "3s"
rate = 100
nemesis = ["clock"]
nemesis-interval = "300ms"
`
	s, err := Parse(filepath.Join(testdata, "chaos.toml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	out, err := runSystem(t, s)
	if err != nil {
		t.Fatal(err)
	}
	if out.Results.Valid != checkers.Valid {
		t.Fatalf("verdict %v: %+v", out.Results.Valid, out.Results.Checkers)
	}
	b, err := os.ReadFile(core.HistoryPath(out.Dir))
	if err != nil {
		t.Fatal(err)
	}
	applied := 0
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, `"process":"nemesis"`) || !strings.Contains(line, `"f":"clock-`) || strings.Contains(line, `"type":"invoke"`) {
			continue
		}
		// A strobe cut short by the end of the main phase is info; a
		// refused one (fail) means the control port did not work.
		switch {
		case strings.Contains(line, `"type":"ok"`):
			applied++
		case strings.Contains(line, `"type":"fail"`):
			t.Errorf("a clock fault was refused: %s", line)
		}
	}
	if applied == 0 {
		t.Fatalf("no clock fault was applied:\n%s", b)
	}
}
