package lock

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// KindStuck is the liveness finding: a lock whose holder died stays held,
// and every later attempt by anyone else to take it fails.
const KindStuck = "lock-stuck"

// Liveness is the lock-liveness checker. It judges what happens to a lock
// after its holder crashed (a nemesis record says so: by default
// "holder-crash", whose value names the holder's client, process and
// token). The lock must become free again: once the dead holder's validity
// has run out (at once, for a lock that reports none), an acquire by
// another process must succeed. If every such acquire failed for at least
// the minimum wait and none succeeded to the end of the history, the lock
// is stuck: invalid, with the holder's hold, its last operation, the crash,
// and the first and last of the acquisitions that failed after it.
//
// Why invalid rather than a note beside a valid verdict: a lock that a
// crashed client holds forever breaks the promise every lock makes besides
// mutual exclusion, that a free-for-all lock is eventually granted again
// (deadlock freedom when holders may die). A lock without expiry breaks it
// by design; the finding says what that design costs.
//
// Nothing is proven, and the result is unknown, when no holder crashed, the
// crashed hold cannot be found, or nobody asked for the lock long enough
// after the crash.
type Liveness struct {
	crashF  string
	minWait time.Duration
}

var _ checkers.Checker = (*Liveness)(nil)

// LivenessOption configures the liveness checker.
type LivenessOption func(*Liveness)

// WithCrashRecord names the nemesis records that mark a holder's death.
func WithCrashRecord(f string) LivenessOption { return func(l *Liveness) { l.crashF = f } }

// WithMinWait sets how long acquisitions must have kept failing after the
// lock should have been free before the lock is called stuck (default 1 s).
func WithMinWait(d time.Duration) LivenessOption { return func(l *Liveness) { l.minWait = d } }

