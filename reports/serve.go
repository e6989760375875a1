package reports

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// RunSummary is one run of a store, as the index lists it.
type RunSummary struct {
	// Path is the run directory relative to the store: <target>/<time>.
	Path     string
	Target   string
	Workload string
	Nemeses  []string
	Seed     int64
	Start    time.Time
	// Verdict is valid, invalid, unknown, or "not judged" when the run has
	// no results.
	Verdict string
	// Checkers summarises each checker's verdict: "ids: invalid".
	Checkers  []string
	HasReport bool
	// Elapsed and Ops are the run's length and operations (from
	// results.json; zero for a run that has none).
	Elapsed time.Duration
	Ops     int64
	// Scenario names the named scenario played, Role "anomaly" or
	// "control", Matched "yes", "no" or "" (not known).
	Scenario, Role, Matched string
}

// ListRuns lists the runs of a store (store/<target>/<run>/ holding a
// history.jsonl), newest first. It reads only the small files of each run:
// config.json, results.json's verdicts, and the history's first line, all
// through an os.Root opened at store.
func ListRuns(store string) ([]RunSummary, error) {
	root, err := os.OpenRoot(store)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", store, err)
	}
	defer root.Close()
	return ListRunsFS(root.FS())
}

// ListRunsFS is ListRuns for a store given as a file system (an os.Root's
// FS, so that no link leads out of it). Links to targets or runs are not
// followed: a run is a directory of the store itself.
func ListRunsFS(store fs.FS) ([]RunSummary, error) {
	targets, err := fs.ReadDir(store, ".")
	if err != nil {
		return nil, err
	}
	var out []RunSummary
	for _, t := range targets {
		if !t.IsDir() || strings.HasPrefix(t.Name(), ".") {
			continue
		}
		runs, err := fs.ReadDir(store, t.Name())
		if err != nil {
			continue
		}
		for _, r := range runs {
			if !r.IsDir() || strings.HasPrefix(r.Name(), ".") {
				continue // the "latest" link and temporary files
			}
			rel := t.Name() + "/" + r.Name()
			if s, ok := summarize(store, rel); ok {
				s.Path = rel
				out = append(out, s)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.After(out[j].Start)
		}
		return out[i].Path > out[j].Path
	})
	return out, nil
}

func summarize(store fs.FS, dir string) (RunSummary, bool) {
	h, err := readHeader(store, path.Join(dir, core.HistoryFile))
	if err != nil {
		return RunSummary{}, false
	}
	s := RunSummary{Target: h.Target, Workload: h.Workload, Nemeses: h.Nemeses, Seed: h.Seed, Start: h.Start, Verdict: "not judged"}
	if b, err := readSmall(store, path.Join(dir, core.ResultsFile), maxResultsBytes); err == nil {
		var rs struct {
			Valid    checkers.Validity `json:"valid"`
			Checkers map[string]struct {
				Valid checkers.Validity `json:"valid"`
			} `json:"checkers"`
			Run *core.RunTotals `json:"run"`
		}
		if json.Unmarshal(b, &rs) == nil {
			s.Verdict = rs.Valid.String()
			if rs.Run != nil {
				s.Elapsed = time.Duration(rs.Run.ElapsedS * float64(time.Second))
				s.Ops = rs.Run.Ops
			}
			names := make([]string, 0, len(rs.Checkers))
			for n := range rs.Checkers {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				s.Checkers = append(s.Checkers, n+": "+rs.Checkers[n].Valid.String())
			}
		} else {
			s.Verdict = "unknown"
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		s.Verdict = "unknown"
	}
	if b, err := readSmall(store, path.Join(dir, core.ConfigFile), maxResultsBytes); err == nil {
		var sc core.StoredConfig
		if json.Unmarshal(b, &sc) == nil && sc.Scenario != nil {
			s.Scenario, s.Role = sc.Scenario.Name, "anomaly"
			if sc.Scenario.Control {
				s.Role = "control"
			}
			switch {
			case sc.Matched != nil && *sc.Matched, sc.Matched == nil && s.Verdict == sc.Scenario.Expect:
				s.Matched = "yes"
			case sc.Matched != nil || s.Verdict == "valid" || s.Verdict == "invalid":
				s.Matched = "no"
			}
		}
	}
	_, err = fs.Stat(store, path.Join(dir, HTMLFile))
	s.HasReport = err == nil
	return s, true
}

// maxResultsBytes bounds the results.json the index reads for a verdict.
const maxResultsBytes = 64 << 20

// readSmall reads a regular file of at most limit bytes.
func readSmall(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, limit)
	}
	return b, nil
}

