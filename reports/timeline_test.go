package reports

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// box is a label's extent as the page draws it.
type box struct {
	text       string
	x0, x1     float64
	y0, y1     float64
	markX, top float64
}

// markerLabels reads every anomaly label of the timeline from a rendered
// page: its text, where it starts and its baseline, with the width the
// layout reserves for it, and its marker line.
func markerLabels(t *testing.T, page string) []box {
	t.Helper()
	tl := page[strings.Index(page, `id="chart-timeline"`):]
	tl = tl[:strings.Index(tl, "</svg>")]
	var out []box
	for _, m := range regexpAll(`<line class="marker" x1="([-0-9.]+)" x2="[-0-9.]+" y1="([-0-9.]+)"[^>]*/>(?:<line class="marker leader"[^>]*/>)?<text class="marker" x="([-0-9.]+)" y="([-0-9.]+)" data-row="\d+">([^<]*)</text>`, tl) {
		num := func(s string) float64 {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		x, y := num(m[3]), num(m[4])
		out = append(out, box{text: m[5], x0: x, x1: x + labelWidth(m[5]), y0: y - 10.5, y1: y + 3, markX: num(m[1]), top: num(m[2])})
	}
	return out
}

func overlap(a, b box) bool {
	return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1
}

// TestAnomalyLabelsNeverOverlap: 24 anomalies, most within a few pixels of
// each other, each get a label on the page, inside the chart, none
// overlapping another, each joined to its own marker line.
func TestAnomalyLabelsNeverOverlap(t *testing.T) {
	_, page, _ := writeReport(t, labelFixture())
	boxes := markerLabels(t, page)
	n := strings.Count(page, `<div class="anomaly" id="anomaly-`)
	if n < 20 || len(boxes) != n {
		t.Fatalf("%d anomaly labels on the timeline for %d anomalies", len(boxes), n)
	}
	seen := map[string]bool{}
	for i, a := range boxes {
		if a.text == "" || seen[a.text] {
			t.Errorf("label %d is %q (empty or twice)", i, a.text)
		}
		seen[a.text] = true
		if a.x0 < plotX0 || a.x1 > chartW || a.y0 < 0 {
			t.Errorf("label %s at [%.1f, %.1f]×[%.1f, %.1f] leaves the chart", a.text, a.x0, a.x1, a.y0, a.y1)
		}
		if a.top > a.y1+labelRowH || a.top < a.y0-1 {
			t.Errorf("label %s: its line ends at y=%.1f, away from the label's row [%.1f, %.1f]", a.text, a.top, a.y0, a.y1)
		}
		for _, b := range boxes[:i] {
			if overlap(a, b) {
				t.Errorf("labels %s [%.1f, %.1f]×[%.1f, %.1f] and %s [%.1f, %.1f]×[%.1f, %.1f] overlap",
					a.text, a.x0, a.x1, a.y0, a.y1, b.text, b.x0, b.x1, b.y0, b.y1)
			}
		}
	}
}

// TestLayoutLabelsRandom: any set of markers, however crowded, gets one
// box per label, inside the bounds, and no two boxes on a row overlap.
func TestLayoutLabelsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 19))
	for trial := 0; trial < 300; trial++ {
		n := rng.IntN(250)
		xs := make([]float64, n)
		texts := make([]string, n)
		centre := plotX0 + rng.Float64()*plotW
		for i := range xs {
			if rng.IntN(2) == 0 {
				xs[i] = centre + rng.NormFloat64()*5
			} else {
				xs[i] = plotX0 + rng.Float64()*plotW
			}
			xs[i] = math.Min(math.Max(xs[i], plotX0), plotX0+plotW)
			texts[i] = "A" + strconv.Itoa(i+1)
		}
		boxes, rows := layoutLabels(xs, texts, plotX0, chartW-4)
		if len(boxes) != n {
			t.Fatalf("%d boxes for %d labels", len(boxes), n)
		}
		for i, a := range boxes {
			if a.X0 < plotX0-1e-9 || a.X1 > chartW-4+1e-9 || a.Row < 0 || a.Row >= rows {
				t.Fatalf("trial %d: label %s at [%.1f, %.1f] row %d (of %d) out of bounds", trial, texts[i], a.X0, a.X1, a.Row, rows)
			}
			if math.Abs(a.X1-a.X0-labelWidth(texts[i])) > 1e-9 {
				t.Fatalf("label %s is %.1f wide, want %.1f", texts[i], a.X1-a.X0, labelWidth(texts[i]))
			}
			for j, b := range boxes[:i] {
				if a.Row == b.Row && a.X0 < b.X1+labelGap-1e-9 && b.X0 < a.X1+labelGap-1e-9 {
					t.Fatalf("trial %d: labels %s and %s overlap on row %d", trial, texts[i], texts[j], a.Row)
				}
			}
		}
		if n <= 40 && rows > maxLabelRows {
			t.Errorf("trial %d: %d labels took %d rows", trial, n, rows)
		}
	}
}

