package linearizable

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// maxWitnessOps bounds how many operations one witness lists.
const maxWitnessOps = 12

// Witness is the Data of a non-linearizable partition's anomaly.
type Witness struct {
	Key string `json:"key"`
	// Linearized is how many of the partition's Operations porcupine could
	// put in a valid order at best; State is the model's state after them.
	Linearized int    `json:"linearized"`
	Operations int    `json:"operations"`
	State      string `json:"state,omitempty"`
	// Last is the last operation of that longest valid order.
	Last string `json:"last,omitempty"`
	// Stuck is the operation that cannot come next, Competing the other
	// operations still open at that point that could not come next either.
	Stuck     string   `json:"stuck,omitempty"`
	Competing []string `json:"competing,omitempty"`
	// Visualization is porcupine's HTML for this partition, or a window of
	// it; VisualizationNote says which, or why there is none.
	Visualization     string `json:"visualization,omitempty"`
	VisualizationNote string `json:"visualization_note,omitempty"`
}

// explain builds the anomaly for an illegal partition: porcupine's verbose
// pass gave the longest partial linearizations, from which the stuck
// operation and its competitors are read, and the visualization is written.
func (c *Checker) explain(ctx context.Context, h *history.File, p *partition, faults *history.FaultIndex) (checkers.Anomaly, string) {
	w := Witness{Key: p.key, Operations: len(p.ops)}
	a := checkers.Anomaly{Kind: "nonlinearizable", Data: &w}
	keyDesc := "the history"
	if p.key != "" {
		keyDesc = fmt.Sprintf("key %q", p.key)
	}
	a.Message = fmt.Sprintf("%s: no order of its %d operations is consistent with the %s model and real time",
		keyDesc, len(p.ops), c.model.Name)
	if p.rm != nil {
		a = c.explainReadMap(ctx, h, p, faults, a, &w, keyDesc)
		return a, w.Visualization
	}
	if p.info == nil {
		return a, ""
	}
	info := *p.info
	longest := longestPartial(info)
	in := make([]bool, len(p.ops))
	for _, id := range longest {
		in[id] = true
	}
	stuck := -1
	for i, op := range p.ops {
		if in[i] {
			continue
		}
		if stuck < 0 || op.Return < p.ops[stuck].Return || op.Return == p.ops[stuck].Return && op.Call < p.ops[stuck].Call {
			stuck = i
		}
	}
	if stuck < 0 {
		return a, ""
	}
	pm := c.model.Porcupine
	state := pm.Init()
	for _, id := range longest {
		_, state = pm.Step(state, p.ops[id].Input, p.ops[id].Output)
	}
	w.Linearized = len(longest)
	w.State = describeState(pm, state)
	lines := h.Header.Params[TimeUnitParam] == "line"
	describe := func(i int) string {
		return fmt.Sprintf("%s [%s]", describeOp(pm, p.ops[i]), recordDesc(p.pairs[i], lines))
	}
	w.Stuck = describe(stuck)
	if len(longest) > 0 {
		w.Last = describe(longest[len(longest)-1])
	}
	// The competitors: operations not linearized and already invoked when
	// the stuck one returned; completed ones first, they say the most.
	var comp []int
	for i, op := range p.ops {
		if !in[i] && i != stuck && op.Call <= p.ops[stuck].Return {
			comp = append(comp, i)
		}
	}
	sort.SliceStable(comp, func(x, y int) bool {
		cx, cy := p.pairs[comp[x]].Outcome() == history.OK, p.pairs[comp[y]].Outcome() == history.OK
		if cx != cy {
			return cx
		}
		return p.ops[comp[x]].Call < p.ops[comp[y]].Call
	})
	if len(comp) > maxWitnessOps-2 {
		comp = comp[:maxWitnessOps-2]
	}
	for _, i := range comp {
		w.Competing = append(w.Competing, describe(i))
	}

	a.Message = fmt.Sprintf("%s: at most %d of %d operations fit one order that respects real time and the %s model (state after them: %s); then %s cannot take effect",
		keyDesc, len(longest), len(p.ops), c.model.Name, w.State, w.Stuck)
	if len(comp) > 0 {
		a.Message += fmt.Sprintf(", nor can any of the %d other operations open at that time", len(comp))
	}
	if w.Last != "" {
		a.Message += "; last operation in that order: " + w.Last
	}
	ids := append([]int{stuck}, comp...)
	if len(longest) > 0 {
		ids = append(ids, longest[len(longest)-1])
	}
	p.cite(&a, ids, faults)

	if path := c.vizPath(h, p.key); path != "" {
		w.Visualization, w.VisualizationNote = c.visualize(ctx, path, p, info, stuck)
	}
	return a, w.Visualization
}

