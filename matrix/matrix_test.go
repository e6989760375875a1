package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/core"
)

func TestMain(m *testing.M) {
	builtin.RunNodeIfRequested()
	os.Exit(m.Run())
}

// tinyRegistry is builtin plus two rows over the reference store: one
// correct, one that loses acknowledged writes; only the none and kill
// columns apply, and the broken row has no kill.
func tinyRegistry() *core.Registry {
	reg := builtin.New()
	row := func(name, mode string, kill bool) core.MatrixRow {
		return core.MatrixRow{Matrix: core.MatrixIDs, Name: name, Doc: "refkv in " + mode + " mode",
			Cell: func(fault, runtime string) (core.Config, bool) {
				cfg := core.Config{Target: "refkv", Workload: "register", Nodes: 1, Concurrency: 2,
					TimeLimit: 20 * time.Second, Rate: 100, Seed: 3, NemesisInterval: 500 * time.Millisecond,
					CheckTimeout: time.Minute, Params: core.Params{"refkv-mode": mode}}
				switch {
				case fault == core.FaultNone:
				case fault == core.FaultKill && kill:
					cfg.Nemeses = []string{"kill"}
				default:
					return cfg, false
				}
				return cfg, true
			}}
	}
	reg.AddMatrixRow(row("refkv-ok", "linearizable", true))
	reg.AddMatrixRow(row("refkv-lossy", "lost-write", false))
	return reg
}

func TestTinyMatrixEndToEnd(t *testing.T) {
	reg := tinyRegistry()
	store := t.TempDir()
	var log strings.Builder
	o := Options{Matrix: core.MatrixIDs, Rows: []string{"refkv-ok", "refkv-lossy"}, Faults: []string{core.FaultNone, core.FaultKill, core.FaultClock},
		Runtimes: []string{"local"}, CellTime: 1500 * time.Millisecond, Store: store, Parallel: 2, Log: &log,
		Command: []string{"chaos", "matrix", "ids"},
		NewRuntime: func(name string) (func() (core.Runtime, error), error) {
			info, err := reg.Runtime(name)
			if err != nil {
				return nil, err
			}
			return func() (core.Runtime, error) { return info.New(context.Background()) }, nil
		}}
	start := time.Now()
	res, err := Run(context.Background(), reg, o)
	if err != nil {
		t.Fatal(err)
	}
	// --cell-time replaced the rows' 20 s.
	if d := time.Since(start); d > 15*time.Second*2 {
		t.Errorf("the tiny matrix took %s: the cell time was not applied", d)
	}
	want := map[string]string{
		"refkv-ok/none": "valid", "refkv-ok/kill": "valid", "refkv-ok/clock": NA,
		"refkv-lossy/none": "invalid", "refkv-lossy/kill": NA, "refkv-lossy/clock": NA,
	}
	if len(res.Cells) != len(want) {
		t.Fatalf("%d cells, want %d: %+v", len(res.Cells), len(want), res.Cells)
	}
	for _, c := range res.Cells {
		if got := c.Verdict; got != want[c.Row+"/"+c.Fault] {
			t.Errorf("%s × %s: %s (%s), want %s", c.Row, c.Fault, got, c.Witness, want[c.Row+"/"+c.Fault])
		}
		if c.Verdict == NA {
			if c.Dir != "" || c.Report != "" {
				t.Errorf("%s × %s: n/a cell with a run %s", c.Row, c.Fault, c.Dir)
			}
			continue
		}
		if _, err := os.Stat(c.Report); err != nil {
			t.Errorf("%s × %s: report: %v", c.Row, c.Fault, err)
		}
		if c.Seed != 3 {
			t.Errorf("%s × %s: seed %d, want the row's 3", c.Row, c.Fault, c.Seed)
		}
	}
	lossy, _ := res.Cell("refkv-lossy", core.FaultNone, "local")
	if !strings.Contains(lossy.Witness, "linearizab") && len(lossy.Kinds) == 0 {
		t.Errorf("invalid cell without a witness: %+v", lossy)
	}
	if strings.Contains(lossy.Witness, "\n") {
		t.Errorf("witness spans lines: %q", lossy.Witness)
	}
	if kill, _ := res.Cell("refkv-ok", core.FaultKill, "local"); kill.Faults == 0 {
		t.Errorf("kill cell applied no fault: %+v", kill)
	}
	if !res.Complete() {
		t.Error("matrix not complete")
	}
	if n := strings.Count(log.String(), "\n"); n != len(want) {
		t.Errorf("%d log lines, want one per cell:\n%s", n, log.String())
	}

	page := filepath.Join(store, "pages", "ids.html")
	paths, err := Write(res, page)
	if err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(paths.HTML)
	if err != nil {
		t.Fatal(err)
	}
	h := string(html)
	for _, s := range []string{"<!DOCTYPE html>", "refkv-ok", "refkv-lossy", "refkv in lost-write mode",
		`data-verdict="invalid"`, `data-verdict="n/a"`, "chaos matrix ids", "<th>kill</th>"} {
		if !strings.Contains(h, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	if strings.Contains(h, "<script") || strings.Contains(h, "http://") || strings.Contains(h, "https://") {
		t.Error("page is not self-contained")
	}
	// Every cell that ran links to its report, relative to the page.
	for _, c := range res.Cells {
		if c.Report == "" {
			continue
		}
		rel, _ := filepath.Rel(filepath.Dir(page), c.Report)
		if !strings.Contains(h, `href="`+filepath.ToSlash(rel)+`"`) {
			t.Errorf("page has no link %s for %s × %s", rel, c.Row, c.Fault)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(page), rel)); err != nil {
			t.Errorf("link %s does not resolve: %v", rel, err)
		}
	}
	md, err := os.ReadFile(paths.Markdown)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"| ids | none | kill | clock |", "| refkv-lossy | **invalid", "| refkv-ok | valid | valid | n/a |"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("markdown lacks %q:\n%s", s, md)
		}
	}
	var back Result
	b, err := os.ReadFile(paths.JSON)
	if err != nil || json.Unmarshal(b, &back) != nil || len(back.Cells) != len(res.Cells) {
		t.Errorf("json: %v, %d cells", err, len(back.Cells))
	}
}

