package reports

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// Visualizer is implemented by checkers that can draw why they found a
// history invalid, such as a linearizability checker writing porcupine's
// visualization of each failing partition (porcupine.Visualize). Visualize
// writes new files under dir (never one that exists) and returns their paths
// relative to dir; the report links every *.html among them. It is called
// only for a checker whose stored result is invalid, and only from Write
// with WithRegistry, since the checkers are rebuilt from the history header.
type Visualizer interface {
	Visualize(ctx context.Context, h *history.File, res checkers.Result, dir string) ([]string, error)
}

// Option configures Write.
type Option func(*options)

type options struct {
	reg     *core.Registry
	timeout time.Duration
}

// WithRegistry lets Write rebuild the run's checkers from the history header
// through reg, so that checkers implementing Visualizer draw their failures
// into the run directory before the report links them.
func WithRegistry(reg *core.Registry) Option { return func(o *options) { o.reg = reg } }

// WithVisualizeTimeout bounds the visualizers (default one minute); past it
// the report goes without the drawings and says so.
func WithVisualizeTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// visualize runs the Visualizer of every invalid checker and notes what went
// wrong in r.Problems. The files appear in r.Visualizations.
func visualize(r *Run, o options) {
	if o.reg == nil || r.Results == nil || r.Results.Valid != checkers.Invalid {
		return
	}
	h := &r.History.Header
	w, err := core.WorkloadFor(o.reg, h)
	if err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("no checker visualizations: %v", err))
		return
	}
	cs, err := w.Checkers(h)
	if err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("no checker visualizations: %v", err))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	for _, c := range cs {
		v, ok := c.(Visualizer)
		res, judged := r.Results.Checkers[c.Name()]
		if !ok || !judged || res.Valid != checkers.Invalid {
			continue
		}
		files, err := safeVisualize(ctx, v, r.History, res, r.Dir)
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("checker %s could not draw its visualization: %v", c.Name(), err))
		}
		for _, f := range files {
			f = filepath.ToSlash(filepath.Clean(f))
			if strings.HasSuffix(f, ".html") && !strings.HasPrefix(f, "../") && !filepath.IsAbs(f) && !contains(r.Visualizations, f) {
				r.Visualizations = append(r.Visualizations, f)
			}
		}
	}
}

func safeVisualize(ctx context.Context, v Visualizer, h *history.File, res checkers.Result, dir string) (files []string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return v.Visualize(ctx, h, res, dir)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