// TimeUnitParam is the header parameter an importer sets to "line" when a
// record's time is only its line number in the source file.
const TimeUnitParam = "time-unit"

// cite puts the operations ids of p into a as the witness's records (each
// one's completion, or its invocation when it never completed), with their
// processes and nodes, sorted, and the last fault before the point of
// failure: the first operation's completion, or its invocation when it
// never completed.
func (p *partition) cite(a *checkers.Anomaly, ids []int, faults *history.FaultIndex) {
	procs := map[int]bool{}
	nodes := map[string]bool{}
	for _, i := range ids {
		pr := p.pairs[i]
		rec := pr.Invoke
		if pr.Completed() {
			rec = pr.Complete
		}
		a.Ops = append(a.Ops, rec)
		procs[rec.Process] = true
		if rec.Node != "" {
			nodes[rec.Node] = true
		}
	}
	for pr := range procs {
		a.Processes = append(a.Processes, pr)
	}
	sort.Ints(a.Processes)
	for n := range nodes {
		a.Nodes = append(a.Nodes, n)
	}
	sort.Strings(a.Nodes)
	if len(ids) > 0 {
		first := p.pairs[ids[0]]
		at := first.Invoke.Time
		if first.Completed() {
			at = first.Complete.Time
		}
		a.Fault = faults.Before(at, first.Invoke.Node)
	}
}

func recordDesc(p *history.Pair, lines bool) string {
	s := fmt.Sprintf("record #%d, process %d", p.Invoke.Index, p.Invoke.Process)
	if p.Invoke.Node != "" {
		s += ", node " + p.Invoke.Node
	}
	if lines {
		s += fmt.Sprintf(", line %d", p.Invoke.Time)
		if p.Completed() && p.Complete.Type == history.OK {
			return s + fmt.Sprintf(", ok on line %d", p.Complete.Time)
		}
		return s + ", indeterminate"
	}
	s += fmt.Sprintf(", invoked %.3fs", time.Duration(p.Invoke.Time).Seconds())
	if p.Completed() && p.Complete.Type == history.OK {
		s += fmt.Sprintf(", ok %.3fs", time.Duration(p.Complete.Time).Seconds())
	} else {
		s += ", indeterminate"
	}
	return s
}

func describeOp(m porcupine.Model, op porcupine.Operation) string {
	if m.DescribeOperation == nil {
		return fmt.Sprintf("%v -> %v", op.Input, op.Output)
	}
	return m.DescribeOperation(op.Input, op.Output)
}

func describeState(m porcupine.Model, s any) string {
	if m.DescribeState == nil {
		return fmt.Sprint(s)
	}
	return m.DescribeState(s)
}

// longestPartial is the longest partial linearization of the one partition
// in info (ties broken by content, so the witness is deterministic).
func longestPartial(info porcupine.LinearizationInfo) []int {
	var best []int
	for _, part := range info.PartialLinearizations() {
		for _, l := range part {
			if len(l) > len(best) || len(l) == len(best) && lessInts(l, best) {
				best = l
			}
		}
	}
	return best
}

