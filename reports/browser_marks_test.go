package reports_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chaostest/chaos/reports"
)

// ScreenshotEnv names a directory that keeps the browser tests'
// screenshots; without it they go to the test's temporary directory.
const ScreenshotEnv = "CHAOS_SCREENSHOTS"

// faultMarks loads a report in headless Chromium, takes a full-page
// screenshot into png, and returns the fault marks drawn, as "lane/kind"
// of every SVG mark in the fault and clock charts, with their counts.
func faultMarks(t *testing.T, exe, html, png string) map[string]int {
	t.Helper()
	abs, err := filepath.Abs(html)
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 1000), chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+abs), chromedp.WaitReady("#verdict")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	marks, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#chart-faults svg [data-lane], #chart-clocks svg [data-lane]'))
		.filter(e => e.getBoundingClientRect().width > 0)
		.map(e => e.closest('section').id + ':' + e.dataset.lane + '/' + e.dataset.kind)`))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(80))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(png, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", png, len(shot))
	out := map[string]int{}
	for _, m := range marks {
		out[m]++
	}
	return out
}

func shotDir(t *testing.T) string {
	if d := os.Getenv(ScreenshotEnv); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestBrowserFaultMarksOnTheirLanes: screenshots of an invalid lock run, a
// partition run and a clock run, each checked for its fault marks on the
// lanes of the nodes (and clients) the faults hit, as the browser lays
// them out.
func TestBrowserFaultMarksOnTheirLanes(t *testing.T) {
	exe := chromium(t)
	dir := shotDir(t)
	for _, c := range []struct {
		fixture string
		want    map[string]int // lane/kind -> marks, at least
		not     []string
	}{
		{"lock", map[string]int{"chart-faults:n3/clock": 1, "chart-clocks:n3/clock": 0}, []string{"chart-faults:network/partition"}},
		{"lanes", map[string]int{"chart-faults:n1/partition": 3, "chart-faults:n3/partition": 2, "chart-faults:n2/partition": 1,
			"chart-faults:n4/partition": 1, "chart-faults:clients/partition": 1, "chart-faults:c1/paused": 1,
			"chart-faults:n2/strobe": 1, "chart-clocks:n2/strobe": 1}, []string{"chart-faults:network/partition", "chart-faults:n1/paused"}},
		{"snowflake", map[string]int{"chart-faults:n2/clock": 1, "chart-faults:n3/clock": 1, "chart-faults:n1/strobe": 1,
			"chart-clocks:n1/strobe": 1}, []string{"chart-faults:n2/strobe", "chart-clocks:n2/strobe"}},
	} {
		t.Run(c.fixture, func(t *testing.T) {
			run := reports.Fixture(t, c.fixture, filepath.Join(t.TempDir(), "run"))
			paths, err := reports.Write(run)
			if err != nil {
				t.Fatal(err)
			}
			marks := faultMarks(t, exe, paths.HTML, filepath.Join(dir, c.fixture+"-report.png"))
			for k, n := range c.want {
				if marks[k] < n || (n == 0 && marks[k] != 0) {
					t.Errorf("%s: %d marks, want %d (drawn: %v)", k, marks[k], n, marks)
				}
			}
			for _, k := range c.not {
				if marks[k] != 0 {
					t.Errorf("%s drawn %d times (drawn: %v)", k, marks[k], marks)
				}
			}
			if len(marks) == 0 || strings.Contains(paths.HTML, "..") {
				t.Errorf("no fault marks drawn")
			}
		})
	}
}
