package reports

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/nemesis"
)

// clean makes a history string fit for display: invalid UTF-8 becomes U+FFFD
// (browsers and XML parsers reject or garble it otherwise) and anything past
// max runes is cut with a note of the full length, so one huge value cannot
// swell the report. Escaping is left to the templates.
func clean(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if max <= 0 || len(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i] + fmt.Sprintf("… (%d bytes in all)", len(s))
		}
		n++
	}
	return s
}

// short cuts s to max runes with an ellipsis, for labels in plots.
func short(s string, max int) string {
	s = clean(s, 0)
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// Display limits for history values.
const (
	maxTitle = 160  // tooltips on the timeline
	maxCell  = 2000 // witness tables
)

// secs renders a history time as seconds since the run started.
func secs(t int64) string {
	return strconv.FormatFloat(time.Duration(t).Seconds(), 'f', 3, 64) + " s"
}

// dur renders a duration compactly: 850µs, 12.3ms, 1.25s.
func dur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
}

func processName(p int) string {
	if p == history.NemesisProcess {
		return "nemesis"
	}
	return strconv.Itoa(p)
}

// describeFault says what a nemesis record did, in words.
func describeFault(op *history.Op) string {
	node := clean(op.Node, 80)
	at := " at " + secs(op.Time)
	var s string
	switch {
	case strings.HasPrefix(op.F, "clock-"):
		v, err := nemesis.DecodeClockValue(op)
		off, known := clockOffset(op)
		offText := signedDur(time.Duration(off))
		switch {
		case err != nil && !known:
			s = fmt.Sprintf("%s on node %s", clean(op.F, 80), node)
		case op.F == "clock-bump":
			s = fmt.Sprintf("node %s's clock jumped forward %s (now %s from host time)", node, clean(v.Delta, 40), offText)
		case op.F == "clock-rollback":
			s = fmt.Sprintf("node %s's clock was rolled back %s (now %s from host time)", node, strings.TrimPrefix(clean(v.Delta, 40), "-"), offText)
		case op.F == "clock-strobe":
			s = fmt.Sprintf("node %s's clock strobed by %s every %s for %s (ending %s from host time)", node, clean(v.Delta, 40), clean(v.Period, 40), clean(v.Duration, 40), offText)
		case op.F == "clock-reset" || off == 0:
			s = fmt.Sprintf("node %s's clock was reset to host time", node)
		default:
			s = fmt.Sprintf("node %s's clock jumped to %s from host time (%s)", node, offText, clean(op.F, 40))
		}
	case strings.HasPrefix(op.F, "partition") && len(op.Value) > 0:
		var v struct {
			Topology string `json:"topology"`
			Cut      []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"cut"`
		}
		s = "the network was partitioned"
		if op.DecodeValue(&v) == nil {
			if v.Topology != "" {
				s += " (" + clean(v.Topology, 40) + ")"
			}
			if len(v.Cut) > 0 {
				var links []string
				for i, l := range v.Cut {
					if i == 8 {
						links = append(links, fmt.Sprintf("and %d more", len(v.Cut)-8))
						break
					}
					links = append(links, clean(l.From, 20)+"↛"+clean(l.To, 20))
				}
				s += ": " + strings.Join(links, ", ")
			}
		}
		if node != "" {
			s += " around node " + node
		}
	default:
		s = describeProcessFault(op, node)
	}
	s += at
	switch op.Type {
	case history.Info:
		s += " (outcome unknown"
		if op.Error != "" {
			s += ": " + clean(op.Error, 200)
		}
		s += ")"
	case history.Fail:
		s += " (it failed"
		if op.Error != "" {
			s += ": " + clean(op.Error, 200)
		}
		s += ")"
	}
	return s
}

// describeProcessFault words the faults that act on processes, and any
// other fault by its name and value.
func describeProcessFault(op *history.Op, node string) string {
	switch op.F {
	case "kill":
		return fmt.Sprintf("node %s was killed (SIGKILL)", node)
	case "start":
		return fmt.Sprintf("node %s was started again", node)
	case "restart":
		return fmt.Sprintf("node %s was killed and restarted", node)
	case "pause":
		return fmt.Sprintf("node %s was paused (SIGSTOP)", node)
	case "resume":
		return fmt.Sprintf("node %s was resumed (SIGCONT)", node)
	case "heal":
		return "the network was healed"
	}
	s := clean(op.F, 80)
	if node != "" {
		s += " on node " + node
	}
	if len(op.Value) > 0 {
		s += " " + clean(string(op.Value), 200)
	}
	return s
}

// clockOffset reads the node's clock offset from host time after a clock
// fault: offset_ns when the record has it (nemesis.ClockValue), otherwise
// its "offset" as a duration (scripted faults write only that). known is
// false when the record says neither.
func clockOffset(op *history.Op) (off int64, known bool) {
	var v struct {
		Offset   string `json:"offset"`
		OffsetNS *int64 `json:"offset_ns"`
	}
	if len(op.Value) == 0 || op.DecodeValue(&v) != nil {
		return 0, op.F == "clock-reset"
	}
	if v.OffsetNS != nil {
		return *v.OffsetNS, true
	}
	if d, err := time.ParseDuration(v.Offset); err == nil {
		return int64(d), true
	}
	return 0, op.F == "clock-reset"
}

// opTitle is an operation's tooltip on the timeline.
func opTitle(p *history.Pair, end int64) string {
	inv := &p.Invoke
	var b strings.Builder
	fmt.Fprintf(&b, "process %s: %s", processName(inv.Process), clean(inv.F, 40))
	if inv.Key != "" {
		b.WriteString(" key=" + clean(inv.Key, 60))
	}
	if len(inv.Value) > 0 {
		b.WriteString(" " + clean(string(inv.Value), 60))
	}
	b.WriteString(" → " + string(p.Outcome()))
	if !p.Completed() {
		b.WriteString(" (never completed)")
	}
	c := &p.Complete
	if len(c.Value) > 0 {
		b.WriteString(" " + clean(string(c.Value), 60))
	}
	if c.Error != "" {
		b.WriteString(" error: " + clean(c.Error, 60))
	}
	if inv.Node != "" {
		b.WriteString(" on " + clean(inv.Node, 40))
	}
	fmt.Fprintf(&b, ", %s–%s (%s), records #%d", secs(inv.Time), secs(p.End(end)), dur(time.Duration(p.End(end)-inv.Time)), inv.Index)
	if p.Completed() {
		fmt.Fprintf(&b, "/#%d", c.Index)
	}
	return clean(b.String(), maxTitle*2)
}

// Rerun is the command that repeats a run: the stored command line when there
// is one (with the seed added if it was drawn at random), otherwise one built
// from config.json or, failing that, from the history header.
func Rerun(h *history.Header, sc *core.StoredConfig) string {
	if sc != nil && len(sc.Command) > 0 {
		args := append([]string(nil), sc.Command...)
		if strings.HasPrefix(filepath.Base(args[0]), "chaos") {
			args[0] = "chaos" // not the path it was started from
		}
		if len(args) > 1 && args[1] == "run" && !hasFlag(args, "seed") {
			args = append(args, "--seed", strconv.FormatInt(sc.Seed, 10))
		}
		return shellJoin(args)
	}
	args := []string{"chaos", "run", h.Target}
	params := h.Params
	if sc != nil {
		args = append(args, "--workload", sc.Workload, "--nodes", strconv.Itoa(len(sc.Nodes)),
			"--concurrency", strconv.Itoa(sc.Concurrency), "--time-limit", sc.TimeLimit,
			"--rate", strconv.FormatFloat(sc.Rate, 'g', -1, 64))
		if len(sc.Nemeses) > 0 {
			args = append(args, "--nemesis", strings.Join(sc.Nemeses, ","), "--nemesis-interval", sc.NemesisInterval)
		}
		if sc.OpTimeout != "" {
			args = append(args, "--op-timeout", sc.OpTimeout)
		}
		if sc.Params != nil {
			params = sc.Params
		}
	} else {
		args = append(args, "--workload", h.Workload, "--nodes", strconv.Itoa(len(h.Nodes)))
		if len(h.Nemeses) > 0 {
			args = append(args, "--nemesis", strings.Join(h.Nemeses, ","))
		}
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--"+k, params[k])
	}
	args = append(args, "--seed", strconv.FormatInt(h.Seed, 10))
	return shellJoin(args)
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--"+name || strings.HasPrefix(a, "--"+name+"=") {
			return true
		}
	}
	return false
}

// shellJoin quotes each argument for a POSIX shell where it needs quoting.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = shellQuote(clean(a, 0))
	}
	return strings.Join(out, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./=:,+@%", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
