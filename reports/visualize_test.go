package reports

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/gen"
)

// drawing is a checker that draws its failure, as a linearizability checker
// draws porcupine's visualization.
type drawing struct {
	name string
	fail error
}

func (d drawing) Name() string { return d.name }

func (d drawing) Check(context.Context, *history.File) checkers.Result {
	return checkers.Result{Valid: checkers.Invalid}
}

func (d drawing) Visualize(_ context.Context, h *history.File, res checkers.Result, dir string) ([]string, error) {
	if d.fail != nil {
		return nil, d.fail
	}
	name := filepath.Join("linear", d.name+"-key-x.html")
	if err := os.MkdirAll(filepath.Join(dir, "linear"), 0o755); err != nil {
		return nil, err
	}
	body := "<!DOCTYPE html><title>porcupine</title>" + h.Header.Target + " " + res.Summary
	return []string{name, "../escape.html"}, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
}

type drawingWorkload struct{ cs []checkers.Checker }

func (drawingWorkload) Generator(int) gen.Generator                            { return nil }
func (drawingWorkload) Final([]string) []history.Op                            { return nil }
func (w drawingWorkload) Checkers(*history.Header) ([]checkers.Checker, error) { return w.cs, nil }

func TestVisualizersOfInvalidCheckersAreLinked(t *testing.T) {
	f := snowflakeFixture()
	f.hdr.Workload = "kv"
	f.results = &checkers.Results{Valid: checkers.Invalid, Checkers: map[string]checkers.Result{
		"linear": {Valid: checkers.Invalid, Summary: "not linearizable"},
		"broken": {Valid: checkers.Invalid, Summary: "not linearizable either"},
		"fine":   {Valid: checkers.Valid, Summary: "converged"},
	}}
	dir := f.write(t, filepath.Join(t.TempDir(), "run"))
	reg := core.NewRegistry()
	reg.AddWorkload(core.WorkloadInfo{Name: "kv", New: func(core.Params) (core.Workload, error) {
		return drawingWorkload{cs: []checkers.Checker{drawing{name: "linear"}, drawing{name: "broken", fail: errors.New("out of memory")}, drawing{name: "fine"}}}, nil
	}})
	p, err := Write(dir, WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p.HTML)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	if !strings.Contains(page, `href="./linear/linear-key-x.html"`) {
		t.Error("the visualization of the invalid checker is not linked")
	}
	if strings.Contains(page, "escape.html") {
		t.Error("a path outside the run directory was linked")
	}
	if _, err := os.Stat(filepath.Join(dir, "linear", "fine-key-x.html")); err == nil {
		t.Error("a valid checker was asked to draw")
	}
	if !strings.Contains(page, "checker broken could not draw its visualization: out of memory") {
		t.Error("a failed drawing is not reported")
	}
}

func TestAnomalyLinksItsVisualization(t *testing.T) {
	f := lockFixture()
	dir := filepath.Join(t.TempDir(), "run")
	an := &f.results.Checkers["lock-safety"].Anomalies[0]
	an.Data = map[string]any{"visualization": filepath.Join(dir, "linearizable-L.html")}
	f.files["linearizable-L.html"] = "<!DOCTYPE html><title>porcupine</title>"
	res := f.results.Checkers["fencing"]
	res.Anomalies = []checkers.Anomaly{{Kind: "x", Message: "outside", Data: map[string]any{"visualization": "/etc/passwd"}}}
	f.results.Checkers["fencing"] = res
	f.write(t, dir)
	p, err := Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p.HTML)
	page := string(b)
	if strings.Count(page, `class="visual" href="./linearizable-L.html"`) != 1 {
		t.Error("the anomaly does not link its visualization")
	}
	if strings.Contains(page, "passwd\"") || strings.Contains(page, `href="./etc`) {
		t.Error("a file outside the run directory was linked")
	}
}
