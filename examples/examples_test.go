// Package examples_test runs the example stores under chaos three ways: as a
// `go test` scenario with a Go client (chaostest), from their system files
// with chaos's HTTP client, and from their system files with the Python
// client command. asynckv must come out invalid under partitions, with a
// witness; leaderkv valid.
package examples_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaostest/chaos/chaostest"
	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

var bin string // where the binaries are built, once per test binary

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chaos-examples-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	bin = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var builds sync.Map // name → *buildOnce

type buildOnce struct {
	once sync.Once
	err  error
}

// build compiles a package of this module (relative to examples/) into bin,
// once.
func build(t *testing.T, pkg, name string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(name, &buildOnce{})
	b := v.(*buildOnce)
	out := filepath.Join(bin, name)
	b.once.Do(func() {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return out
}

// --- the go test way: chaostest with a Go client of the HTTP contract ---

// client speaks the example stores' API: POST /chaos/register/<f>.
type client struct {
	http *http.Client
	base string
}

func (c *client) Invoke(ctx context.Context, op history.Op) history.Op {
	body, _ := json.Marshal(map[string]json.RawMessage{"key": history.JSON(op.Key), "value": op.Value})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.base+op.F, bytes.NewReader(body))
	resp, err := c.http.Do(req)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			op.Type, op.Error = history.Fail, err.Error() // never sent
		} else {
			op.Type, op.Error = history.Info, err.Error() // may have happened
		}
		return op
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		op.Type, op.Error = history.Info, err.Error()
	case resp.StatusCode == http.StatusConflict:
		op.Type, op.Error = history.Fail, string(b)
	case resp.StatusCode != http.StatusOK:
		op.Type, op.Error = history.Info, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, b)
	case op.F == "read":
		var r struct{ Value json.RawMessage }
		if err := json.Unmarshal(b, &r); err != nil {
			op.Type, op.Error = history.Info, "bad answer: "+string(b)
			return op
		}
		op.Type, op.Value = history.OK, r.Value
		if string(r.Value) == "null" {
			op.Value = nil
		}
	default:
		op.Type = history.OK
	}
	return op
}

func (c *client) Close() error { return nil }

func healthy(ctx context.Context, addr func(string) (string, error)) error {
	a, err := addr("api")
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a+"/health", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// scenario is the register workload under partitions of nodes from nodes.
func scenario(prog string, args func(name string, all []string, env core.NodeEnv) []string, want checkers.Validity) chaostest.Scenario {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	return chaostest.Scenario{
		Workload: "register",
		Nodes: func(names []string, _ core.Params) ([]core.NodeSpec, error) {
			var specs []core.NodeSpec
			for _, n := range names {
				specs = append(specs, core.NodeSpec{Name: n, Program: prog, Ports: []string{"api"}, Ready: healthy,
					Args: func(env core.NodeEnv) []string { return args(n, names, env) }})
			}
			return specs, nil
		},
		Client: func(_ context.Context, cfg core.ClientConfig) (core.Client, error) {
			// cfg.Addr routes through the fault layer, so partitions
			// between clients and nodes cut this client too.
			a, err := cfg.Addr(cfg.Node, "api")
			return &client{http: hc, base: "http://" + a + "/chaos/register/"}, err
		},
		Nemeses:         []string{"partition"},
		Params:          core.Params{"partition-topologies": "halves,random-halves,isolate"},
		TimeLimit:       5 * time.Second,
		NemesisInterval: time.Second,
		Concurrency:     6,
		Seed:            1,
		Want:            want,
	}
}

func TestAsyncKVScenario(t *testing.T) {
	prog := build(t, "./asynckv", "asynckv")
	res := chaostest.Run(t, scenario(prog, func(name string, all []string, env core.NodeEnv) []string {
		var peers []string
		for _, p := range all {
			if p != name {
				// env.Peer, not the node's own address: the fault layer
				// sits on this path, so partitions cut replication.
				peers = append(peers, env.Peer(p, "api"))
			}
		}
		return []string{"--name", name, "--listen", env.Listen("api"), "--peers", strings.Join(peers, ",")}
	}, checkers.Invalid))
	if res != nil && !strings.Contains(fmt.Sprint(res.Results.Checkers["linearizable"].Anomalies), "cannot take effect") {
		t.Errorf("no witness: %+v", res.Results.Checkers["linearizable"])
	}
}

func TestLeaderKVScenario(t *testing.T) {
	prog := build(t, "./leaderkv", "leaderkv")
	chaostest.Run(t, scenario(prog, func(name string, all []string, env core.NodeEnv) []string {
		return []string{"--name", name, "--listen", env.Listen("api"), "--leader", all[0] + "=" + env.Peer(all[0], "api"),
			"--data", env.DataDir}
	}, checkers.Valid))
}

// --- the system file way, through the chaos binary ---

type result struct {
	code           int
	stdout, stderr string
	store          string
}

func chaos(t *testing.T, args ...string) result {
	t.Helper()
	prog := build(t, "../cmd/chaos", "chaos")
	store := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, append(args, "--store", store)...)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errs.String(), store: store}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

