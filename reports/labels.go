package reports

import (
	"math"
	"sort"
)

// Anomaly labels sit in rows above the timeline. Each label is a short text
// ("A12") next to its marker line; when it would overlap a label already
// placed, it goes one row up, and once maxLabelRows rows are taken it is
// moved right along the least crowded row, joined to its line by a leader.
// No label is ever dropped and no two overlap.
const (
	labelRowH    = 14.0
	labelGap     = 3.0
	maxLabelRows = 5
	// labelCharW over-estimates the width of one character of a marker
	// label (bold 10px sans-serif: "A" and digits are 6–7 px wide), so the
	// boxes computed here contain what the browser draws.
	labelCharW = 7.0
	labelPad   = 2.0
)

// labelBox is where one anomaly's label goes: its text starts at X0 and
// ends before X1, on row Row (0 is the row nearest the plot).
type labelBox struct {
	X      float64 // the marker's x
	X0, X1 float64
	Row    int
}

func labelWidth(text string) float64 { return float64(len([]rune(text)))*labelCharW + labelPad }

// layoutLabels places one label per marker at xs[i] with texts[i] inside
// [left, right]. It returns the boxes, in the order given, and the number of
// rows used. Labels are placed from left to right: in the lowest row where
// the label fits beside its line; else, while rows are left, in a new row;
// else at the free place nearest its line in any row; else in a new row.
func layoutLabels(xs []float64, texts []string, left, right float64) ([]labelBox, int) {
	out := make([]labelBox, len(xs))
	order := make([]int, len(xs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return xs[order[a]] < xs[order[b]] })
	type span struct{ x0, x1 float64 }
	var rows [][]span
	free := func(r int, x0, w float64) bool {
		if x0 < left-1e-9 || x0+w > right+1e-9 {
			return false
		}
		for _, s := range rows[r] {
			if x0 < s.x1+labelGap && s.x0 < x0+w+labelGap {
				return false
			}
		}
		return true
	}
	for _, i := range order {
		w := labelWidth(texts[i])
		want := math.Max(left, math.Min(xs[i]+labelPad, right-w))
		row, x0 := -1, want
		for r := range rows {
			if free(r, want, w) {
				row = r
				break
			}
		}
		if row < 0 && len(rows) >= maxLabelRows {
			best := math.Inf(1)
			for r := range rows {
				for _, s := range rows[r] {
					for _, c := range []float64{s.x1 + labelGap, s.x0 - labelGap - w} {
						if d := math.Abs(c - want); d < best && free(r, c, w) {
							best, row, x0 = d, r, c
						}
					}
				}
			}
		}
		if row < 0 {
			row, x0 = len(rows), want
			rows = append(rows, nil)
		}
		out[i] = labelBox{X: xs[i], X0: x0, X1: x0 + w, Row: row}
		rows[row] = append(rows[row], span{x0, x0 + w})
	}
	return out, len(rows)
}