// TestLeaseEndMarkedOnTheHold: each hold of the lock is drawn on its
// process's row with a mark where its lease ends; the hold that outlived
// its lease is drawn past the mark, and the write sent after it is flagged.
func TestLeaseEndMarkedOnTheHold(t *testing.T) {
	_, page, _ := writeReport(t, leaseFixture())
	tl := page[strings.Index(page, `id="chart-timeline"`):]
	tl = tl[:strings.Index(tl, "</svg>")]
	marks := map[string]int{}
	for _, m := range regexpAll(`data-lane="([^"]+)" data-kind="([^"]+)"`, tl) {
		marks[m[1]+"/"+m[2]]++
	}
	if marks["process 2 · n3/hold"] != 3 || marks["process 2 · n3/lease-expiry"] != 3 || marks["process 2 · n3/hold-past-lease"] != 1 {
		t.Errorf("process 2's holds, lease ends and overrun: %v", marks)
	}
	for _, lane := range []string{"process 0 · n1", "process 1 · n2", "process 3 · n1"} {
		if marks[lane+"/lease-expiry"] < 3 || marks[lane+"/hold-past-lease"] != 0 {
			t.Errorf("%s: %d lease ends, %d overruns; want 3+ and 0 (%v)", lane, marks[lane+"/lease-expiry"], marks[lane+"/hold-past-lease"], marks)
		}
	}
	// The overrun starts exactly at the lease's end: 3.7 s + 1 s.
	x := axis{end: 9_420 * int64(time.Millisecond)}.x(at(4.7))
	if !strings.Contains(tl, `class="hold past" data-lane="process 2 · n3" data-kind="hold-past-lease" x="`+f1(x)+`"`) {
		t.Errorf("the overrun of process 2's hold does not start at its lease end (x=%s)", f1(x))
	}
	if !regexpMatch(`id="op-\d+" class="op ok nd2 witness late"[^>]*><title>[^<]*after its lease ran out at 4\.700 s`, tl) {
		t.Errorf("the write after the lease is not flagged late")
	}
}

// TestOperationsColouredByNode: every operation carries its node's colour
// class, the toggle and the node legend are on the page, and each row's
// label names its node.
func TestOperationsColouredByNode(t *testing.T) {
	_, page, _ := writeReport(t, lockFixture())
	for _, want := range []string{`id="colour-node" class="colour-by"`, `<p class="legend by-node">`,
		`#colour-node:checked ~ #chart-timeline rect.op.nd4`, `>process 1 · n2<`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	tl := page[strings.Index(page, `id="chart-timeline"`):]
	tl = tl[:strings.Index(tl, "</svg>")]
	ops := regexpAll(`<rect id="op-\d+" class="op [a-z]+ (nd\d|nonode)`, tl)
	if len(ops) < 50 {
		t.Fatalf("%d operations with a node class", len(ops))
	}
	for _, m := range ops {
		if m[1] == "nonode" {
			t.Fatalf("an operation has no node colour")
		}
	}
}

// TestLatencyAxisTicks: round values with units, enough of them to read.
func TestLatencyAxisTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi time.Duration
		want   string
	}{
		{time.Millisecond, 10 * time.Millisecond, "1ms 2ms 5ms 10ms"},
		{2 * time.Millisecond, 80 * time.Millisecond, "2ms 5ms 10ms 20ms 50ms"},
		{50 * time.Microsecond, 2 * time.Second, "100µs 1ms 10ms 100ms 1s"},
		{time.Microsecond, 30 * time.Second, "1µs 10µs 100µs 1ms 10ms 100ms 1s 10s"},
		{300 * time.Microsecond, 40 * time.Millisecond, "500µs 1ms 2ms 5ms 10ms 20ms"},
		{100 * time.Microsecond, 200 * time.Millisecond, "100µs 300µs 1ms 3ms 10ms 30ms 100ms"},
	} {
		var got []string
		for _, v := range logTicks(math.Log10(float64(c.lo)), math.Log10(float64(c.hi))) {
			got = append(got, tickDur(time.Duration(v)))
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%v..%v: ticks %v, want %s", c.lo, c.hi, got, c.want)
		}
	}
	_, page, _ := writeReport(t, snowflakeFixture())
	lat := page[strings.Index(page, `id="chart-latency"`):]
	lat = lat[:strings.Index(lat, "</svg>")]
	labels := regexpAll(`<text class="row" x="94.0" y="[-0-9.]+">([0-9.]+(?:µs|ms|s))</text>`, lat)
	if len(labels) < 4 {
		t.Errorf("latency axis has %d labels: %v", len(labels), labels)
	}
	if n := strings.Count(lat, `<line class="tick" x1="100" x2="1090"`); n != len(labels) {
		t.Errorf("%d horizontal grid lines for %d labels", n, len(labels))
	}
}

func regexpMatch(expr, s string) bool { return len(regexpAll(expr, s)) > 0 }
