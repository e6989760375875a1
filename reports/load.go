package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
}

// Load reads a run directory. Only the history is required: without it there
// is nothing to show, and the error says so. A missing or unreadable
// config.json or results.json is noted in Problems and shown in the report.
func Load(dir string) (*Run, error) {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("run directory %s does not exist (give a directory under the store, such as store/<target>/latest)", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("run directory %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a run directory (give the directory that holds %s)", dir, core.HistoryFile)
	}
	hf, err := history.ReadFile(core.HistoryPath(dir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s has no %s: not a run directory, or the run never started", dir, core.HistoryFile)
		}
		return nil, fmt.Errorf("%s: %w", core.HistoryPath(dir), err)
	}
	r := &Run{Dir: dir, History: hf}
	if sc, err := core.ReadConfig(dir); err == nil {
		r.Config = &sc
	} else if !errors.Is(err, fs.ErrNotExist) {
		r.Problems = append(r.Problems, fmt.Sprintf("%s could not be read: %v", core.ConfigFile, err))
	}
	b, err := os.ReadFile(filepath.Join(dir, core.ResultsFile))
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
	r.NodeLogs = listFiles(dir, core.NodesDir, func(name string) bool {
		return strings.HasSuffix(name, ".log")
	})
	r.Visualizations = listFiles(dir, ".", func(name string) bool {
		return strings.HasSuffix(name, ".html") && filepath.Base(name) != HTMLFile
	})
	return r, nil
}

// listFiles lists regular files under dir/sub, two levels deep at most, as
// paths relative to dir, sorted. Errors just mean no links.
func listFiles(dir, sub string, keep func(string) bool) []string {
	var out []string
	root := filepath.Join(dir, sub)
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, rerr := filepath.Rel(dir, path)
		if rerr != nil {
			return nil
		}
		if d.IsDir() {
			if path != root && strings.Count(rel, string(filepath.Separator)) >= 1 {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && keep(rel) {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}
