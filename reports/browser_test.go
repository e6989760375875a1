package reports_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/reports"
	"github.com/chaostest/chaos/runtime/local"
)

func TestMain(m *testing.M) {
	builtin.RunNodeIfRequested()
	os.Exit(m.Run())
}

// chromium finds Debian's chromium (installed in CI by
// .ci/setup.d/chromium.sh). Outside CI a missing browser skips, loudly.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH in CI: .ci/setup.d/chromium.sh should have installed it")
	}
	t.Skip("SKIPPED: no chromium on PATH, so the report is not checked in a browser; install it with `sudo bash .ci/setup.d/chromium.sh` (CI never skips this)")
	return ""
}

// pageCheck is what a browser saw while loading one report.
type pageCheck struct {
	Verdict   string
	Anomalies []string
	Witnesses int
	Text      string
	// BrokenLinks are in-page links whose target element does not exist.
	BrokenLinks []string
	Resources   int
	Problems    []string // console errors, exceptions, dialogs, requests
}

// openReport loads a report.html in headless Chromium and records every
// console error, uncaught exception, dialog and network request.
func openReport(t *testing.T, exe, path string) pageCheck {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	url := "file://" + abs
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 1000), chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()

	var mu sync.Mutex
	var pc pageCheck
	note := func(format string, args ...any) {
		mu.Lock()
		pc.Problems = append(pc.Problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	// Open the tab first so the listener sees every event of the load.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	err = chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
				note("console %s", e.Type)
			}
		case *runtime.EventExceptionThrown:
			note("uncaught exception: %s", e.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
				note("browser log %s: %s %s", e.Entry.Level, e.Entry.Text, e.Entry.URL)
			}
		case *page.EventJavascriptDialogOpening:
			note("a dialog opened: %q (a script ran)", e.Message)
			// The listener must not block: dismiss the dialog elsewhere.
			go func() { _, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{}) }()
		case *network.EventRequestWillBeSent:
			if e.Request.URL != url && !strings.HasPrefix(e.Request.URL, "data:") {
				note("request for %s", e.Request.URL)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); return err },
		func() error { _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); return err },
		func() error { _, err := chromedp.Call(ctx, page.Enable, page.EnableParams{}); return err },
		func() error { _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); return err },
		func() error { return chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady("#verdict")) },
		func() (err error) { pc.Verdict, err = chromedp.Run(ctx, chromedp.Text("#verdict h1")); return err },
		func() (err error) {
			pc.Anomalies, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('.anomaly .message')).map(e => e.innerText)`))
			return err
		},
		func() (err error) {
			pc.Witnesses, err = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.anomaly table.ops td a[href^="#op-"]').length`))
			return err
		},
		func() (err error) {
			pc.BrokenLinks, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('a[href^="#"]')).map(a => a.getAttribute('href')).filter(h => !document.getElementById(decodeURIComponent(h.slice(1))))`))
			return err
		},
		func() (err error) {
			pc.Resources, err = chromedp.Run(ctx, chromedp.Evaluate[int](`performance.getEntriesByType('resource').length`))
			return err
		},
		func() (err error) {
			pc.Text, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			return err
		},
		// Follow a witness link: the page jumps to its mark on the timeline.
		func() (err error) {
			var target string
			target, err = chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const a = document.querySelector('.anomaly table.ops a'); if (!a) return ''; a.click(); return location.hash })()`))
			if err == nil && target != "" && !strings.HasPrefix(target, "#op-") {
				note("a witness link led to %q", target)
			}
			return err
		},
		func() error { return chromedp.Do(ctx, chromedp.Sleep(200*time.Millisecond)) },
	} {
		if err := step(); err != nil {
			t.Fatalf("chromium on %s: %v", path, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return pc
}

func (pc pageCheck) assertClean(t *testing.T) {
	t.Helper()
	for _, p := range pc.Problems {
		t.Errorf("browser: %s", p)
	}
	if pc.Resources != 0 {
		t.Errorf("the page loaded %d resources; it must load none", pc.Resources)
	}
	if len(pc.BrokenLinks) > 0 {
		t.Errorf("in-page links without a target: %v", pc.BrokenLinks)
	}
}

// TestBrowserFailingSnowflakeRun runs the naive snowflake service under clock
// faults for real, writes its report, and opens it in Chromium.
func TestBrowserFailingSnowflakeRun(t *testing.T) {
	exe := chromium(t)
	cfg := core.Config{Target: "snowflake", Params: core.Params{"mode": "naive"}, Nemeses: []string{"clock"},
		TimeLimit: 3 * time.Second, NemesisInterval: 500 * time.Millisecond, Seed: 7, Store: t.TempDir(),
		NewRuntime: func() (core.Runtime, error) { return local.New() }}
	p, err := core.Prepare(builtin.New(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := core.Execute(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if out.Results.Valid != checkers.Invalid {
		t.Fatalf("the naive snowflake run under clock faults was %s; the test needs a failing run", out.Results.Valid)
	}
	paths, err := reports.Write(out.Dir)
	if err != nil {
		t.Fatal(err)
	}
	pc := openReport(t, exe, paths.HTML)
	pc.assertClean(t)
	if !strings.HasPrefix(pc.Verdict, "Invalid") {
		t.Errorf("verdict shown: %q; want Invalid", pc.Verdict)
	}
	if len(pc.Anomalies) == 0 || pc.Witnesses == 0 {
		t.Fatalf("no anomaly with linked witnesses shown (%d anomalies, %d witness links)", len(pc.Anomalies), pc.Witnesses)
	}
	if !strings.Contains(pc.Text, "Last fault before it: node") || !strings.Contains(pc.Text, "clock") {
		t.Error("the witness does not name the clock fault before it")
	}
	if !strings.Contains(pc.Text, "--seed 7") {
		t.Error("the rerun command with the seed is not shown")
	}
}

// TestBrowserFailingLockRun opens the report of a Redlock run in which two
// clients held the same lock (a hand-built run directory: the lock target
// lives in its own package).
func TestBrowserFailingLockRun(t *testing.T) {
	exe := chromium(t)
	dir := reports.Fixture(t, "lock", filepath.Join(t.TempDir(), "run"))
	paths, err := reports.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	pc := openReport(t, exe, paths.HTML)
	pc.assertClean(t)
	if !strings.HasPrefix(pc.Verdict, "Invalid") {
		t.Errorf("verdict shown: %q; want Invalid", pc.Verdict)
	}
	want := "clients 3 and 7 both held lock L from 12.350 s to 12.840 s"
	if len(pc.Anomalies) != 1 || !strings.Contains(pc.Anomalies[0], want) {
		t.Errorf("anomalies shown: %q; want one saying %q", pc.Anomalies, want)
	}
	if pc.Witnesses != 3 {
		t.Errorf("%d witness records linked to the timeline, want 3", pc.Witnesses)
	}
	if !strings.Contains(pc.Text, "node n3's clock jumped forward 30s") {
		t.Error("the fault before the anomaly is not shown")
	}
}

// TestBrowserHostileValues opens a report whose history is full of markup:
// no script may run, and the markup must read as text.
func TestBrowserHostileValues(t *testing.T) {
	exe := chromium(t)
	dir := reports.Fixture(t, "hostile", filepath.Join(t.TempDir(), "run"))
	paths, err := reports.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	pc := openReport(t, exe, paths.HTML)
	pc.assertClean(t)
	for _, want := range []string{"<script>alert(1)</script>", `"'><img src=x onerror=alert(2)>`} {
		if !strings.Contains(pc.Text, want) {
			t.Errorf("the page does not show %q as text", want)
		}
	}
}
