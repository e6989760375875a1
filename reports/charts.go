package reports

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/nemesis"
)

// Geometry shared by every chart, in SVG user units, so that one instant has
// the same x in all of them.
const (
	chartW = 1100.0
	plotX0 = 100.0
	plotW  = 990.0
	// columns is the timeline's resolution when it is downsampled.
	columns = 990
	// maxSingleOps is how many operations the timeline draws one by one
	// before it merges them per pixel column.
	maxSingleOps = 2500
	// maxSingleDots is the same for the latency plot.
	maxSingleDots = 4000
	// maxRows bounds the timeline's rows: beyond it, processes are grouped by
	// the worker that ran them.
	maxRows = 40
)

// f1 formats a coordinate with one decimal, which is all a screen needs and
// keeps big charts small.
func f1(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }

// axis maps history time to x.
type axis struct{ end int64 }

func (a axis) x(t int64) float64 {
	if t < 0 {
		t = 0
	}
	if t > a.end {
		t = a.end
	}
	return plotX0 + float64(t)/float64(a.end)*plotW
}

// chart is one inline SVG. Every string field that can carry history text
// goes through html/template; the numbers are preformatted.
type chart struct {
	ID      string
	Title   string
	Note    string
	H       string
	Bands   []band
	Ticks   []tick
	Labels  []label
	Rects   []mark
	Lines   []line
	Markers []marker
	Legend  []legend
	// NodeLegend replaces Legend when the page colours operations by node.
	NodeLegend []legend
	// Holds are drawn behind the marks.
	Holds []mark
	// YTicks are y positions of horizontal grid lines.
	YTicks  []string
	GridTop string
	GridBot string
	// TickY is where the time labels go, under the plot.
	TickY   string
	Empty   string
	YLabels []label
}

type band struct{ X, W, Y, H, Class, Title string }
type tick struct{ X, Label string }
type label struct{ X, Y, Text, Class string }

// mark is a rectangle; Lane and Kind become data-lane and data-kind, so a
// reader (or a test) can tell which lane a fault mark sits on.
type mark struct{ X, Y, W, H, Class, ID, Title, Href, Lane, Kind string }
type line struct{ Points, Class, Title string }

// marker is an anomaly's line on the timeline; its label starts at LX, LY
// on label row Row, and Lead draws a leader from the line's top to it.
type marker struct {
	X, Label, Href, Title string
	LX, LY, Top, Row      string
	Lead                  bool
}
type legend struct{ Class, Text string }

func (c *chart) setHeight(h float64) {
	c.H = f1(h)
	c.TickY = f1(h - 8)
}

// ticks places time labels at a round step.
func ticks(a axis) []tick {
	span := time.Duration(a.end).Seconds()
	steps := []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= 10 {
			step = s
			break
		}
	}
	digits := 0
	for d := step; d < 1-1e-9 && digits < 3; d *= 10 {
		digits++
	}
	var out []tick
	for i := 0; float64(i)*step <= span+1e-9; i++ {
		v := float64(i) * step
		t := int64(v * float64(time.Second))
		out = append(out, tick{X: f1(a.x(t)), Label: strconv.FormatFloat(v, 'f', digits, 64) + "s"})
	}
	return out
}

// outcomeClass orders outcomes by how much they matter on a merged mark.
func outcomeRank(t history.Type) int {
	switch t {
	case history.OK:
		return 1
	case history.Fail:
		return 2
	}
	return 3
}

var rankClass = [...]string{"", "ok", "fail", "info"}

// rowsOf decides the timeline's rows: one per process when there are few,
// otherwise one per worker (a worker continues under process p+concurrency
// after an indeterminate op).
func rowsOf(pairs []history.Pair, concurrency int) (rowOf func(p int) int, labels []string) {
	seen := map[int]bool{}
	var procs []int
	for i := range pairs {
		p := pairs[i].Invoke.Process
		if !seen[p] {
			seen[p] = true
			procs = append(procs, p)
		}
	}
	sort.Ints(procs)
	if len(procs) <= maxRows || concurrency <= 0 {
		group := len(procs) > maxRows // no concurrency known: fold modulo maxRows
		idx := map[int]int{}
		for _, p := range procs {
			k := p
			if group {
				k = p % maxRows
			}
			if _, ok := idx[k]; !ok {
				idx[k] = len(labels)
				if group {
					labels = append(labels, fmt.Sprintf("p≡%d (mod %d)", k, maxRows))
				} else {
					labels = append(labels, "process "+strconv.Itoa(p))
				}
			}
		}
		return func(p int) int {
			if group {
				return idx[p%maxRows]
			}
			return idx[p]
		}, labels
	}
	for w := 0; w < concurrency; w++ {
		labels = append(labels, "worker "+strconv.Itoa(w))
	}
	return func(p int) int { return p % concurrency }, labels
}