func TestPlanRefusesUnknownNames(t *testing.T) {
	reg := tinyRegistry()
	base := Options{Matrix: core.MatrixIDs, Runtimes: []string{"local"}}
	for _, c := range []struct {
		mod  func(o *Options)
		want string
	}{
		{func(o *Options) { o.Matrix = "queues" }, `unknown matrix "queues"`},
		{func(o *Options) { o.Rows = []string{"nope"} }, "refkv-lossy, refkv-ok, snowflake-guarded"},
		{func(o *Options) { o.Faults = []string{"flood"} }, "none, partition, kill, pause, clock, failover"},
		{func(o *Options) { o.Runtimes = []string{"vm"} }, `unknown runtime "vm"`},
	} {
		o := base
		c.mod(&o)
		if _, _, _, err := Plan(reg, o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Plan: %v, want an error naming %q", err, c.want)
		}
	}
	rows, faults, _, err := Plan(reg, Options{Matrix: core.MatrixIDs, Runtimes: []string{"local"},
		Rows: []string{"refkv-ok", "refkv-ok"}, Faults: []string{"kill", "none"}})
	if err != nil || len(rows) != 1 || strings.Join(faults, ",") != "none,kill" {
		t.Errorf("Plan: %v rows %d faults %v: want one row, the faults in column order", err, len(rows), faults)
	}
}

