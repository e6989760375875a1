package reports

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Paths are the files Write produced.
type Paths struct {
	HTML  string
	JUnit string
}

// Write renders report.html and junit.xml into the run directory dir. Each
// file is written to a temporary name and renamed, so a reader never sees a
// half-written report and a failure leaves the old one in place. No other
// file of the run is touched, except the new drawings of checkers that are
// Visualizers (with WithRegistry).
func Write(dir string, opts ...Option) (Paths, error) {
	o := options{timeout: time.Minute}
	for _, opt := range opts {
		opt(&o)
	}
	r, err := Load(dir)
	if err != nil {
		return Paths{}, err
	}
	visualize(r, o)
	return WriteRun(r)
}

// WriteRun is Write for a run that is already loaded.
func WriteRun(r *Run) (Paths, error) {
	p := Paths{HTML: filepath.Join(r.Dir, HTMLFile), JUnit: filepath.Join(r.Dir, JUnitFile)}
	if err := writeAtomic(p.HTML, func(w io.Writer) error { return RenderHTML(w, r) }); err != nil {
		return Paths{}, err
	}
	if err := writeAtomic(p.JUnit, func(w io.Writer) error { return RenderJUnit(w, r) }); err != nil {
		return Paths{}, err
	}
	return p, nil
}

func writeAtomic(path string, render func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
