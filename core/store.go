package core

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// The files of a run directory.
const (
	HistoryFile = "history.jsonl"
	ResultsFile = "results.json"
	ConfigFile  = "config.json"
	NodesDir    = "nodes"
	LatestLink  = "latest"
)

// HistoryPath is the history file of a run directory.
func HistoryPath(dir string) string { return filepath.Join(dir, HistoryFile) }

// CheckStore checks, before a run starts, that the store has the layout the
// harness keeps: store and store/<target> are directories (or do not exist
// yet), and store/<target>/latest is the link to the latest run (or does not
// exist). A run that would execute and then fail its bookkeeping is refused
// here instead.
func CheckStore(store, target string) error {
	for _, d := range []string{store, filepath.Join(store, target)} {
		st, err := os.Stat(d)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("--store %s: %w", store, err)
		}
		if !st.IsDir() {
			return fmt.Errorf("--store %s: %s is not a directory; give a store directory, or move %s away", store, d, d)
		}
	}
	latest := filepath.Join(store, target, LatestLink)
	st, err := os.Lstat(latest)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("--store %s: %w", store, err)
	case st.Mode().Type() != fs.ModeSymlink:
		what := "a regular file"
		if st.IsDir() {
			what = "a directory"
		}
		return fmt.Errorf("--store %s: %s is %s, not the link the harness keeps to the latest run; move it away or use another --store", store, latest, what)
	}
	return nil
}

// NewRunDir creates store/<target>/<timestamp>/, never reusing a directory.
func NewRunDir(store, target string, now time.Time) (string, error) {
	parent := filepath.Join(store, target)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("create store directory: %w", err)
	}
	base := now.UTC().Format("20060102T150405.000Z")
	for i := 0; i < 1000; i++ {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		dir := filepath.Join(parent, name)
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("create run directory: %w", err)
		}
	}
	return "", fmt.Errorf("create run directory under %s: too many runs in the same millisecond", parent)
}

func runID(dir string) string {
	return filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir)
}

// LinkLatest points store/<target>/latest at dir, replacing the link
// atomically so a reader never sees it missing.
func LinkLatest(store, target, dir string) error {
	parent := filepath.Join(store, target)
	// The temporary name is unique within the process too: runs of one
	// target may end at once (`chaos matrix` runs cells side by side).
	tmp := filepath.Join(parent, fmt.Sprintf(".latest-%d-%s", os.Getpid(), rand.Text()))
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(dir), tmp); err != nil {
		return fmt.Errorf("link latest run: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(parent, LatestLink)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("link latest run: %w", err)
	}
	return nil
}

// StoredConfig is config.json: everything needed to understand and repeat a
// run.
type StoredConfig struct {
	RunID           string    `json:"run_id"`
	Command         []string  `json:"command,omitempty"`
	Target          string    `json:"target"`
	Workload        string    `json:"workload"`
	Runtime         string    `json:"runtime"`
	Nodes           []string  `json:"nodes"`
	Concurrency     int       `json:"concurrency"`
	TimeLimit       string    `json:"time_limit"`
	Rate            float64   `json:"rate"`
	Nemeses         []string  `json:"nemeses"`
	NemesisInterval string    `json:"nemesis_interval"`
	Seed            int64     `json:"seed"`
	OpTimeout       string    `json:"op_timeout"`
	Params          Params    `json:"params"`
	Start           time.Time `json:"start"`
	Versions        Versions  `json:"versions"`
	// AllowUnappliedFaults: the run keeps a valid verdict although a
	// requested fault kind was never applied.
	AllowUnappliedFaults bool `json:"allow_unapplied_faults,omitempty"`
	// Scenario is the named scenario the run plays, if any; "matched" is
	// added beside it once the verdict is known (RecordMatch).
	Scenario *ScenarioRun `json:"scenario,omitempty"`
	Matched  *bool        `json:"matched,omitempty"`
}