// timelineChart draws one row per process (or worker), each operation from
// invocation to completion, coloured by outcome (or, with the page's toggle,
// by the node it went to); fault periods shaded behind; for a lock history,
// each hold behind its process's operations with a mark where its lease ran
// out.
func timelineChart(a axis, pairs []history.Pair, concurrency int, witnesses map[int64]bool, periods []period, anomalies []anomalyMark, nodes []string) chart {
	c := chart{ID: "timeline", Title: "Operations per process",
		Legend: []legend{{"ok", "ok"}, {"fail", "fail (did not happen)"}, {"info", "info (indeterminate)"}, {"witness", "witness of an anomaly"}}}
	if len(pairs) == 0 {
		c.Empty = "No client operations were recorded."
		c.setHeight(40)
		return c
	}
	rowOf, labels := rowsOf(pairs, concurrency)
	nodeIdx := nodeIndex(nodes, pairs)
	c.NodeLegend = nodeLegend(nodeIdx)
	// A row's label names its node when all its operations went to one.
	rowNode := make([]string, len(labels))
	mixed := make([]bool, len(labels))
	for i := range pairs {
		r, n := rowOf(pairs[i].Invoke.Process), pairs[i].Invoke.Node
		if rowNode[r] == "" {
			rowNode[r] = n
		} else if rowNode[r] != n {
			mixed[r] = true
		}
	}
	rowH := 14.0
	if len(labels) > 20 {
		rowH = 8
	}

	// Anomaly labels first: their rows decide where the plot begins.
	ms := append([]anomalyMark(nil), anomalies...)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].T < ms[j].T })
	xs := make([]float64, len(ms))
	texts := make([]string, len(ms))
	for i, am := range ms {
		xs[i], texts[i] = a.x(am.T), am.Label
	}
	boxes, labelRows := layoutLabels(xs, texts, plotX0, chartW-4)
	top := 8.0 + float64(labelRows)*labelRowH
	if labelRows > 0 {
		top += 3
	}
	height := top + rowH*float64(len(labels)) + 24
	c.setHeight(height)
	plotBottom := top + rowH*float64(len(labels))
	c.GridTop, c.GridBot = f1(top), f1(plotBottom)
	for i, l := range labels {
		if rowNode[i] != "" && !mixed[i] && !strings.HasPrefix(l, "p≡") {
			l += " · " + short(rowNode[i], 12)
			labels[i] = l
		}
		c.Labels = append(c.Labels, label{X: f1(plotX0 - 6), Y: f1(top + rowH*float64(i) + rowH*0.75), Text: l})
	}
	c.Ticks = ticks(a)
	c.Bands = shade(a, periods, top, plotBottom-top)
	y := func(row int) string { return f1(top + rowH*float64(row) + 1) }
	h := f1(rowH - 2)
	end := a.end

	// Holds of a lock, behind the operations; lease ends on top of them.
	holds, writeHold := lockHolds(pairs, end)
	var leases []mark
	drawAll := len(holds) <= maxSingleOps/2
	// A lease end is drawn in its own hold's room: before the same
	// process's next hold begins.
	room := make([]int64, len(holds))
	nextOf := map[int]int64{}
	for i := len(holds) - 1; i >= 0; i-- {
		room[i] = end
		if t, ok := nextOf[holds[i].Process]; ok {
			room[i] = t
		}
		nextOf[holds[i].Process] = holds[i].Start
	}
	for i, hd := range holds {
		past := hd.Expires > 0 && hd.Expires < hd.End
		if !drawAll && !past {
			continue
		}

		r := rowOf(hd.Process)
		lane := labels[r]
		x0, x1 := a.x(hd.Start), a.x(hd.End)
		until := hd.End
		if past {
			until = hd.Expires
		}
		xe := a.x(until)
		c.Holds = append(c.Holds, mark{X: f1(x0), Y: y(r), W: f1(math.Max(xe-x0, 0.8)), H: h, Class: "hold", Lane: lane, Kind: "hold",
			Title: fmt.Sprintf("%s held %s from %s to %s%s", lane, clean(hd.Key, 80), secs(hd.Start), secs(hd.End), leaseNote(hd))})
		if past {
			c.Holds = append(c.Holds, mark{X: f1(xe), Y: y(r), W: f1(math.Max(x1-xe, 0.8)), H: h, Class: "hold past", Lane: lane, Kind: "hold-past-lease",
				Title: fmt.Sprintf("%s still held %s after its lease ran out at %s, until %s", lane, clean(hd.Key, 80), secs(hd.Expires), secs(hd.End))})
		}
		if hd.Expires > 0 && hd.Expires <= room[i] {
			xl := a.x(hd.Expires)
			if !past && hd.Expires > hd.End {
				// Released before its lease ran out: a thin line to where it would have.
				c.Holds = append(c.Holds, mark{X: f1(x1), Y: f1(top + rowH*float64(r) + rowH/2 - 0.5), W: f1(math.Max(xl-x1, 0.8)), H: "1", Class: "hold rest", Lane: lane, Kind: "lease-rest",
					Title: fmt.Sprintf("%s released %s at %s; its lease would have run until %s", lane, clean(hd.Key, 80), secs(hd.End), secs(hd.Expires))})
			}
			leases = append(leases, mark{X: f1(xl - 1), Y: f1(top + rowH*float64(r)), W: "2", H: f1(rowH), Class: "lease", Lane: lane, Kind: "lease-expiry",
				Title: fmt.Sprintf("%s: the lease on %s granted at %s ends at %s", lane, clean(hd.Key, 80), secs(hd.Start), secs(hd.Expires))})
		}
	}
	if len(holds) > 0 {
		c.Legend = append(c.Legend, legend{"hold", "lock held"}, legend{"lease", "lease ends"}, legend{"hold past", "held past its lease"})
	}
	lateWrite := func(p *history.Pair) (int64, bool) {
		j, ok := writeHold[p.Invoke.Index]
		if !ok || holds[j].Expires == 0 || p.Invoke.Time <= holds[j].Expires {
			return 0, false
		}
		return holds[j].Expires, true
	}

	if len(pairs) <= maxSingleOps {
		for i := range pairs {
			p := &pairs[i]
			x0, x1 := a.x(p.Invoke.Time), a.x(p.End(end))
			w := math.Max(x1-x0, 0.8)
			cls := "op " + rankClass[outcomeRank(p.Outcome())] + nodeClass(nodeIdx, p.Invoke.Node)
			id := "op-" + strconv.FormatInt(p.Invoke.Index, 10)
			if witnesses[p.Invoke.Index] {
				cls += " witness"
			}
			title := opTitle(p, end)
			if exp, late := lateWrite(p); late {
				cls += " late"
				title += fmt.Sprintf(" (invoked %s after its lease ran out at %s)", dur(time.Duration(p.Invoke.Time-exp)), secs(exp))
			}
			c.Rects = append(c.Rects, mark{X: f1(x0), Y: y(rowOf(p.Invoke.Process)), W: f1(w), H: h,
				Class: cls, ID: id, Title: title})
		}
	} else {
		c.Note = fmt.Sprintf("%d operations merged per pixel column and row; a merged mark takes the colour of its most severe outcome (info over fail over ok). Witnesses are drawn one by one.", len(pairs))
		type cell struct{ n [4]int32 }
		grid := make([][]cell, len(labels))
		for i := range grid {
			grid[i] = make([]cell, columns)
		}
		col := func(t int64) int {
			k := int(float64(t) / float64(end) * columns)
			return min(max(k, 0), columns-1)
		}
		for i := range pairs {
			p := &pairs[i]
			r := rowOf(p.Invoke.Process)
			k := outcomeRank(p.Outcome())
			c0, c1 := col(p.Invoke.Time), col(p.End(end))
			for j := c0; j <= c1; j++ {
				grid[r][j].n[k]++
			}
		}
		colW := plotW / columns
		for r := range grid {
			row := grid[r]
			// A merged mark takes its row's node colour when the row
			// went to one node, and none otherwise.
			nc := " mixed"
			if !mixed[r] {
				nc = nodeClass(nodeIdx, rowNode[r])
			}
			for j := 0; j < columns; {
				worst := 0
				for k := 3; k >= 1; k-- {
					if row[j].n[k] > 0 {
						worst = k
						break
					}
				}
				if worst == 0 {
					j++
					continue
				}
				var tot [4]int32
				j0 := j
				for j < columns {
					w := 0
					for k := 3; k >= 1; k-- {
						if row[j].n[k] > 0 {
							w = k
							break
						}
					}
					if w != worst {
						break
					}
					for k := 1; k <= 3; k++ {
						tot[k] += row[j].n[k]
					}
					j++
				}
				t0 := int64(float64(j0) / columns * float64(end))
				t1 := int64(float64(j) / columns * float64(end))
				c.Rects = append(c.Rects, mark{X: f1(plotX0 + float64(j0)*colW), Y: y(r), W: f1(float64(j-j0) * colW), H: h,
					Class: "op " + rankClass[worst] + nc,
					Title: fmt.Sprintf("%s, %s–%s: %d ok, %d fail, %d info (operations spanning these columns)", labels[r], secs(t0), secs(t1), tot[1], tot[2], tot[3])})
			}
		}
		for i := range pairs {
			p := &pairs[i]
			if !witnesses[p.Invoke.Index] {
				continue
			}
			x0, x1 := a.x(p.Invoke.Time), a.x(p.End(end))
			c.Rects = append(c.Rects, mark{X: f1(x0), Y: y(rowOf(p.Invoke.Process)), W: f1(math.Max(x1-x0, 1.5)), H: h,
				Class: "op " + rankClass[outcomeRank(p.Outcome())] + nodeClass(nodeIdx, p.Invoke.Node) + " witness", ID: "op-" + strconv.FormatInt(p.Invoke.Index, 10),
				Title: opTitle(p, end)})
		}
	}
	c.Rects = append(c.Rects, leases...)
	// Every anomaly keeps its label: rows above the plot, nearest first;
	// a label moved right of its line is joined to it by a leader.
	for i, am := range ms {
		b := boxes[i]
		rowTop := top - 3 - float64(b.Row+1)*labelRowH
		m := marker{X: f1(b.X), Href: "#" + am.ID, Title: am.Title, Label: am.Label,
			LX: f1(b.X0), LY: f1(rowTop + 10.5), Top: f1(rowTop + 1), Row: strconv.Itoa(b.Row)}
		if b.X0 > b.X+labelPad+0.5 || b.X0 < b.X {
			m.Lead = true
			m.Top = f1(rowTop + labelRowH - 0.5)
		}
		c.Markers = append(c.Markers, m)
	}
	return c
}