// The must-show, with a shorter time limit: the system files alone run a
// complete test; asynckv exits 1 with a witness, leaderkv 0, through the
// HTTP client and through the Python client command.
func TestSystemFiles(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is needed for the Python client: apt-get install python3")
	}
	for _, c := range []struct {
		file string
		want int
	}{
		{"asynckv/chaos.toml", 1},
		{"leaderkv/chaos.toml", 0},
		{"asynckv/chaos-python.toml", 1},
		{"leaderkv/chaos-python.toml", 0},
	} {
		t.Run(c.file, func(t *testing.T) {
			r := chaos(t, "run", "--system", c.file, "--nemesis", "partition", "--time-limit", "6s", "--seed", "1")
			if r.code != c.want {
				t.Fatalf("exit %d, want %d\n%s\n%s", r.code, c.want, r.stdout, r.stderr)
			}
			if c.want == 1 && !strings.Contains(r.stdout, "nonlinearizable: key") {
				t.Fatalf("no witness in the summary:\n%s", r.stdout)
			}
			if !strings.Contains(r.stdout, "faults") || strings.Contains(r.stdout, "; 0 faults") {
				t.Fatalf("no fault was injected:\n%s", r.stdout)
			}
		})
	}
}

// Bad system files and broken clients end with exit 2 and one line that
// says what is wrong, never with a verdict.
func TestBadSystemFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const nodes = `[nodes]
command = ["python3", "-m", "http.server", "{port:api}", "--bind", "127.0.0.1"]
ready = { tcp = "api" }
`
	const initOK = `read l; echo '{"id":1,"type":"ok"}'` + "\n"
	write("garbage.sh", initOK+"read l; echo '<html>oops</html>'; sleep 5\n")
	write("dies.sh", initOK+"read l; echo 'Traceback: boom' >&2; exit 1\n")
	client := func(script string) string {
		return "[client]\ntype = \"command\"\ncommand = [\"sh\", \"{dir}/" + script + "\"]\n[run]\nnodes = 1\nconcurrency = 2\ntime-limit = \"3s\"\n"
	}
	for _, c := range []struct {
		name, body string
		args       []string
		want       string
	}{
		{"missing command", "[nodes]\nready = { tcp = \"api\" }\n[client]\ntype = \"http\"\n", nil, ".toml:1: nodes.command: missing"},
		{"unknown placeholder", "[nodes]\ncommand = [\"mykv\", \"--listen\", \"{listen:api}\", \"--peers\", \"{peer-addrs:api}\"]\nready = { tcp = \"api\" }\n[client]\ntype = \"http\"\n", nil,
			".toml:2: nodes.command: argument 5 \"{peer-addrs:api}\": unknown placeholder {peer-addrs:api}"},
		{"clock on nodes without one", nodes + client("garbage.sh"), []string{"--nemesis", "clock"}, "nodes.clock: clock: nodes.clock is \"none\""},
		{"client prints garbage", nodes + client("garbage.sh"), nil, `printed "<html>oops</html>" for`},
		{"client dies mid-run", nodes + client("dies.sh"), nil, "ended while performing"},
		{"no such file", "", nil, "cannot read the system file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "missing.toml")
			if c.body != "" {
				path = write(strings.ReplaceAll(c.name, " ", "-")+".toml", c.body)
			}
			r := chaos(t, append([]string{"run", "--system", path, "--seed", "1", "-q"}, c.args...)...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "chaos: ") || !strings.Contains(last, c.want) {
				t.Fatalf("last line of stderr\n  %s\nwant it to contain\n  %s\nstderr:\n%s", last, c.want, r.stderr)
			}
			if strings.Contains(r.stdout, "VALID") {
				t.Fatalf("a verdict was given:\n%s", r.stdout)
			}
		})
	}
}