// readHeader reads only the first line of a history.
func readHeader(fsys fs.FS, name string) (history.Header, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return history.Header{}, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return history.Header{}, errors.New("not a history")
	}
	line, err := bufio.NewReaderSize(io.LimitReader(f, 1<<20), 64<<10).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return history.Header{}, err
	}
	var hl struct {
		Header *history.Header `json:"header"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(line), &hl); err != nil || hl.Header == nil {
		return history.Header{}, errors.New("not a history")
	}
	return *hl.Header, nil
}

// csp forbids the index and the reports to load or run anything.
const csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'"

// Handler serves a store: the list of runs at /, and each run's files under
// /runs/<target>/<run>/. A run without report.html gets one rendered on the
// fly (nothing is written). Every read, the index and the rendering
// included, goes through one os.Root opened at store, so no path or link
// leads outside the store. Every response carries the reports' Content
// Security Policy (nothing may run or load), and HTML other than a run's
// report.html (a checker's drawing, which needs its script) is served as a
// download, never as a page of this origin. It only reads.
func Handler(store string) (http.Handler, error) {
	root, err := os.OpenRoot(store)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", store, err)
	}
	fsys := root.FS()
	files := http.StripPrefix("/runs/", http.FileServerFS(fsys))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		runs, err := ListRunsFS(fsys)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := indexTemplate.Execute(w, indexPage(store, runs)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /runs/", func(w http.ResponseWriter, r *http.Request) {
		rel := strings.TrimPrefix(path.Clean(r.URL.Path), "/runs/")
		if path.Base(rel) == HTMLFile {
			if _, err := fs.Stat(fsys, rel); errors.Is(err, fs.ErrNotExist) {
				serveRendered(w, fsys, store, path.Dir(rel))
				return
			}
		} else if activeContent(rel) {
			w.Header().Set("Content-Disposition", "attachment")
		}
		files.ServeHTTP(w, r)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secure(w.Header())
		mux.ServeHTTP(w, r)
	}), nil
}

// secure sets the headers every response of the server carries.
func secure(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

// activeContent reports whether a browser would run a file as a page:
// HTML, XHTML and SVG.
func activeContent(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".html", ".htm", ".xhtml", ".xht", ".svg", ".svgz", ".xml", ".shtml":
		return true
	}
	return false
}

// serveRendered renders a run's report into the response.
func serveRendered(w http.ResponseWriter, store fs.FS, storeDir, rel string) {
	if !fs.ValidPath(rel) || strings.Count(rel, "/") != 1 {
		http.NotFound(w, nil)
		return
	}
	sub, err := fs.Sub(store, rel)
	if err != nil {
		http.NotFound(w, nil)
		return
	}
	run, err := LoadFS(sub, filepath.Join(storeDir, filepath.FromSlash(rel)))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	var buf bytes.Buffer
	if err := RenderHTML(&buf, run); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

type indexRow struct {
	Href, Target, Workload, Nemeses, Start, Seed, Verdict, Class, Checkers string
	Duration, Ops, Scenario, Matched                                       string
}

type indexView struct {
	Store string
	Runs  []indexRow
}

func indexPage(store string, runs []RunSummary) indexView {
	v := indexView{Store: clean(store, 500)}
	for _, r := range runs {
		cls := strings.ReplaceAll(r.Verdict, " ", "-")
		nem := strings.Join(r.Nemeses, ", ")
		if nem == "" {
			nem = "none"
		}
		v.Runs = append(v.Runs, indexRow{Href: "runs/" + r.Path + "/" + HTMLFile, Target: clean(r.Target, 200),
			Workload: clean(r.Workload, 200), Nemeses: clean(nem, 200), Start: r.Start.UTC().Format("2006-01-02 15:04:05 UTC"),
			Seed: strconv.FormatInt(r.Seed, 10), Verdict: r.Verdict, Class: cls, Checkers: clean(strings.Join(r.Checkers, " · "), 1000)})
		row := &v.Runs[len(v.Runs)-1]
		if r.Elapsed > 0 {
			row.Duration = r.Elapsed.Round(100 * time.Millisecond).String()
			row.Ops = strconv.FormatInt(r.Ops, 10)
		}
		if r.Scenario != "" {
			row.Scenario = clean(r.Scenario, 200) + " (" + r.Role + ")"
			row.Matched = r.Matched
		}
	}
	return v
}

var indexTemplate = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="` + csp + `">
<link rel="icon" href="data:,">
<title>chaos runs</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d2329; }
table { border-collapse: collapse; } td, th { border: 1px solid #d8dde3; padding: 4px 9px; text-align: left; }
th { background: #eef1f4; }
.verdict { font-weight: 700; padding: 1px 8px; border-radius: 9px; color: #fff; }
.valid { background: #1e7b34; } .invalid { background: #b42318; } .unknown { background: #a15c07; } .not-judged { background: #6a737d; }
.note { color: #57606a; }
</style></head><body>
<h1>chaos runs</h1>
<p class="note">Store {{.Store}} · newest first · {{len .Runs}} runs</p>
{{- if .Runs}}
<table id="runs"><tr><th>verdict</th><th>target</th><th>workload</th><th>nemeses</th><th>started</th><th>duration</th><th>ops</th><th>seed</th><th>scenario</th><th>matched</th><th>checkers</th></tr>
{{- range .Runs}}
<tr><td><a href="{{.Href}}"><span class="verdict {{.Class}}">{{.Verdict}}</span></a></td><td><a href="{{.Href}}">{{.Target}}</a></td><td>{{.Workload}}</td><td>{{.Nemeses}}</td><td>{{.Start}}</td><td class="duration">{{.Duration}}</td><td class="ops">{{.Ops}}</td><td>{{.Seed}}</td><td class="scenario">{{.Scenario}}</td><td class="matched">{{.Matched}}</td><td>{{.Checkers}}</td></tr>
{{- end}}
</table>
{{- else}}<p>No runs yet: start one with <code>chaos run</code>.</p>{{end}}
</body></html>
`))