// NewLiveness returns the checker.
func NewLiveness(opts ...LivenessOption) *Liveness {
	l := &Liveness{crashF: "holder-crash", minWait: time.Second}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Name is "lock-liveness".
func (l *Liveness) Name() string { return "lock-liveness" }

// crashValue is the part of a crash record the checker reads.
type crashValue struct {
	Client  string `json:"client"`
	Process int    `json:"process"`
	Token   string `json:"token"`
}

// attempt is one acquire by a live process, invocation and completion.
type attempt struct{ inv, done *history.Op }

// Check judges h.
func (l *Liveness) Check(ctx context.Context, h *history.File) checkers.Result {
	res := checkers.Result{Counts: map[string]int64{}}
	ops := h.Ops
	if err := history.WellFormed(ops, Fs...); err != nil {
		return livenessUnknown(res, err.Error())
	}
	end := history.EndTime(ops)
	// Pair every client completion with its invocation.
	open := map[int]int{}
	invOf := make([]int, len(ops))
	var crashes []int
	for i := range ops {
		if i%ctxCheckInterval == 0 && ctx.Err() != nil {
			return livenessUnknown(res, "check interrupted: "+ctx.Err().Error())
		}
		op := &ops[i]
		invOf[i] = -1
		if op.IsNemesis() {
			if op.F == l.crashF && op.Type == history.OK {
				crashes = append(crashes, i)
			}
			continue
		}
		if op.Type == history.Invoke {
			open[op.Process] = i
			continue
		}
		if j, ok := open[op.Process]; ok {
			invOf[i] = j
			delete(open, op.Process)
		}
	}
	if len(crashes) == 0 {
		return livenessUnknown(res, fmt.Sprintf("no %s record completed ok: no holder is known to have died, so nothing shows whether the lock outlives one", l.crashF))
	}
	res.Counts["crashes"] = int64(len(crashes))
	var undecided []string
	for _, ci := range crashes {
		crash := &ops[ci]
		var cv crashValue
		if err := json.Unmarshal(crash.Value, &cv); err != nil {
			undecided = append(undecided, fmt.Sprintf("record %d: crash value not decodable: %v", crash.Index, err))
			continue
		}
		// The crashed hold: the holder's last ok acquire before the crash
		// with the crash's token.
		acq := -1
		for i := ci - 1; i >= 0; i-- {
			op := &ops[i]
			if op.IsNemesis() || op.Process != cv.Process || op.F != "acquire" || op.Type != history.OK {
				continue
			}
			var g Grant
			if json.Unmarshal(op.Value, &g) == nil && (cv.Token == "" || g.Token == cv.Token) {
				acq = i
			}
			break
		}
		if acq < 0 || invOf[acq] < 0 {
			undecided = append(undecided, fmt.Sprintf("record %d: the crashed holder's acquire (process %d, token %q) is not in the history", crash.Index, cv.Process, cv.Token))
			continue
		}
		acqOK, acqInv := &ops[acq], &ops[invOf[acq]]
		var g Grant
		_ = json.Unmarshal(acqOK.Value, &g)
		key := acqInv.Key
		free := crash.Time
		if g.Validity > 0 {
			free = max(free, acqInv.Time+g.Validity)
		}
		// The holder's last operation before it died.
		last := acqOK
		for i := ci - 1; i > acq; i-- {
			if op := &ops[i]; !op.IsNemesis() && op.Process == cv.Process {
				last = op
				break
			}
		}
		var failed []attempt
		var recovered *attempt
		for i := ci + 1; i < len(ops) && recovered == nil; i++ {
			op := &ops[i]
			if op.IsNemesis() || op.Type == history.Invoke || op.F != "acquire" || op.Process == cv.Process || invOf[i] < 0 {
				continue
			}
			inv := &ops[invOf[i]]
			if inv.Key != key {
				continue
			}
			switch {
			case op.Type == history.OK:
				recovered = &attempt{inv, op}
			case inv.Time >= free:
				failed = append(failed, attempt{inv, op})
			}
		}
		holder := fmt.Sprintf("%s (process %d)", cv.Client, cv.Process)
		if recovered != nil {
			res.Counts["recovered"]++
			res.Counts["recovered-after-ns"] = max(res.Counts["recovered-after-ns"], recovered.done.Time-crash.Time)
			continue
		}
		if len(failed) == 0 {
			undecided = append(undecided, fmt.Sprintf("nobody asked for %s after %s crashed at %s%s, so whether it is free again is not shown",
				key, holder, secs(crash.Time), leaseNote(g, free)))
			continue
		}
		lastFail := failed[len(failed)-1]
		span := lastFail.done.Time - free
		if time.Duration(span) < l.minWait {
			undecided = append(undecided, fmt.Sprintf("acquisitions of %s failed for only %s after %s crashed%s (at least %s needed to call the lock stuck)",
				key, time.Duration(span).Round(time.Millisecond), holder, leaseNote(g, free), l.minWait))
			continue
		}
		whoSet := map[int]bool{}
		for _, a := range failed {
			whoSet[a.inv.Process] = true
		}
		who := make([]int, 0, len(whoSet))
		for p := range whoSet {
			who = append(who, p)
		}
		sort.Ints(who)
		procs := make([]string, len(who))
		for i, p := range who {
			procs[i] = fmt.Sprint(p)
		}
		expiry := "with no expiry"
		if g.Validity > 0 {
			expiry = "valid until " + secs(acqInv.Time+g.Validity)
		}
		msg := fmt.Sprintf("%s crashed at %s holding %s (acquired at %s, token %s, %s); its last operation was %s at %s. "+
			"After that %d acquisitions of %s by processes %s failed over %s (the first asked at %s, the last failed at %s) and none succeeded up to the end of the history at %s: a dead client holds the lock and nobody can take it again.",
			holder, secs(crash.Time), key, secs(acqOK.Time), g.Token, expiry, describeOp(last), secs(last.Time),
			len(failed), key, strings.Join(procs, ", "), time.Duration(span).Round(time.Millisecond),
			secs(failed[0].inv.Time), secs(lastFail.done.Time), secs(end))
		res.AddAnomaly(checkers.Anomaly{Kind: KindStuck, Message: msg,
			Ops:       []history.Op{*acqOK, *last, *crash, *failed[0].inv, *failed[0].done, *lastFail.done},
			Processes: append([]int{cv.Process}, who...), Nodes: g.Nodes, Fault: crash,
			Data: map[string]any{"stuck_ns": span, "failed_acquires": len(failed), "holder": cv.Client, "key": key}})
	}
	switch {
	case len(res.AnomalyCounts) > 0:
		res.Valid = checkers.Invalid
		res.Summary = fmt.Sprintf("%d of %d crashed holders left their lock stuck", res.AnomalyCounts[KindStuck], len(crashes))
		if len(undecided) > 0 {
			res.Error = strings.Join(undecided, "; ")
		}
	case len(undecided) > 0:
		return livenessUnknown(res, strings.Join(undecided, "; "))
	default:
		res.Valid = checkers.Valid
		res.Summary = fmt.Sprintf("every lock a crashed holder held was granted again (%d crashes; the longest wait after a crash %s)",
			len(crashes), time.Duration(res.Counts["recovered-after-ns"]).Round(time.Millisecond))
	}
	return res
}

func leaseNote(g Grant, free int64) string {
	if g.Validity > 0 {
		return " (its lease ran until " + secs(free) + ")"
	}
	return ""
}

func describeOp(op *history.Op) string {
	return fmt.Sprintf("#%d %s %s", op.Index, op.F, op.Type)
}

func livenessUnknown(res checkers.Result, why string) checkers.Result {
	res.Valid = checkers.Unknown
	res.Summary = "lock liveness undecided: " + why
	res.Error = why
	return res
}
