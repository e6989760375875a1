package lock

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaostest/chaos/checkers"
	lockcheck "github.com/chaostest/chaos/checkers/lock"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/gen"
)

// Operation names of the contract.
const (
	FAcquire = "acquire"
	FRelease = "release"
	FRead    = "read"
	FWrite   = "write"
)

// The wire types of the contract are defined beside the checker, which is
// their one reader; they are re-exported here for clients.
type (
	// AcquireArgs is the invoke value of acquire.
	AcquireArgs = lockcheck.AcquireArgs
	// Grant is the ok value of acquire.
	Grant = lockcheck.Grant
	// Release is the ok value of release.
	Release = lockcheck.Release
	// ReadArgs is the invoke value of read.
	ReadArgs = lockcheck.ReadArgs
	// ReadResult is the ok value of read.
	ReadResult = lockcheck.ReadResult
	// WriteArgs is the invoke value of write.
	WriteArgs = lockcheck.WriteArgs
	// WriteResult is the ok value of write.
	WriteResult = lockcheck.WriteResult
)

// Params are the flags of both lock workloads.
var Params = []core.Param{
	{Name: "lock-key", Default: "chaos-lock", Usage: "name of the lock (and of the resource it protects)"},
	{Name: "lock-ttl", Type: core.TypeDuration, Default: "2s", Usage: "lease the client asks for on every acquire"},
	{Name: "lock-hold", Type: core.TypeDuration, List: true, Default: "200ms", Usage: "lock-set: how long a holder keeps the lock between read and write (random from half to all of it, exactly this when --lock-attempts is set); per worker, comma-separated"},
	{Name: "lock-start", Type: core.TypeDuration, List: true, Default: "0s", Usage: "per-worker delay before the first acquire, comma-separated (the last value repeats)"},
	{Name: "lock-attempts", Type: core.TypeInt, List: true, Default: "0", Usage: "per-worker number of acquire cycles, comma-separated (0: until the time limit)"},
	{Name: "lock-retry", Type: core.TypeDuration, Default: "0s", Usage: "delay before every acquire after a worker's first"},
}

// Config is a lock workload's settings, parsed from Params.
type Config struct {
	// Set selects lock-set (read, hold, write) over plain lock.
	Set      bool
	Key      string
	TTL      time.Duration
	Hold     []time.Duration
	Start    []time.Duration
	Attempts []int
	Retry    time.Duration
}

// ParseConfig reads the workload's flags.
func ParseConfig(set bool, p core.Params) (Config, error) {
	c := Config{Set: set, Key: p.String("lock-key", "chaos-lock")}
	var err error
	if c.TTL, err = p.Duration("lock-ttl", 2*time.Second); err != nil {
		return c, err
	}
	if c.TTL < time.Millisecond {
		return c, fmt.Errorf("--lock-ttl %s: must be at least 1ms", c.TTL)
	}
	if c.Retry, err = p.Duration("lock-retry", 0); err != nil {
		return c, err
	}
	if c.Retry < 0 {
		return c, fmt.Errorf("--lock-retry %s: must not be negative", c.Retry)
	}
	for _, s := range splitList(p.String("lock-hold", "200ms")) {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return c, fmt.Errorf("--lock-hold %q: want durations such as 200ms or 1s,100ms", p["lock-hold"])
		}
		c.Hold = append(c.Hold, d)
	}
	for _, s := range splitList(p.String("lock-start", "0s")) {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return c, fmt.Errorf("--lock-start %q: want durations such as 0s,2s", p["lock-start"])
		}
		c.Start = append(c.Start, d)
	}
	for _, s := range splitList(p.String("lock-attempts", "0")) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return c, fmt.Errorf("--lock-attempts %q: want whole numbers such as 1,3 (0: unlimited)", p["lock-attempts"])
		}
		c.Attempts = append(c.Attempts, n)
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		out = []string{"0"}
	}
	return out
}

func pick[T any](xs []T, i int) T {
	if i < len(xs) {
		return xs[i]
	}
	return xs[len(xs)-1]
}

// Workload is lock or lock-set.
type Workload struct{ cfg Config }

var _ core.Workload = (*Workload)(nil)

// New builds the workload from its config.
func New(cfg Config) *Workload { return &Workload{cfg: cfg} }