// nodeIndex numbers the nodes for their colours: the header's nodes in
// order, then any other node the operations went to, sorted.
func nodeIndex(nodes []string, pairs []history.Pair) map[string]int {
	idx := map[string]int{}
	for _, n := range nodes {
		if _, ok := idx[n]; !ok {
			idx[n] = len(idx)
		}
	}
	var extra []string
	seen := map[string]bool{}
	for i := range pairs {
		n := pairs[i].Invoke.Node
		if _, ok := idx[n]; !ok && n != "" && !seen[n] {
			seen[n] = true
			extra = append(extra, n)
		}
	}
	sort.Strings(extra)
	for _, n := range extra {
		idx[n] = len(idx)
	}
	return idx
}

// nodeColours is how many node colours the page defines; beyond it they
// repeat (the row label and tooltip still name the node).
const nodeColours = 8

func nodeClass(idx map[string]int, node string) string {
	i, ok := idx[node]
	if !ok {
		return " nonode"
	}
	return " nd" + strconv.Itoa(i%nodeColours)
}

func nodeLegend(idx map[string]int) []legend {
	names := make([]string, len(idx))
	for n, i := range idx {
		names[i] = n
	}
	out := make([]legend, 0, len(names))
	for i, n := range names {
		out = append(out, legend{Class: "node" + strconv.Itoa(i%nodeColours), Text: short(n, 24)})
	}
	return out
}

