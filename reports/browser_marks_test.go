package reports_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/chaostest/chaos/reports"
)

// ScreenshotEnv names a directory that keeps the browser tests'
// screenshots; without it they go to the test's temporary directory.
const ScreenshotEnv = "CHAOS_SCREENSHOTS"

// shown is what the browser laid out in one report.
type shown struct {
	// marks counts "section:lane/kind" of every drawn mark that has a lane:
	// fault and clock marks, holds and lease ends on the timeline.
	marks map[string]int
	// labels are the anomaly labels' boxes on the timeline, in CSS pixels.
	labels []labelRect
	// anomalies is how many anomalies the page explains.
	anomalies int
	// fillByOutcome and fillByNode are an operation's computed fill before
	// and after choosing "colour by node".
	fillByOutcome, fillByNode string
}

type labelRect struct {
	Text                     string
	Left, Right, Top, Bottom float64
}

// inBrowser loads a report in headless Chromium, takes a full-page PNG
// screenshot into base+".png" and one of the timeline coloured by node into
// base+"-by-node.png", and returns what it laid out.
func inBrowser(t *testing.T, exe, html, base string) shown {
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
	ctx, cancelT := context.WithTimeout(ctx, 120*time.Second)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+abs), chromedp.WaitReady("#verdict")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	var s shown
	marks, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#chart-faults svg [data-lane], #chart-clocks svg [data-lane], #chart-timeline svg [data-lane]'))
		.filter(e => e.getBoundingClientRect().width > 0)
		.map(e => e.closest('section').id + ':' + e.dataset.lane + '/' + e.dataset.kind)`))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	s.labels, err = chromedp.Run(ctx, chromedp.Evaluate[[]labelRect](`Array.from(document.querySelectorAll('#chart-timeline svg text.marker'))
		.map(e => { const r = e.getBoundingClientRect(); return {Text: e.textContent, Left: r.left, Right: r.right, Top: r.top, Bottom: r.bottom}; })`))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if s.anomalies, err = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.anomaly').length`)); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	writePNG(t, base+".png", shot)
	const fill = `getComputedStyle(document.querySelector('#chart-timeline rect.op')).fill`
	if s.fillByOutcome, err = chromedp.Run(ctx, chromedp.Evaluate[string](fill)); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const r = document.getElementById('colour-node'); r.click(); return r.checked })()`)); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if s.fillByNode, err = chromedp.Run(ctx, chromedp.Evaluate[string](fill)); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	// The timeline's box in page coordinates, captured as a clip.
	beyond := true
	box, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const r = document.getElementById('chart-timeline').getBoundingClientRect(); return [r.left + scrollX, r.top + scrollY, r.width, r.height]; })()`))
	if err != nil || len(box) != 4 {
		t.Fatalf("chromium: %v %v", box, err)
	}
	res, err := chromedp.Call(ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatPng,
		Clip: &page.Viewport{X: box[0], Y: box[1], Width: box[2], Height: box[3], Scale: 1}, CaptureBeyondViewport: &beyond})
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot = res.Data
	writePNG(t, base+"-by-node.png", shot)
	s.marks = map[string]int{}
	for _, m := range marks {
		s.marks[m]++
	}
	return s
}

// writePNG keeps a screenshot, after checking it is a PNG.
func writePNG(t *testing.T, path string, b []byte) {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot for %s is not a PNG (starts %q)", path, b[:min(len(b), 8)])
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", path, len(b))
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
// lock run whose holder outlived its lease, a partition run, a clock run and
// a run with crowded anomalies, each checked as the browser lays it out: the
// fault marks on the lanes of the nodes (and clients) the faults hit, the
// lease ends on the holds, every anomaly labelled with no two labels
// overlapping, and the colour-by-node toggle changing the operations' fill.
func TestBrowserFaultMarksOnTheirLanes(t *testing.T) {
	exe := chromium(t)
	dir := shotDir(t)
	for _, c := range []struct {
		fixture string
		want    map[string]int // lane/kind -> marks, at least
		not     []string
	}{
		{"lock", map[string]int{"chart-faults:n3/clock": 1, "chart-clocks:n3/clock": 0, "chart-faults:n4/down": 1,
			"chart-timeline:process 3/lease-expiry": 1, "chart-timeline:process 7/lease-expiry": 1,
			"chart-timeline:process 7/hold-past-lease": 1},
			[]string{"chart-faults:network/partition", "chart-timeline:process 3/hold-past-lease"}},
		{"lease", map[string]int{"chart-faults:c2/paused": 1, "chart-timeline:process 2 · n3/lease-expiry": 3,
			"chart-timeline:process 2 · n3/hold-past-lease": 1, "chart-timeline:process 0 · n1/lease-expiry": 3},
			[]string{"chart-timeline:process 0 · n1/hold-past-lease", "chart-faults:n3/paused"}},
		{"lanes", map[string]int{"chart-faults:n1/partition": 3, "chart-faults:n3/partition": 2, "chart-faults:n2/partition": 1,
			"chart-faults:n4/partition": 1, "chart-faults:clients/partition": 1, "chart-faults:c1/paused": 1,
			"chart-faults:n2/strobe": 1, "chart-clocks:n2/strobe": 1}, []string{"chart-faults:network/partition", "chart-faults:n1/paused"}},
		{"snowflake", map[string]int{"chart-faults:n2/clock": 1, "chart-faults:n3/clock": 1, "chart-faults:n1/strobe": 1,
			"chart-clocks:n1/strobe": 1}, []string{"chart-faults:n2/strobe", "chart-clocks:n2/strobe"}},
		{"labels", map[string]int{"chart-faults:n2/clock": 1}, nil},
	} {
		t.Run(c.fixture, func(t *testing.T) {
			run := reports.Fixture(t, c.fixture, filepath.Join(t.TempDir(), "run"))
			paths, err := reports.Write(run)
			if err != nil {
				t.Fatal(err)
			}
			s := inBrowser(t, exe, paths.HTML, filepath.Join(dir, c.fixture+"-report"))
			for k, n := range c.want {
				if s.marks[k] < n || (n == 0 && s.marks[k] != 0) {
					t.Errorf("%s: %d marks, want %d (drawn: %v)", k, s.marks[k], n, s.marks)
				}
			}
			for _, k := range c.not {
				if s.marks[k] != 0 {
					t.Errorf("%s drawn %d times (drawn: %v)", k, s.marks[k], s.marks)
				}
			}
			if len(s.marks) == 0 || strings.Contains(paths.HTML, "..") {
				t.Errorf("no fault marks drawn")
			}
			if len(s.labels) != s.anomalies {
				t.Errorf("%d anomaly labels on the timeline for %d anomalies", len(s.labels), s.anomalies)
			}
			for i, a := range s.labels {
				if a.Text == "" || a.Right-a.Left < 1 || a.Bottom-a.Top < 1 {
					t.Errorf("label %d (%q) is not visible: %+v", i, a.Text, a)
				}
				for _, b := range s.labels[:i] {
					if a.Left < b.Right && b.Left < a.Right && a.Top < b.Bottom && b.Top < a.Bottom {
						t.Errorf("labels %s %+v and %s %+v overlap", a.Text, a, b.Text, b)
					}
				}
			}
			if s.fillByOutcome == "" || s.fillByOutcome == s.fillByNode {
				t.Errorf("colouring by node left the operations' fill at %q (was %q)", s.fillByNode, s.fillByOutcome)
			}
		})
	}
}
