package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// The files this package writes into a run directory.
const (
	HTMLFile  = "report.html"
	JUnitFile = "junit.xml"
)

// Run is everything a report shows, as read from a run directory.
type Run struct {
	// Dir is the run directory.
	Dir     string
	History *history.File
	// Config is config.json; nil when the run directory has none (a history
	// copied on its own, for example).
	Config *core.StoredConfig
	// Results is results.json; nil when the run was never judged (the
	// harness was killed before the checkers ran).
	Results *checkers.Results
	// Faults is results.json's tally of faults planned, applied and failed
	// per fault kind; nil for a run without nemeses or from an older chaos.
	Faults []core.FaultTally
	// Problems are what could not be read, in words; the report shows them.
	Problems []string
	// NodeLogs, Visualizations and Files are paths relative to Dir: node
	// logs, porcupine's (or any checker's) HTML visualizations, and other
	// files worth a link.
	NodeLogs       []string
	Visualizations []string

	// fsys holds the run directory's files; every read goes through it.
	fsys fs.FS
}

// Load reads a run directory. Only the history is required: without it there
// is nothing to show, and the error says so. A missing or unreadable
// config.json or results.json is noted in Problems and shown in the report.
//
// Every file is read through an os.Root opened at dir, as `chaos serve`
// reads its store: a link that leads out of the run directory is refused,
// whichever command reads it.
func Load(dir string) (*Run, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		st, serr := os.Stat(dir)
		switch {
		case errors.Is(serr, fs.ErrNotExist):
			return nil, fmt.Errorf("run directory %s does not exist (give a directory under the store, such as store/<target>/latest)", dir)
		case serr == nil && !st.IsDir():
			return nil, fmt.Errorf("%s is not a run directory (give the directory that holds %s)", dir, core.HistoryFile)
		}
		return nil, fmt.Errorf("run directory %s: %w", dir, err)
	}
	// The root stays open while the Run is used (the page looks up the
	// drawings it links); its finalizer closes it.
	return LoadFS(root.FS(), dir)
}

// LoadFS is Load for a run directory given as a file system: fsys holds the
// run's files at its root, and dir names the directory in messages and is
// where Write writes. Use an os.Root's FS (or fs.Sub of one) so that no link
// leads out of it.
func LoadFS(fsys fs.FS, dir string) (*Run, error) {
	st, err := fs.Stat(fsys, ".")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("run directory %s does not exist (give a directory under the store, such as store/<target>/latest)", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("run directory %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a run directory (give the directory that holds %s)", dir, core.HistoryFile)
	}
	hf, err := readHistory(fsys)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s has no %s: not a run directory, or the run never started", dir, core.HistoryFile)
		}
		return nil, fmt.Errorf("%s: %w", core.HistoryPath(dir), err)
	}
	r := &Run{Dir: dir, History: hf, fsys: fsys}
	if b, err := fs.ReadFile(fsys, core.ConfigFile); err == nil {
		var sc core.StoredConfig
		if err := json.Unmarshal(b, &sc); err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("%s could not be read: %v", core.ConfigFile, err))
		} else {
			r.Config = &sc
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		r.Problems = append(r.Problems, fmt.Sprintf("%s could not be read: %v", core.ConfigFile, err))
	}
	b, err := fs.ReadFile(fsys, core.ResultsFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.Problems = append(r.Problems, core.ResultsFile+" is missing: the run was never judged; `chaos check` judges it")
	case err != nil:
		r.Problems = append(r.Problems, fmt.Sprintf("%s could not be read: %v", core.ResultsFile, err))
	default:
		rs, err := checkers.DecodeResults(b)
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("%s is not valid results: %v", core.ResultsFile, err))
		} else {
			r.Results = &rs
			var sr struct {
				Faults []core.FaultTally `json:"faults"`
			}
			if json.Unmarshal(b, &sr) == nil {
				r.Faults = sr.Faults
			}
		}
	}
	r.NodeLogs = listFiles(fsys, core.NodesDir, func(name string) bool {
		return strings.HasSuffix(name, ".log")
	})
	r.Visualizations = listFiles(fsys, ".", func(name string) bool {
		return strings.HasSuffix(name, ".html") && path.Base(name) != HTMLFile
	})
	return r, nil
}

// readHistory reads history.jsonl from fsys.
func readHistory(fsys fs.FS) (*history.File, error) {
	f, err := fsys.Open(core.HistoryFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	return history.Read(f)
}

// listFiles lists regular files under sub of fsys, two levels deep at most,
// as slash paths relative to the root of fsys, sorted. Links are not
// followed. Errors just mean no links.
func listFiles(fsys fs.FS, sub string, keep func(string) bool) []string {
	var out []string
	_ = fs.WalkDir(fsys, sub, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if p != sub && strings.Count(p, "/") >= 1 {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && keep(p) {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}