// period is a stretch of time in which a fault was in effect.
type period struct {
	Lane  string
	Kind  string // CSS class: down, paused, partition, degraded, clock, strobe, action
	Start int64
	End   int64
	// Maybe marks a fault whose outcome is unknown (info).
	Maybe bool
	Text  string
}

// faultPeriods derives from the nemesis records when each fault was in
// effect: a kill until the node's next start, a pause until its resume, a
// partition until the heal, a clock offset until the next reset, and any
// other fault for the time its action took; links slowed or made lossy
// (the partition nemesis's slow and lossy plans, the packet nemesis) are
// degraded until the heal. A fault that failed changed
// nothing; one whose outcome is unknown is drawn as possibly in effect.
func faultPeriods(pairs []history.Pair, end int64) []period {
	var out []period
	open := map[string]int{} // lane+"\x00"+kind -> index in out
	begin := func(lane, kind string, t int64, maybe bool, text string) {
		key := lane + "\x00" + kind
		if i, ok := open[key]; ok {
			out[i].End = t
		}
		open[key] = len(out)
		out = append(out, period{Lane: lane, Kind: kind, Start: t, End: -1, Maybe: maybe, Text: text})
	}
	finish := func(lane, kind string, t int64) {
		key := lane + "\x00" + kind
		if i, ok := open[key]; ok {
			out[i].End = t
			delete(open, key)
		}
	}
	for i := range pairs {
		p := &pairs[i]
		if !p.Invoke.IsNemesis() {
			continue
		}
		o := p.Outcome()
		if o == history.Fail {
			continue
		}
		maybe := o == history.Info
		inv := &p.Invoke
		t0, t1 := inv.Time, p.End(end)
		node := inv.Node
		lane := node
		if lane == "" {
			lane = "cluster"
		}
		desc := describeFault(&p.Complete)
		if !p.Completed() {
			desc = describeFault(inv) + " (never completed)"
		}
		f := inv.F
		switch {
		case f == "kill":
			begin(lane, "down", t1, maybe, desc)
		case f == "start":
			finish(lane, "down", t1)
		case f == "restart":
			finish(lane, "down", t0)
			out = append(out, period{Lane: lane, Kind: "down", Start: t0, End: t1, Maybe: maybe, Text: desc})
		case f == "pause":
			begin(lane, "paused", t1, maybe, desc)
		case f == "resume":
			finish(lane, "paused", t1)
		case strings.HasPrefix(f, "partition") || strings.HasPrefix(f, "isolate") || strings.HasPrefix(f, "cut"):
			cut := cutLanes(completeOrInvoke(p))
			if len(cut) == 0 {
				// No grudge recorded: the whole network is the lane.
				if node == "" {
					lane = "network"
				}
				begin(lane, "partition", t1, maybe, desc)
				continue
			}
			for _, l := range sortedLanes(cut) {
				begin(l, "partition", t1, maybe, desc+"; "+cut[l])
			}
		case f == "slow" || f == "lossy" || f == "packet":
			shaped := shapedLanes(completeOrInvoke(p))
			if len(shaped) == 0 {
				out = append(out, period{Lane: lane, Kind: "action", Start: t0, End: t1, Maybe: maybe, Text: desc})
				continue
			}
			for _, l := range sortedLanes(shaped) {
				begin(l, "degraded", t1, maybe, desc+"; "+shaped[l])
			}
		case f == "client-pause":
			client, d := clientPause(completeOrInvoke(p))
			if client == "" {
				out = append(out, period{Lane: lane, Kind: "action", Start: t0, End: t1, Maybe: maybe, Text: desc})
				continue
			}
			// Recorded when the pause begins: it lasts its duration.
			out = append(out, period{Lane: client, Kind: "paused", Start: t1, End: min(t1+int64(d), end), Maybe: maybe,
				Text: fmt.Sprintf("client %s paused for %s from %s", clean(client, 40), d, secs(t1))})
		case f == "heal":
			for key, i := range open {
				if out[i].Kind == "partition" || out[i].Kind == "degraded" {
					out[i].End = t1
					delete(open, key)
				}
			}
		case strings.HasPrefix(f, "clock-"):
			off, known := clockOffset(completeOrInvoke(p))
			if f == "clock-strobe" {
				out = append(out, period{Lane: lane, Kind: "strobe", Start: t0, End: t1, Maybe: maybe, Text: desc})
			}
			if !known {
				if f != "clock-strobe" {
					out = append(out, period{Lane: lane, Kind: "action", Start: t0, End: t1, Maybe: maybe, Text: desc})
				}
				continue
			}
			if off != 0 {
				begin(lane, "clock", t1, maybe, desc)
			} else {
				finish(lane, "clock", t1)
			}
		default:
			out = append(out, period{Lane: lane, Kind: "action", Start: t0, End: t1, Maybe: maybe, Text: desc})
		}
	}
	for i := range out {
		if out[i].End < 0 {
			out[i].End = end
			out[i].Text += " (still in effect when the history ends)"
		}
	}
	return out
}

