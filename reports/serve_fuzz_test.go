package reports

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
)

// outsideMark is in every file outside the store, and nowhere inside it: a
// response that holds it read outside the store.
const outsideMark = "QQoutsideQQ"

// hostileStore builds a store whose runs are full of links that leave it,
// beside an outside directory holding a complete, readable run of its own
// (so that anything which follows a link out gets something to render).
// It returns the store and the outside directory.
func hostileStore(t testing.TB) (store, outside string) {
	t.Helper()
	base := t.TempDir()
	store, outside = filepath.Join(base, "store"), filepath.Join(base, "outside")

	// The outside run: a valid history, results, config, logs and pages,
	// every one carrying the mark.
	h := header("snowflake", "ids", 3, "n1", "n2"+outsideMark)
	h.Params = map[string]string{"mode": outsideMark}
	b := newBuilder()
	b.invoke(0.1, 0, "generate", outsideMark, nil, "n1")
	b.complete(0.2, 0, "ok", []byte(`"`+outsideMark+`"`), "")
	res := checkers.Result{Valid: checkers.Invalid, Summary: outsideMark}
	out := &fixture{hdr: h, ops: b.finish(), cfg: storedConfig(h, 1, "chaos", "run", outsideMark),
		results: &checkers.Results{Valid: checkers.Invalid, Checkers: map[string]checkers.Result{"ids/" + outsideMark: res}},
		logs:    map[string]string{"n1": outsideMark},
		files:   map[string]string{"secret.txt": outsideMark, "page.html": "<script>" + outsideMark + "</script>"}}
	outRun := out.write(t, filepath.Join(outside, "run"))
	out.write(t, filepath.Join(outside, "snowflake", "20260101T000000.000Z"))

	// Inside: an honest run, then runs and targets that are links out.
	in := snowflakeFixture()
	good := in.write(t, filepath.Join(store, "snowflake", "good"))
	if err := core.LinkLatest(store, "snowflake", good); err != nil {
		t.Fatal(err)
	}
	link := func(target, name string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
	mkdir := func(name string) string {
		t.Helper()
		if err := os.MkdirAll(name, 0o755); err != nil {
			t.Fatal(err)
		}
		return name
	}
	// A target and a run that are links out, absolute and relative.
	link(outside, filepath.Join(store, "escape"))
	link(outRun, filepath.Join(store, "snowflake", "escape"))
	link("../../outside/run", filepath.Join(store, "snowflake", "relescape"))
	// A run without report.html whose history is a link out (rendered on
	// the fly), by absolute and by relative path.
	r1 := mkdir(filepath.Join(store, "snowflake", "r1"))
	link(core.HistoryPath(outRun), core.HistoryPath(r1))
	r2 := mkdir(filepath.Join(store, "snowflake", "r2"))
	link("../../../outside/run/"+core.HistoryFile, core.HistoryPath(r2))
	// A run of its own whose other files are links out.
	r3 := in.write(t, filepath.Join(store, "snowflake", "r3"))
	for _, f := range []string{core.ResultsFile, core.ConfigFile, "page.html", "secret.txt"} {
		src := filepath.Join(outRun, f)
		if _, err := os.Stat(src); err != nil {
			src = filepath.Join(outRun, "secret.txt")
		}
		if err := os.Remove(filepath.Join(r3, f)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		link(src, filepath.Join(r3, f))
	}
	if err := os.RemoveAll(filepath.Join(r3, core.NodesDir)); err != nil {
		t.Fatal(err)
	}
	link(filepath.Join(outRun, core.NodesDir), filepath.Join(r3, core.NodesDir))
	link(filepath.Join(outRun, HTMLFile), filepath.Join(r3, "dangling.html"))
	// A run whose report.html itself is a link out.
	r4 := in.write(t, filepath.Join(store, "snowflake", "r4"))
	link(filepath.Join(outRun, "page.html"), filepath.Join(r4, HTMLFile))
	// A loop, and a link to the root of the file system.
	link("loop", filepath.Join(store, "snowflake", "loop"))
	link("/", filepath.Join(store, "snowflake", "slash"))
	return store, outside
}

// serveOnce sends one GET for the already-decoded path p, as any client
// could make the server see it, and returns status and body.
func serveOnce(t testing.TB, h http.Handler, p string) (int, http.Header, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.URL = &url.URL{Path: p}
	req.RequestURI = p
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, rec.Result().Header, string(b)
}

// assertInside fails when a response shows anything of outside, or a
// response lacks the headers every response must carry.
func assertInside(t testing.TB, h http.Handler, p string) {
	t.Helper()
	code, hdr, body := serveOnce(t, h, p)
	if strings.Contains(body, outsideMark) && !strings.Contains(p, outsideMark) {
		t.Fatalf("GET %q = %d served a file from outside the store:\n%.300s", p, code, body)
	}
	if strings.Contains(body, "root:x:0:0") {
		t.Fatalf("GET %q = %d served /etc/passwd", p, code)
	}
	if got := hdr.Get("Content-Security-Policy"); got != csp {
		t.Fatalf("GET %q = %d without the reports' CSP (got %q)", p, code, got)
	}
}

// traversals are the paths a hostile client tries; the fuzz target starts
// from them and every `go test` run checks them.
var traversals = []string{
	"/", "/runs/", "/runs/snowflake/", "/runs/escape/", "/runs/escape/run/history.jsonl",
	"/runs/escape/snowflake/20260101T000000.000Z/report.html",
	"/runs/snowflake/escape/report.html", "/runs/snowflake/escape/history.jsonl", "/runs/snowflake/escape/secret.txt",
	"/runs/snowflake/relescape/report.html", "/runs/snowflake/relescape/results.json",
	"/runs/snowflake/r1/report.html", "/runs/snowflake/r1/history.jsonl",
	"/runs/snowflake/r2/report.html", "/runs/snowflake/r2/history.jsonl",
	"/runs/snowflake/r3/report.html", "/runs/snowflake/r3/results.json", "/runs/snowflake/r3/config.json",
	"/runs/snowflake/r3/page.html", "/runs/snowflake/r3/secret.txt", "/runs/snowflake/r3/nodes/n1.log",
	"/runs/snowflake/r3/nodes/", "/runs/snowflake/r3/dangling.html",
	"/runs/snowflake/r4/report.html", "/runs/snowflake/loop/report.html", "/runs/snowflake/slash/etc/passwd",
	"/runs/snowflake/slash/report.html", "/runs/snowflake/latest/report.html", "/runs/snowflake/good/report.html",
	"/runs/../outside/run/history.jsonl", "/runs/../../outside/secret.txt", "/runs/snowflake/../../outside/run/report.html",
	"/runs/..%2foutside/run/report.html", "/runs/snowflake/good/../../../outside/run/secret.txt",
	"/runs/snowflake/good/..\\..\\..\\outside\\run\\secret.txt", "/runs//etc/passwd", "/runs/\x00/report.html",
	"/runs/./snowflake/./r1/./report.html", "/runs/snowflake/r1/report.html/", "/runs/snowflake/r1/./history.jsonl",
	"/../../outside/run/history.jsonl", "/runs/escape", "/runs/snowflake/escape", "/runs/snowflake/r3/nodes",
}

func TestServeNeverReadsOutsideTheStore(t *testing.T) {
	store, _ := hostileStore(t)
	h, err := Handler(store)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range traversals {
		assertInside(t, h, p)
	}
	// The links out are refused, not rendered: no run is rendered from an
	// outside history, and the index lists no run that lies outside.
	for _, p := range []string{"/runs/snowflake/r1/report.html", "/runs/snowflake/r2/report.html", "/runs/snowflake/escape/report.html"} {
		if code, _, _ := serveOnce(t, h, p); code == http.StatusOK {
			t.Errorf("GET %s = 200: a run reached through a link out was rendered", p)
		}
	}
	code, _, body := serveOnce(t, h, "/")
	if code != http.StatusOK || strings.Count(body, "<tr>") != 4 {
		t.Errorf("index = %d with %d rows; want the header and the three runs of the store itself (good, r3, r4)", code, strings.Count(body, "<tr>"))
	}
	// What is inside still works, through the latest link too.
	for _, p := range []string{"/runs/snowflake/good/report.html", "/runs/snowflake/latest/report.html"} {
		if code, _, body := serveOnce(t, h, p); code != http.StatusOK || !strings.Contains(body, "Invalid: anomalies were found") {
			t.Errorf("GET %s = %d; want the run's report", p, code)
		}
	}
	// A run whose results are a link out is rendered from its own history
	// alone, and says what it could not read.
	if code, _, body := serveOnce(t, h, "/runs/snowflake/r3/report.html"); code != http.StatusOK || !strings.Contains(body, "Not judged") || !strings.Contains(body, "results.json could not be read") {
		t.Errorf("GET r3/report.html = %d; want the unjudged report naming results.json", code)
	}
}

// TestLoadRefusesLinksOutOfTheRun: `chaos report` reads as serve does.
func TestLoadRefusesLinksOutOfTheRun(t *testing.T) {
	store, _ := hostileStore(t)
	if _, err := Load(filepath.Join(store, "snowflake", "r1")); err == nil {
		t.Error("Load read a history that is a link out of its run directory")
	}
	r, err := Load(filepath.Join(store, "snowflake", "r3"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Results != nil || r.Config != nil || len(r.NodeLogs) != 0 || len(r.Visualizations) != 0 {
		t.Errorf("Load followed links out: results %v, config %v, logs %v, pages %v", r.Results != nil, r.Config != nil, r.NodeLogs, r.Visualizations)
	}
	if len(r.Problems) == 0 {
		t.Error("Load says nothing of the files it refused")
	}
}

// TestServedPagesCannotRunScript: every page other than report.html is a
// download, and every response carries the CSP.
func TestServedPagesCannotRunScript(t *testing.T) {
	store := t.TempDir()
	f := snowflakeFixture()
	f.files = map[string]string{"planted.html": "<script>fetch('/')</script>", "x.svg": "<svg><script>1</script></svg>", "notes.txt": "hi"}
	f.write(t, filepath.Join(store, "snowflake", "run"))
	h, err := Handler(store)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/runs/snowflake/run/planted.html", "/runs/snowflake/run/x.svg"} {
		code, hdr, _ := serveOnce(t, h, p)
		if code != http.StatusOK || hdr.Get("Content-Security-Policy") != csp || !strings.HasPrefix(hdr.Get("Content-Disposition"), "attachment") {
			t.Errorf("GET %s = %d, CSP %q, disposition %q; want a download under the CSP", p, code, hdr.Get("Content-Security-Policy"), hdr.Get("Content-Disposition"))
		}
	}
	for _, p := range []string{"/runs/snowflake/run/report.html", "/runs/snowflake/run/notes.txt", "/", "/nope"} {
		code, hdr, _ := serveOnce(t, h, p)
		if hdr.Get("Content-Security-Policy") != csp || hdr.Get("Content-Disposition") != "" {
			t.Errorf("GET %s = %d, CSP %q, disposition %q; want inline under the CSP", p, code, hdr.Get("Content-Security-Policy"), hdr.Get("Content-Disposition"))
		}
	}
}

// FuzzServeStaysInStore sends arbitrary paths to a store full of links out,
// and re-points one more link at an arbitrary target, and asserts that no
// response holds anything from outside. `go test` runs the seeds above;
// `go test -fuzz FuzzServeStaysInStore ./reports` explores further.
func FuzzServeStaysInStore(f *testing.F) {
	for _, p := range traversals {
		f.Add(p, "../../../outside/run/history.jsonl")
	}
	for _, l := range []string{"/", "..", "../..", "../../..", "../../../outside", "../../../outside/run", "/etc/passwd", "../good/history.jsonl", "history.jsonl", ""} {
		f.Add("/runs/snowflake/fz/report.html", l)
		f.Add("/runs/snowflake/fz/history.jsonl", l)
		f.Add("/runs/snowflake/fz/x/run/report.html", l)
	}
	store, outside := hostileStore(f)
	fz := filepath.Join(store, "snowflake", "fz")
	if err := os.MkdirAll(fz, 0o755); err != nil {
		f.Fatal(err)
	}
	h, err := Handler(store)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p, target string) {
		if strings.Contains(target, outsideMark) || strings.ContainsRune(target, 0) {
			return
		}
		// The fuzzed link: the history of run fz, and a directory x in it.
		for _, name := range []string{core.HistoryFile, "x"} {
			l := filepath.Join(fz, name)
			_ = os.Remove(l)
			if err := os.Symlink(target, l); err != nil {
				return // a name the file system refuses
			}
		}
		assertInside(t, h, p)
		assertInside(t, h, "/runs/snowflake/fz/report.html")
		assertInside(t, h, "/runs/snowflake/fz/x/history.jsonl")
		if _, err := os.Stat(outside); err != nil {
			t.Fatal(err)
		}
	})
}