// A runtime that annotates a nemesis it offers still offers it; one it
// leaves out makes the cell n/a.
func TestUnofferedReadsAnnotatedNames(t *testing.T) {
	reg := tinyRegistry()
	reg.AddRuntime(core.RuntimeInfo{Name: "boxes", Nemeses: func(ns []string, _ []core.NodeSpec) []string {
		var out []string
		for _, n := range ns {
			if n == "kill" {
				out = append(out, "kill(SIGKILL, restart)")
			}
		}
		return out
	}})
	row, err := reg.MatrixRow(core.MatrixIDs, "refkv-ok")
	if err != nil {
		t.Fatal(err)
	}
	cfg, ok := row.Cell(core.FaultKill, "boxes")
	if !ok || len(cfg.Nemeses) != 1 {
		t.Fatalf("refkv-ok kill cell: %v %v", ok, cfg.Nemeses)
	}
	cfg.Store, cfg.NewRuntime = t.TempDir(), func() (core.Runtime, error) { return nil, nil }
	p, err := core.Prepare(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if m := unoffered(reg, "boxes", p); len(m) != 0 {
		t.Errorf("unoffered = %v, want none: kill is offered, annotated", m)
	}
	p.Config.Nemeses = append(p.Config.Nemeses, "pause")
	if m := unoffered(reg, "boxes", p); strings.Join(m, ",") != "pause" {
		t.Errorf("unoffered = %v, want pause", m)
	}
}

// TestNotOnRuntime: a row that cannot run on a runtime at all is n/a there
// with its reason, without its cells being asked for or a runtime made, and
// the table says "not on this runtime" and why, once per row.
func TestNotOnRuntime(t *testing.T) {
	reg := builtin.New()
	row := core.MatrixRow{Matrix: core.MatrixLocks, Name: "jvm-lock", Doc: "a lock on JVM servers",
		NotOn: func(runtime string) string {
			if runtime == "local" {
				return ""
			}
			return "its servers are JVMs"
		},
		Cell: func(fault, runtime string) (core.Config, bool) {
			if runtime != "local" {
				t.Errorf("Cell asked for %s on %s", fault, runtime)
			}
			return core.Config{}, false
		}}
	o := Options{Matrix: core.MatrixLocks, NewRuntime: func(name string) (func() (core.Runtime, error), error) {
		t.Errorf("a runtime made for %s", name)
		return nil, nil
	}}
	res := &Result{Matrix: core.MatrixLocks, Rows: []Row{{Name: row.Name, Doc: row.Doc}},
		Faults: []string{core.FaultNone, core.FaultKill}, Runtimes: []string{"local", "docker"}}
	for _, rt := range res.Runtimes {
		for _, f := range res.Faults {
			c := runCell(context.Background(), reg, o, row, f, rt)
			res.Cells = append(res.Cells, c)
			if c.Verdict != NA {
				t.Errorf("%s on %s: %s, want n/a", f, rt, c.Verdict)
			}
			if off := rt == "docker"; c.OffRuntime != off {
				t.Errorf("%s on %s: OffRuntime %v, want %v (%s)", f, rt, c.OffRuntime, off, c.Witness)
			}
		}
	}
	if c, _ := res.Cell("jvm-lock", core.FaultKill, "docker"); c.Witness != "not on the docker runtime: its servers are JVMs" {
		t.Errorf("docker witness %q", c.Witness)
	}
	if !res.Complete() {
		t.Error("a row off a runtime made the matrix incomplete")
	}
	var md strings.Builder
	RenderMarkdown(&md, res)
	for _, s := range []string{"| jvm-lock | n/a | n/a |", "| jvm-lock | not on this runtime | not on this runtime |",
		"- `jvm-lock` not on the docker runtime: its servers are JVMs\n"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("markdown lacks %q:\n%s", s, md.String())
		}
	}
	if n := strings.Count(md.String(), "its servers are JVMs"); n != 1 {
		t.Errorf("the reason appears %d times, want once:\n%s", n, md.String())
	}
	var page strings.Builder
	if err := RenderHTML(&page, res, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), ">not on this runtime<") || !strings.Contains(page.String(), "its servers are JVMs") {
		t.Errorf("page does not say the row is not on docker and why")
	}
}

// TestTargetNeedsPutCellsOffRuntime: a row whose target needs what a
// runtime does not provide is not on that runtime, by the target's Needs
// alone, without a runtime made; asked for by name on that runtime only, it
// is refused by Plan.
func TestTargetNeedsPutCellsOffRuntime(t *testing.T) {
	reg := builtin.New()
	reg.AddTarget(core.TargetInfo{Name: "jvmkv", Workloads: []string{"lock-set"},
		Needs: []core.Need{{Capability: core.HostSoftware, Why: "its servers are JVMs"}},
		New:   func(core.Params) (core.Target, error) { return nil, errors.New("not built here") }})
	reg.AddRuntime(core.RuntimeInfo{Name: "scratch", New: func(context.Context) (core.Runtime, error) { return nil, errors.New("not made") }})
	row := core.MatrixRow{Matrix: core.MatrixLocks, Name: "jvm-lock", Doc: "a lock on JVM servers",
		Cell: func(fault, runtime string) (core.Config, bool) {
			return core.Config{Target: "jvmkv", Workload: "lock-set"}, fault == core.FaultNone
		}}
	reg.AddMatrixRow(row)
	o := Options{Matrix: core.MatrixLocks, NewRuntime: func(name string) (func() (core.Runtime, error), error) {
		t.Errorf("a runtime made for %s", name)
		return nil, errors.New("not made")
	}}
	c := runCell(context.Background(), reg, o, row, core.FaultNone, "scratch")
	if c.Verdict != NA || !c.OffRuntime || !strings.Contains(c.Witness, "host-software") || !strings.Contains(c.Witness, "JVMs") {
		t.Errorf("cell on scratch: %+v", c)
	}
	o.Rows, o.Runtimes = []string{"jvm-lock"}, []string{"scratch"}
	if _, _, _, err := Plan(reg, o); !errors.Is(err, core.ErrRuntimeLacks) || !strings.Contains(err.Error(), "--runtime local") {
		t.Errorf("Plan of jvm-lock on scratch only: %v", err)
	}
	o.Runtimes = []string{"local", "scratch"}
	if _, _, _, err := Plan(reg, o); err != nil {
		t.Errorf("Plan of jvm-lock on local and scratch: %v", err)
	}
}