// endpointLane is the lane of a link's endpoint: the node, or "clients"
// for every client.
func endpointLane(e string) string {
	if e == nemesis.ClientsEndpoint {
		return "clients"
	}
	return e
}

// cutLanes reads a partition record's grudge and says, per lane, whom it
// could not reach or be reached by: a node's lane for a node, "c0" for one
// client, "clients" for every client.
func cutLanes(op *history.Op) map[string]string {
	v, err := nemesis.DecodePartitionValue(op)
	if err != nil || len(v.Cut) == 0 {
		return nil
	}
	out, to, from := map[string]string{}, map[string][]string{}, map[string][]string{}
	for _, l := range v.Cut {
		a, b := endpointLane(l.From), endpointLane(l.To)
		to[a] = append(to[a], b)
		from[b] = append(from[b], a)
	}
	for _, l := range sortedLanes(to) {
		out[l] = clean(l, 40) + " cannot reach " + clean(strings.Join(dedupe(to[l]), ", "), 200)
	}
	for _, l := range sortedLanes(from) {
		msg := clean(strings.Join(dedupe(from[l]), ", "), 200) + " cannot reach " + clean(l, 40)
		if out[l] != "" {
			msg = out[l] + "; " + msg
		}
		out[l] = msg
	}
	return out
}