func lessInts(a, b []int) bool {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

// Rough sizes of porcupine's visualization: the fixed page, each history
// element, and each step of each partial linearization.
const (
	vizFixedBytes = 40 << 10
	vizOpBytes    = 160
	vizStepBytes  = 24
)

func estimateViz(info porcupine.LinearizationInfo, ops int) int64 {
	n := int64(vizFixedBytes + ops*vizOpBytes)
	for _, part := range info.PartialLinearizations() {
		for _, l := range part {
			n += int64(len(l) * vizStepBytes)
		}
	}
	return n
}

// visualize writes porcupine's HTML for the partition when it fits under the
// cap, and otherwise a window around the failure: the operations invoked
// before the stuck one returned, trimmed from the left until the drawing
// fits, and starting from a state that stands for any state. It returns the
// file written ("" for none) and a note for the user.
func (c *Checker) visualize(ctx context.Context, path string, p *partition, info porcupine.LinearizationInfo, stuck int) (string, string) {
	pm := c.model.Porcupine
	est := estimateViz(info, len(p.ops))
	if est <= 2*c.vizBytes {
		var buf bytes.Buffer
		if err := porcupine.Visualize(pm, info, &buf); err == nil && int64(buf.Len()) <= c.vizBytes {
			if err := writeFileAtomic(path, buf.Bytes()); err != nil {
				return "", "visualization not written: " + err.Error()
			}
			return path, "the whole partition"
		}
	}
	if c.model.AnyState == nil {
		return "", fmt.Sprintf("no visualization: it would take about %s, over the cap of %s, and the %s model cannot start a window from an unknown state",
			size(est), size(c.vizBytes), c.model.Name)
	}
	// The window: operations invoked no later than the stuck one returned,
	// the latest of them first.
	var prefix []int
	for i, op := range p.ops {
		if op.Call <= p.ops[stuck].Return {
			prefix = append(prefix, i)
		}
	}
	sort.SliceStable(prefix, func(x, y int) bool { return p.ops[prefix[x]].Call < p.ops[prefix[y]].Call })
	perOp := max(est/int64(len(p.ops)), vizOpBytes)
	k := len(prefix)
	for k > 1 && int64(vizFixedBytes)+int64(k)*perOp > c.vizBytes {
		k /= 2
	}
	for ; k >= 1; k /= 2 {
		win := prefix[len(prefix)-k:]
		ops := make([]porcupine.Operation, len(win))
		for j, i := range win {
			ops[j] = p.ops[i]
		}
		m := pm
		anyState := c.model.AnyState
		m.Init = func() any { return anyState }
		bm, stop := c.boundedModel(ctx, m)
		res, winfo := porcupine.CheckOperationsVerbose(bm, ops, remaining(ctx))
		if stop() {
			return "", "no visualization: the check ran out of time"
		}
		if res != porcupine.Illegal {
			continue
		}
		first, last := p.pairs[win[0]].Invoke.Index, p.pairs[win[len(win)-1]].Invoke.Index
		note := fmt.Sprintf("window of %d of %d operations (records #%d to #%d, the latest invoked before the stuck one returned), starting from any state: the whole partition would take about %s, over the cap of %s",
			k, len(p.ops), first, last, size(est), size(c.vizBytes))
		winfo.AddAnnotations([]porcupine.Annotation{{Tag: "note", Start: ops[0].Call, Description: "window",
			Details: note}})
		var buf bytes.Buffer
		if err := porcupine.Visualize(m, winfo, &buf); err != nil || int64(buf.Len()) > c.vizBytes {
			continue
		}
		if err := writeFileAtomic(path, buf.Bytes()); err != nil {
			return "", "visualization not written: " + err.Error()
		}
		return path, note
	}
	return "", fmt.Sprintf("no visualization: the partition would take about %s, over the cap of %s, and no window under the cap shows the failure on its own",
		size(est), size(c.vizBytes))
}

func size(n int64) string {
	if n >= 10<<20 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KB", (n+1023)>>10)
}

// explainReadMap turns the read-mapping check's proof into the anomaly: the
// reason in words and the operations it rests on, each with its record.
func (c *Checker) explainReadMap(ctx context.Context, h *history.File, p *partition, faults *history.FaultIndex, a checkers.Anomaly, w *Witness, keyDesc string) checkers.Anomaly {
	pm := c.model.Porcupine
	lines := h.Header.Params[TimeUnitParam] == "line"
	var ids []int
	seen := map[int]bool{}
	for _, i := range p.rm.ops {
		if i >= 0 && i < len(p.ops) && !seen[i] && len(ids) < maxWitnessOps {
			seen[i] = true
			ids = append(ids, i)
		}
	}
	var descs []string
	for _, i := range ids {
		descs = append(descs, fmt.Sprintf("%s [%s]", describeOp(pm, p.ops[i]), recordDesc(p.pairs[i], lines)))
	}
	if len(descs) > 0 {
		w.Stuck = descs[0]
		w.Competing = descs[1:]
	}
	if len(descs) > 0 {
		a.Message = fmt.Sprintf("%s: %s cannot take effect: %s", keyDesc, descs[0], p.rm.reason)
		if len(descs) > 1 {
			a.Message += "; the other operations this rests on: " + strings.Join(descs[1:], "; ")
		}
	} else {
		a.Message = fmt.Sprintf("%s: %s", keyDesc, p.rm.reason)
	}
	p.cite(&a, ids, faults)
	if path := c.vizPath(h, p.key); path != "" {
		w.Visualization, w.VisualizationNote = c.visualizeReadMap(ctx, path, p, ids)
	}
	return a
}

// maxReadMapWindow bounds the operations drawn around a read-mapping
// witness.
const maxReadMapWindow = 200

// visualizeReadMap draws the witness operations and the operations open
// while they were, as porcupine sees them from the initial state: the
// read-mapping proof is local to the witness, so the window fails on its
// own. The window is bounded in operations, and the file by the cap.
func (c *Checker) visualizeReadMap(ctx context.Context, path string, p *partition, ids []int) (string, string) {
	if len(ids) == 0 {
		return "", ""
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	in := map[int]bool{}
	for _, i := range ids {
		lo, hi = min(lo, p.ops[i].Call), max(hi, min(p.ops[i].Return, p.ops[i].Call+1<<20))
		in[i] = true
	}
	win := slices.Clone(ids)
	for i, op := range p.ops {
		if len(win) >= maxReadMapWindow {
			break
		}
		if !in[i] && op.Call <= hi && op.Return >= lo {
			win = append(win, i)
		}
	}
	sort.Ints(win)
	for k := len(win); k >= len(ids); k = max(len(ids), k/2) {
		var sel []int
		for _, i := range win {
			if in[i] || len(sel) < k {
				sel = append(sel, i)
			}
		}
		ops := make([]porcupine.Operation, len(sel))
		for j, i := range sel {
			ops[j] = p.ops[i]
		}
		bm, stop := c.boundedModel(ctx, c.model.Porcupine)
		res, info := porcupine.CheckOperationsVerbose(bm, ops, remaining(ctx))
		if stop() {
			return "", "no visualization: the check ran out of time"
		}
		if res == porcupine.Illegal {
			var buf bytes.Buffer
			if err := porcupine.Visualize(c.model.Porcupine, info, &buf); err == nil && int64(buf.Len()) <= c.vizBytes {
				if err := writeFileAtomic(path, buf.Bytes()); err != nil {
					return "", "visualization not written: " + err.Error()
				}
				if len(sel) == len(p.ops) {
					return path, "the whole partition"
				}
				return path, fmt.Sprintf("window of %d of %d operations: the witness and the operations open around it, from the initial state", len(sel), len(p.ops))
			}
		}
		if k == len(ids) {
			break
		}
	}
	return "", "no visualization: no window under the cap shows the failure on its own"
}