// WriteConfig writes config.json.
func WriteConfig(dir string, cfg *Config, h history.Header) error {
	sc := StoredConfig{RunID: h.RunID, Command: cfg.Command, Target: h.Target, Workload: h.Workload,
		Runtime: h.Runtime, Nodes: h.Nodes, Concurrency: cfg.Concurrency, TimeLimit: cfg.TimeLimit.String(),
		Rate: cfg.Rate, Nemeses: h.Nemeses, NemesisInterval: cfg.NemesisInterval.String(), Seed: cfg.Seed,
		OpTimeout: cfg.OpTimeout.String(), Params: cfg.Params, Start: h.Start, Versions: BuildVersions(),
		AllowUnappliedFaults: cfg.AllowUnappliedFaults, Scenario: cfg.Scenario}
	return writeJSON(filepath.Join(dir, ConfigFile), sc)
}

// ReadConfig reads a run's config.json.
func ReadConfig(dir string) (StoredConfig, error) {
	var sc StoredConfig
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return sc, err
	}
	if err := json.Unmarshal(b, &sc); err != nil {
		return sc, fmt.Errorf("%s: %w", filepath.Join(dir, ConfigFile), err)
	}
	return sc, nil
}

// StoredResults is results.json: the checkers' verdicts and, for a run
// with nemeses, how many faults of each kind were planned, applied, failed.
type StoredResults struct {
	checkers.Results
	Faults []FaultTally `json:"faults,omitempty"`
	// Run is how long the run took and how many operations it invoked.
	Run *RunTotals `json:"run,omitempty"`
}

// RunTotals are a finished run's length and size, for indexes.
type RunTotals struct {
	ElapsedS float64 `json:"elapsed_s"`
	Ops      int64   `json:"ops"`
}

// WriteResults writes results.json; faults is the run's fault tally.
func WriteResults(dir string, rs checkers.Results, faults ...FaultTally) error {
	return WriteStoredResults(dir, StoredResults{Results: rs, Faults: faults})
}

// WriteStoredResults writes results.json.
func WriteStoredResults(dir string, sr StoredResults) error {
	return writeJSON(filepath.Join(dir, ResultsFile), sr)
}

// ReadResults reads a run's results.json.
func ReadResults(dir string) (StoredResults, error) {
	var sr StoredResults
	b, err := os.ReadFile(filepath.Join(dir, ResultsFile))
	if err != nil {
		return sr, err
	}
	if err := json.Unmarshal(b, &sr); err != nil {
		return sr, fmt.Errorf("%s: %w", filepath.Join(dir, ResultsFile), err)
	}
	return sr, nil
}

// writeJSON writes through a temporary file so that a crash never leaves a
// half-written file in a stored run.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// CheckDir judges the history of a run directory with the workload's
// checkers, rebuilt from the history header when w is nil.
func CheckDir(ctx context.Context, dir string, w Workload, timeout time.Duration) (checkers.Results, *history.File, error) {
	// The timeout bounds the whole check, reading the history included.
	deadline := time.Now().Add(timeout)
	hf, err := history.ReadFile(HistoryPath(dir))
	if err != nil {
		return checkers.Results{}, nil, err
	}
	hf.ArtifactDir = dir
	if timeout > 0 {
		timeout = max(time.Until(deadline), time.Millisecond)
	}
	rs, err := CheckFile(ctx, hf, w, timeout)
	return rs, hf, err
}

// CheckFile judges a history with the workload's checkers.
func CheckFile(ctx context.Context, hf *history.File, w Workload, timeout time.Duration) (checkers.Results, error) {
	cs, err := w.Checkers(&hf.Header)
	if err != nil {
		return checkers.Results{}, fmt.Errorf("checkers for workload %s: %w", hf.Header.Workload, err)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return checkers.Run(ctx, hf, cs), nil
}

// WorkloadFor rebuilds the workload that produced a history.
func WorkloadFor(reg *Registry, h *history.Header) (Workload, error) {
	wi, err := reg.Workload(h.Workload)
	if err != nil {
		return nil, fmt.Errorf("history header: %w", err)
	}
	// A history stored before a parameter was renamed is read with
	// today's names, by the workload and by its checkers.
	h.Params = reg.CanonicalParams(h.Params)
	params := Params{}
	addDefaults(params, wi.Params)
	for k, v := range h.Params {
		params[k] = v
	}
	return wi.New(params)
}