func sortedLanes[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func dedupe(xs []string) []string {
	sort.Strings(xs)
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// shapedLanes reads a slow, lossy or packet record's shaped links and says,
// per lane, which of its links were degraded.
func shapedLanes(op *history.Op) map[string]string {
	v, err := nemesis.DecodePartitionValue(op)
	if err != nil || len(v.Shaped) == 0 {
		return nil
	}
	peers := map[string][]string{}
	for _, l := range v.Shaped {
		a, b := endpointLane(l.From), endpointLane(l.To)
		peers[a] = append(peers[a], b)
		peers[b] = append(peers[b], a)
	}
	out := map[string]string{}
	for _, l := range sortedLanes(peers) {
		out[l] = "links of " + clean(l, 40) + " with " + clean(strings.Join(dedupe(peers[l]), ", "), 200) + " degraded"
	}
	return out
}

// clientPause reads a client-pause record: which client, for how long.
func clientPause(op *history.Op) (string, time.Duration) {
	var v struct {
		Client   string `json:"client"`
		Duration string `json:"duration"`
		Pause    string `json:"pause"`
	}
	if op.DecodeValue(&v) != nil || v.Client == "" {
		return "", 0
	}
	d, err := time.ParseDuration(v.Duration)
	if err != nil {
		d, _ = time.ParseDuration(v.Pause)
	}
	return v.Client, max(d, 0)
}

// shade draws fault periods as translucent bands over a plot.
func shade(a axis, periods []period, y, h float64) []band {
	var out []band
	type span struct {
		kind       string
		start, end int64
	}
	seen := map[span]bool{}
	for _, p := range periods {
		// One partition is drawn on every lane it cut, but shaded once.
		if p.Kind == "action" || seen[span{p.Kind, p.Start, p.End}] {
			continue
		}
		seen[span{p.Kind, p.Start, p.End}] = true
		x0, x1 := a.x(p.Start), a.x(p.End)
		cls := "shade s-" + p.Kind
		out = append(out, band{X: f1(x0), W: f1(math.Max(x1-x0, 0.8)), Y: f1(y), H: f1(h), Class: cls, Title: p.Text})
	}
	return out
}

// faultChart draws one lane per node (and the network) with the fault
// periods, so the timeline's shading can be read by node.
func faultChart(a axis, nodes []string, periods []period) chart {
	c := chart{ID: "faults", Title: "Faults per node",
		Legend: []legend{{"down", "down (killed)"}, {"paused", "paused"}, {"partition", "partitioned"}, {"degraded", "links degraded (slow, lossy)"}, {"clock", "clock offset"}, {"strobe", "clock strobe"}, {"action", "other fault action"}}}
	if len(periods) == 0 {
		c.Empty = "No faults were injected."
		c.setHeight(40)
		return c
	}
	lanes := append([]string(nil), nodes...)
	seen := map[string]bool{}
	for _, n := range lanes {
		seen[n] = true
	}
	for _, p := range periods {
		if !seen[p.Lane] {
			seen[p.Lane] = true
			lanes = append(lanes, p.Lane)
		}
	}
	idx := map[string]int{}
	for i, l := range lanes {
		idx[l] = i
	}
	laneH, top := 16.0, 8.0
	bottom := top + laneH*float64(len(lanes))
	c.setHeight(bottom + 24)
	c.GridTop, c.GridBot = f1(top), f1(bottom)
	c.Ticks = ticks(a)
	for i, l := range lanes {
		c.Labels = append(c.Labels, label{X: f1(plotX0 - 6), Y: f1(top + laneH*float64(i) + laneH*0.7), Text: short(l, 16)})
	}
	// Lower kinds first so short actions stay visible on top.
	order := map[string]int{"clock": 0, "partition": 1, "paused": 2, "down": 3, "strobe": 4, "action": 5}
	ps := append([]period(nil), periods...)
	sort.SliceStable(ps, func(i, j int) bool { return order[ps[i].Kind] < order[ps[j].Kind] })
	for _, p := range ps {
		x0, x1 := a.x(p.Start), a.x(p.End)
		sub := map[string]float64{"clock": 0, "partition": 0, "paused": 0, "down": 0, "strobe": 0.25, "action": 0.25}[p.Kind]
		cls := p.Kind
		if p.Maybe {
			cls += " maybe"
		}
		c.Rects = append(c.Rects, mark{X: f1(x0), Y: f1(top + laneH*float64(idx[p.Lane]) + 2 + sub*laneH),
			W: f1(math.Max(x1-x0, 1.5)), H: f1((laneH - 4) * (1 - 2*sub)), Class: cls, Title: p.Text, Lane: p.Lane, Kind: p.Kind})
	}
	return c
}

// clockChart plots each node's clock offset from host time, as recorded by
// the clock nemesis.
func clockChart(a axis, nodes []string, pairs []history.Pair) (chart, bool) {
	c := chart{ID: "clocks", Title: "Clock offset per node (from host time)"}
	type step struct {
		t   int64
		off int64
	}
	series := map[string][]step{}
	type strobeRec struct {
		t0, t1, lo, hi int64
		title, node    string
	}
	var strobes []strobeRec
	var maybes []strobeRec
	var maxAbs int64 = 1
	any := false
	for i := range pairs {
		p := &pairs[i]
		if !p.Invoke.IsNemesis() || !strings.HasPrefix(p.Invoke.F, "clock-") || p.Outcome() == history.Fail {
			continue
		}
		off, known := clockOffset(completeOrInvoke(p))
		if !known {
			continue
		}
		v, _ := nemesis.DecodeClockValue(completeOrInvoke(p))
		any = true
		n := p.Invoke.Node
		t := p.End(a.end)
		if p.Outcome() != history.OK {
			// A fault of unknown outcome may not have moved the clock: it
			// is marked, never drawn as the node's offset.
			maybes = append(maybes, strobeRec{t0: p.Invoke.Time, t1: t, lo: min(0, off), hi: max(0, off),
				title: describeFault(completeOrInvoke(p)) + " (outcome unknown: the clock may not have moved)", node: n})
			maxAbs = max(maxAbs, abs64(off))
			continue
		}
		series[n] = append(series[n], step{t, off})
		maxAbs = max(maxAbs, abs64(off), v.MaxOffsetNS)
		if p.Invoke.F == "clock-strobe" {
			delta, _ := time.ParseDuration(v.Delta)
			lo, hi := off, off+int64(delta)
			strobes = append(strobes, strobeRec{t0: p.Invoke.Time, t1: t, lo: min(lo, hi), hi: max(lo, hi),
				title: describeFault(completeOrInvoke(p)), node: n})
			maxAbs = max(maxAbs, abs64(hi))
		}
	}
	if !any {
		return c, false
	}
	top, ph := 8.0, 110.0
	c.setHeight(top + ph + 24)
	c.GridTop, c.GridBot = f1(top), f1(top+ph)
	c.Ticks = ticks(a)
	yOf := func(off int64) float64 { return top + ph/2 - float64(off)/float64(maxAbs)*(ph/2-4) }
	for _, v := range []int64{maxAbs, 0, -maxAbs} {
		c.YLabels = append(c.YLabels, label{X: f1(plotX0 - 6), Y: f1(yOf(v) + 3), Text: signedDur(time.Duration(v))})
	}
	lanes := append([]string(nil), nodes...)
	for n := range series {
		found := false
		for _, m := range lanes {
			found = found || m == n
		}
		if !found {
			lanes = append(lanes, n)
		}
	}
	sort.Strings(lanes[len(nodes):])
	colour := map[string]string{}
	for i, n := range lanes {
		colour[n] = "node" + strconv.Itoa(i%8)
	}
	for i, n := range lanes {
		cls := "node" + strconv.Itoa(i%8)
		c.Legend = append(c.Legend, legend{Class: cls, Text: short(n, 24)})
		var pts []string
		cur := int64(0)
		pts = append(pts, f1(a.x(0))+","+f1(yOf(0)))
		for _, s := range series[n] {
			pts = append(pts, f1(a.x(s.t))+","+f1(yOf(cur)), f1(a.x(s.t))+","+f1(yOf(s.off)))
			cur = s.off
		}
		pts = append(pts, f1(a.x(a.end))+","+f1(yOf(cur)))
		c.Lines = append(c.Lines, line{Points: strings.Join(pts, " "), Class: "step " + cls, Title: "node " + clean(n, 40)})
	}
	for _, s := range strobes {
		x0, x1 := a.x(s.t0), a.x(s.t1)
		y0, y1 := yOf(s.hi), yOf(s.lo)
		// The strobe takes the colour of the node it hit.
		c.Rects = append(c.Rects, mark{X: f1(x0), Y: f1(y0), W: f1(math.Max(x1-x0, 1)), H: f1(math.Max(y1-y0, 2)),
			Class: "strobe " + colour[s.node], Title: s.title, Lane: s.node, Kind: "strobe"})
	}
	for _, s := range maybes {
		x0, x1 := a.x(s.t0), a.x(s.t1)
		y0, y1 := yOf(s.hi), yOf(s.lo)
		c.Rects = append(c.Rects, mark{X: f1(x0), Y: f1(y0), W: f1(math.Max(x1-x0, 1.5)), H: f1(math.Max(y1-y0, 2)),
			Class: "clock maybe", Title: s.title, Lane: s.node, Kind: "clock"})
	}
	return c, true
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func signedDur(d time.Duration) string {
	if d > 0 {
		return "+" + d.String()
	}
	return d.String()
}

// latencyChart plots each operation's latency (log scale) at its invocation
// time. Large histories are merged per 2×2 unit cell and outcome.
func latencyChart(a axis, pairs []history.Pair, periods []period, witnesses map[int64]bool) chart {
	c := chart{ID: "latency", Title: "Latency (log scale) by invocation time",
		Legend: []legend{{"ok", "ok"}, {"fail", "fail"}, {"info", "info (until completion or end)"}}}
	if len(pairs) == 0 {
		c.Empty = "No client operations were recorded."
		c.setHeight(40)
		return c
	}
	top, ph := 8.0, 150.0
	c.setHeight(top + ph + 24)
	c.GridTop, c.GridBot = f1(top), f1(top+ph)
	c.Ticks = ticks(a)
	c.Bands = shade(a, periods, top, ph)
	lo, hi := math.Inf(1), math.Inf(-1)
	lat := make([]float64, len(pairs))
	for i := range pairs {
		l := float64(max(pairs[i].End(a.end)-pairs[i].Invoke.Time, 1000)) // at least 1µs
		lat[i] = l
		lo, hi = math.Min(lo, l), math.Max(hi, l)
	}
	llo, lhi := math.Log10(lo), math.Log10(hi)
	if lhi-llo < 1 {
		llo, lhi = math.Floor(llo), math.Floor(llo)+1
	}
	yOf := func(l float64) float64 { return top + ph - (math.Log10(l)-llo)/(lhi-llo)*(ph-4) - 2 }
	for _, v := range logTicks(llo, lhi) {
		yv := yOf(v)
		c.YLabels = append(c.YLabels, label{X: f1(plotX0 - 6), Y: f1(yv + 3), Text: tickDur(time.Duration(v))})
		c.YTicks = append(c.YTicks, f1(yv))
	}
	single := len(pairs) <= maxSingleDots
	if !single {
		c.Note = fmt.Sprintf("%d operations; points that fall in the same 2×2 cell with the same outcome are drawn once.", len(pairs))
	}
	seen := map[[3]int]bool{}
	for i := range pairs {
		p := &pairs[i]
		x, y := a.x(p.Invoke.Time), yOf(lat[i])
		k := outcomeRank(p.Outcome())
		w := witnesses[p.Invoke.Index]
		if !single && !w {
			key := [3]int{int(x / 2), int(y / 2), k}
			if seen[key] {
				continue
			}
			seen[key] = true
		}
		cls := "dot " + rankClass[k]
		m := mark{X: f1(x - 1), Y: f1(y - 1), W: "2", H: "2", Class: cls}
		if w {
			m.Class += " witness"
			m.Href = "#op-" + strconv.FormatInt(p.Invoke.Index, 10)
			m.Title = opTitle(p, a.end)
		}
		c.Rects = append(c.Rects, m)
	}
	return c
}

// throughputChart plots completions per second by outcome.
func throughputChart(a axis, pairs []history.Pair, periods []period) chart {
	c := chart{ID: "throughput", Title: "Throughput (completions per second)",
		Legend: []legend{{"ok", "ok"}, {"fail", "fail"}, {"info", "info"}}}
	if len(pairs) == 0 {
		c.Empty = "No client operations were recorded."
		c.setHeight(40)
		return c
	}
	const buckets = 110
	top, ph := 8.0, 110.0
	c.setHeight(top + ph + 24)
	c.GridTop, c.GridBot = f1(top), f1(top+ph)
	c.Ticks = ticks(a)
	c.Bands = shade(a, periods, top, ph)
	var n [4][buckets]float64
	for i := range pairs {
		p := &pairs[i]
		t := p.End(a.end)
		b := min(int(float64(t)/float64(a.end)*buckets), buckets-1)
		n[outcomeRank(p.Outcome())][max(b, 0)]++
	}
	width := time.Duration(a.end).Seconds() / buckets
	peak := 1.0
	for k := 1; k <= 3; k++ {
		for b := range n[k] {
			n[k][b] /= width
			peak = math.Max(peak, n[k][b])
		}
	}
	yOf := func(v float64) float64 { return top + ph - v/peak*(ph-4) }
	for _, v := range linTicks(peak) {
		txt := strconv.FormatFloat(v, 'f', -1, 64) + "/s"
		if v == 0 {
			txt = "0"
		}
		c.YLabels = append(c.YLabels, label{X: f1(plotX0 - 6), Y: f1(yOf(v) + 3), Text: txt})
		c.YTicks = append(c.YTicks, f1(yOf(v)))
	}
	for k := 1; k <= 3; k++ {
		pts := make([]string, 0, buckets)
		for b := 0; b < buckets; b++ {
			t := int64((float64(b) + 0.5) / buckets * float64(a.end))
			pts = append(pts, f1(a.x(t))+","+f1(yOf(n[k][b])))
		}
		c.Lines = append(c.Lines, line{Points: strings.Join(pts, " "), Class: "rate " + rankClass[k], Title: rankClass[k] + " per second"})
	}
	return c
}

// completeOrInvoke is the record that says what a fault did: its completion,
// or its invocation when it never completed.
func completeOrInvoke(p *history.Pair) *history.Op {
	if p.Completed() {
		return &p.Complete
	}
	return &p.Invoke
}

// logTicks picks round latencies (in ns) between 10^llo and 10^lhi for a
// log axis: 1, 2 and 5 times each power of ten over a few decades, fewer
// multiples as the span grows, so the axis always reads in round numbers.
func logTicks(llo, lhi float64) []float64 {
	span := lhi - llo
	mults := []float64{1, 2, 5}
	step := 1.0 // decades between labelled powers of ten
	switch {
	case span > 8:
		mults, step = []float64{1}, 2
	case span > 4:
		mults = []float64{1}
	case span > 2.5:
		mults = []float64{1, 3}
	}
	var out []float64
	for e := math.Floor(llo); e <= math.Ceil(lhi); e += step {
		for _, m := range mults {
			v := m * math.Pow(10, e)
			if l := math.Log10(v); l >= llo-1e-9 && l <= lhi+1e-9 {
				out = append(out, v)
			}
		}
	}
	return out
}

// tickDur renders a round latency with its unit: 500µs, 2ms, 1.5s, 20s.
func tickDur(d time.Duration) string {
	unit, div := "ns", 1.0
	switch {
	case d >= time.Second:
		unit, div = "s", float64(time.Second)
	case d >= time.Millisecond:
		unit, div = "ms", float64(time.Millisecond)
	case d >= time.Microsecond:
		unit, div = "µs", float64(time.Microsecond)
	}
	return strconv.FormatFloat(float64(d)/div, 'g', 3, 64) + unit
}

// linTicks picks about five round values from 0 to peak.
func linTicks(peak float64) []float64 {
	if peak <= 0 {
		return []float64{0}
	}
	raw := peak / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := 0.0; v <= peak+1e-9; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

func leaseNote(hd hold) string {
	if hd.Expires == 0 {
		return " (the lock reported no lease)"
	}
	return "; its lease ran until " + secs(hd.Expires)
}