// Generator cycles acquire, (read, write,) release. The ops are planned
// without looking at outcomes: a client that did not get the lock fails its
// read and write at once without touching the resource.
func (w *Workload) Generator(worker int) gen.Generator {
	c := w.cfg
	attempts := pick(c.Attempts, worker)
	start := pick(c.Start, worker)
	maxHold := pick(c.Hold, worker)
	scripted := attempts > 0
	cycle, step, n := 0, 0, 0
	steps := 2
	if c.Set {
		steps = 4
	}
	return gen.Func(func(gc *gen.Context) (history.Op, bool) {
		if attempts > 0 && cycle >= attempts {
			return history.Op{}, false
		}
		var op history.Op
		switch {
		case step == 0:
			delay := c.Retry
			if cycle == 0 {
				delay = start
			}
			op = history.Op{F: FAcquire, Value: history.JSON(AcquireArgs{TTL: int64(c.TTL), Delay: int64(delay)})}
		case c.Set && step == 1:
			hold := maxHold
			if !scripted && hold > 0 {
				hold = hold/2 + time.Duration(gc.Rand.Int64N(int64(hold/2)+1))
			}
			op = history.Op{F: FRead, Value: history.JSON(ReadArgs{Hold: int64(hold)})}
		case c.Set && step == 2:
			n++
			op = history.Op{F: FWrite, Value: history.JSON(WriteArgs{Add: int64(worker+1)*1_000_000_000 + int64(n)})}
		default:
			op = history.Op{F: FRelease}
		}
		op.Key = c.Key
		step++
		if step == steps {
			step = 0
			cycle++
		}
		return op, true
	})
}

// Final reads the resource once, without the lock, after the heal.
func (w *Workload) Final(nodes []string) []history.Op {
	if !w.cfg.Set {
		return nil
	}
	return []history.Op{{F: FRead, Key: w.cfg.Key, Value: history.JSON(ReadArgs{Final: true})}}
}

// Checkers is the lock-safety checker; lock-set adds the lost-update check.
func (w *Workload) Checkers(h *history.Header) ([]checkers.Checker, error) {
	return Checkers(h)
}

// Checkers rebuilds the checkers of a stored lock or lock-set history.
func Checkers(h *history.Header) ([]checkers.Checker, error) {
	cs := []checkers.Checker{lockcheck.New(lockcheck.WithResource(h.Workload == "lock-set"))}
	if slices.Contains(h.Nemeses, HolderCrashName) {
		// Only a run that kills a holder can show whether the lock
		// outlives it.
		cs = append(cs, lockcheck.NewLiveness(lockcheck.WithCrashRecord(HolderCrashName)))
	}
	return cs, nil
}

// Register adds the lock and lock-set workloads and the client-pause fault
// to r. Each run has its own pause board (PausesOf), shared by its target's
// clients and its faults.
func Register(r *core.Registry) {
	r.AddNemesis(core.NemesisInfo{Name: "client-pause", Params: PauseParams,
		Summary: "stop a client for a while right after it acquired a lock (a GC pause); recorded when the pause begins",
		New: func(p core.Params) (core.Nemesis, error) {
			return NewPauseNemesis(PausesOf(r), p)
		}})
	r.AddNemesis(core.NemesisInfo{Name: "holder-pause", Params: HolderPauseParams,
		Summary: "when an acquire completes ok, stop that holder (the client and its links to every node) for twice the lock's TTL; triggered by the acquire, which its record names",
		New: func(p core.Params) (core.Nemesis, error) {
			return NewHolderPause(PausesOf(r), p)
		}})
	r.AddNemesis(core.NemesisInfo{Name: HolderCrashName, Params: HolderCrashParams,
		Summary: "when an acquire completes ok, that holder crashes: it never releases and stays down (its links cut) until the main phase ends; checked for a lock nobody can take again",
		New: func(p core.Params) (core.Nemesis, error) {
			return NewHolderCrash(PausesOf(r), p)
		}})
	r.AddWorkload(core.WorkloadInfo{Name: "lock", Params: Params,
		Summary: "acquire and release one lock over and over; checked for overlapping holds",
		New: func(p core.Params) (core.Workload, error) {
			c, err := ParseConfig(false, p)
			return New(c), err
		}})
	r.AddWorkload(core.WorkloadInfo{Name: "lock-set", Params: Params,
		Summary: "acquire, read the protected resource, hold, write it back plus one element, release; checked for overlaps, lost updates and fencing",
		New: func(p core.Params) (core.Workload, error) {
			c, err := ParseConfig(true, p)
			return New(c), err
		}})
}
