package reports

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/nemesis"
)

// fixture is a hand-built run directory: what a run of a target would leave,
// with a known verdict, so reports can be tested without running targets.
type fixture struct {
	hdr     history.Header
	cfg     *core.StoredConfig
	ops     []history.Op
	results *checkers.Results
	faults  []core.FaultTally
	logs    map[string]string
	files   map[string]string
}

func (f *fixture) write(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := history.Create(core.HistoryPath(dir), f.hdr)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range f.ops {
		if _, err := w.Append(op); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if f.cfg != nil {
		writeJSONFile(t, filepath.Join(dir, core.ConfigFile), f.cfg)
	}
	if f.results != nil {
		if err := core.WriteResults(dir, *f.results, f.faults...); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range f.logs {
		p := filepath.Join(dir, core.NodesDir, name+".log")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range f.files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeJSONFile(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// builder appends records with the indices the history writer will give
// them.
type builder struct {
	ops   []history.Op
	open  map[int]history.Op
	remap map[int64]int64
}

func newBuilder() *builder { return &builder{open: map[int]history.Op{}} }

func at(s float64) int64 { return int64(s * float64(time.Second)) }

func (b *builder) add(op history.Op) history.Op {
	op.Index = int64(len(b.ops))
	b.ops = append(b.ops, op)
	return op
}

func (b *builder) invoke(s float64, p int, f, key string, v json.RawMessage, node string) history.Op {
	op := b.add(history.Op{Process: p, Type: history.Invoke, F: f, Key: key, Value: v, Time: at(s), Node: node})
	b.open[p] = op
	return op
}

func (b *builder) complete(s float64, p int, typ history.Type, v json.RawMessage, errText string) history.Op {
	inv := b.open[p]
	delete(b.open, p)
	return b.add(history.Op{Process: p, Type: typ, F: inv.F, Key: inv.Key, Value: v, Error: errText, Time: at(s), Node: inv.Node})
}

// finish orders the records by time, as a real history has them, and
// renumbers them; get then finds a record built earlier.
func (b *builder) finish() []history.Op {
	sort.SliceStable(b.ops, func(i, j int) bool { return b.ops[i].Time < b.ops[j].Time })
	b.remap = map[int64]int64{}
	for i := range b.ops {
		b.remap[b.ops[i].Index] = int64(i)
		b.ops[i].Index = int64(i)
	}
	return b.ops
}

func (b *builder) get(op history.Op) history.Op { return b.ops[b.remap[op.Index]] }

func (b *builder) fault(s, e float64, f, node string, v json.RawMessage) history.Op {
	b.add(history.Op{Process: history.NemesisProcess, Type: history.Invoke, F: f, Value: v, Time: at(s), Node: node})
	return b.add(history.Op{Process: history.NemesisProcess, Type: history.OK, F: f, Value: v, Time: at(e), Node: node})
}

func clockValue(delta, offset time.Duration) json.RawMessage {
	v := nemesis.ClockValue{Offset: offset.String(), OffsetNS: int64(offset), MaxOffsetNS: max(int64(offset), -int64(offset))}
	if delta != 0 {
		v.Delta = delta.String()
	}
	return history.JSON(v)
}

func header(target, workload string, seed int64, nodes ...string) history.Header {
	return history.Header{RunID: target + "/20261123T110000.000Z", Target: target, Workload: workload, Runtime: "local",
		Nodes: nodes, Seed: seed, Start: time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)}
}

func storedConfig(h history.Header, conc int, command ...string) *core.StoredConfig {
	return &core.StoredConfig{RunID: h.RunID, Command: command, Target: h.Target, Workload: h.Workload, Runtime: h.Runtime,
		Nodes: h.Nodes, Concurrency: conc, TimeLimit: "10s", Rate: 100, Nemeses: h.Nemeses, NemesisInterval: "2s",
		Seed: h.Seed, OpTimeout: "1s", Params: h.Params, Start: h.Start,
		Versions: core.Versions{Chaos: "(devel)", Go: "go1.26.8", OS: "linux/amd64"}}
}

// snowflakeFixture is a naive snowflake run in which a clock rollback on n2
// makes it hand out an ID that n2 had already given.
func snowflakeFixture() *fixture {
	h := header("snowflake", "ids", 7, "n1", "n2", "n3")
	h.Nemeses = []string{"clock"}
	h.Params = map[string]string{"mode": "naive", "clock-rollback": "2s"}
	b := newBuilder()
	rng := rand.New(rand.NewPCG(7, 1))
	id := int64(1 << 30)
	var dupFirst, dupSecond history.Op
	for tick := 0; tick < 400; tick++ {
		s := float64(tick) * 0.025
		p := tick % 5
		node := h.Nodes[p%3]
		b.invoke(s, p, "generate", "", nil, node)
		id += int64(rng.IntN(1000) + 1)
		switch {
		case tick == 20:
			b.fault(0.501, 0.502, "clock-bump", "n3", clockValue(2*time.Second, 2*time.Second))
			b.complete(s+0.004, p, history.OK, history.Int(id), "")
		case tick == 90:
			b.complete(s+0.1, p, history.Info, nil, "context deadline exceeded")
		case tick == 101: // n2, just before the rollback
			dupFirst = b.complete(s+0.003, p, history.OK, history.Int(777777777777), "")
		case tick == 110:
			b.fault(2.751, 2.752, "clock-rollback", "n2", clockValue(-2*time.Second, -2*time.Second))
			b.complete(s+0.004, p, history.OK, history.Int(id), "")
		case tick == 134: // n2 again, its clock now 2 s behind
			dupSecond = b.complete(s+0.003, p, history.OK, history.Int(777777777777), "")
		case tick == 200:
			b.fault(5.001, 6.001, "clock-strobe", "n1", history.JSON(nemesis.ClockValue{Delta: "500ms", Period: "20ms", Duration: "1s", Offset: "0s", MaxOffsetNS: int64(500 * time.Millisecond)}))
			b.complete(s+0.004, p, history.OK, history.Int(id), "")
		case tick%37 == 0:
			b.complete(s+0.002, p, history.Fail, nil, "clock moved backwards; refusing")
		default:
			b.complete(s+0.001+float64(rng.IntN(8))/1000, p, history.OK, history.Int(id), "")
		}
	}
	b.fault(9.99, 9.995, "clock-reset", "n2", clockValue(0, 0))
	ops := b.finish()
	dupFirst, dupSecond = b.get(dupFirst), b.get(dupSecond)
	var fault history.Op
	for _, op := range ops {
		if op.F == "clock-rollback" && op.Type == history.OK {
			fault = op
		}
	}
	res := checkers.Result{Valid: checkers.Invalid, Summary: "1 duplicate ID among 398 acknowledged generations",
		Counts: map[string]int64{"attempted": 400, "ok": 387, "fail": 11, "info": 1}}
	res.AddAnomaly(checkers.Anomaly{Kind: "duplicate-id",
		Message: fmt.Sprintf("processes %d and %d both received ID 777777777777 (timestamp 185.4 s after the epoch, machine 2, sequence 0) from node n2, at %s and %s; node n2's clock had been rolled back 2s at 2.760 s",
			dupFirst.Process, dupSecond.Process, secs(dupFirst.Time), secs(dupSecond.Time)),
		Ops: []history.Op{dupFirst, dupSecond}, Processes: []int{dupFirst.Process, dupSecond.Process}, Nodes: []string{"n2"},
		Fault: &fault, Data: map[string]any{"id": "777777777777", "timestamp_ms": 185400, "machine": 2, "sequence": 0}})
	mono := checkers.Result{Valid: checkers.Valid, Summary: "IDs from each node increase", Counts: map[string]int64{"nodes": 3}}
	rs := checkers.Results{Valid: checkers.Invalid, Checkers: map[string]checkers.Result{"ids/unique": res, "ids/monotonic": mono}}
	return &fixture{hdr: h, cfg: storedConfig(h, 5, "chaos", "run", "snowflake", "--mode", "naive", "--nemesis", "clock", "--time-limit", "10s", "--seed", "7"),
		ops: ops, results: &rs,
		logs: map[string]string{"n1": "snowflake n1 listening\n", "n2": "snowflake n2 listening\nclock offset -2s\n", "n3": "snowflake n3 listening\n"}}
}

// lockFixture is a Redlock run in which n3's clock jumps forward and two
// clients hold lock L at once.
func lockFixture() *fixture {
	h := header("redlock", "lock", 3, "n1", "n2", "n3", "n4", "n5")
	h.Nemeses = []string{"clock", "kill"}
	h.Params = map[string]string{"ttl": "10s", "quorum": "3"}
	b := newBuilder()
	rng := rand.New(rand.NewPCG(3, 3))
	// Ten workers take and release L in turn until 12 s.
	for tick := 0; tick < 60; tick++ {
		s := float64(tick) * 0.2
		p := tick % 10
		b.invoke(s, p, "acquire", "L", nil, h.Nodes[p%5])
		if rng.IntN(3) == 0 {
			b.complete(s+0.03, p, history.OK, history.JSON(map[string]any{"token": tick}), "")
			b.invoke(s+0.1, p, "release", "L", nil, h.Nodes[p%5])
			b.complete(s+0.12, p, history.OK, nil, "")
		} else {
			b.complete(s+0.02, p, history.Fail, nil, "quorum not reached: 2 of 5")
		}
		if tick == 25 {
			b.fault(5.1, 5.11, "kill", "n4", nil)
		}
		if tick == 35 {
			b.fault(7.1, 7.4, "start", "n4", nil)
		}
	}
	b.fault(12.09, 12.10, "clock-bump", "n3", clockValue(30*time.Second, 30*time.Second))
	b.invoke(12.2, 3, "acquire", "L", nil, "n1")
	firstOK := b.complete(12.30, 3, history.OK, history.JSON(map[string]any{"token": 100, "granted_by": []string{"n1", "n2", "n3"}, "validity_ns": 700 * time.Millisecond}), "")
	b.invoke(12.31, 7, "acquire", "L", nil, "n5")
	secondOK := b.complete(12.35, 7, history.OK, history.JSON(map[string]any{"token": 101, "granted_by": []string{"n3", "n4", "n5"}, "validity_ns": 550 * time.Millisecond}), "")
	rel3 := b.invoke(12.84, 3, "release", "L", nil, "n1")
	b.complete(12.86, 3, history.OK, nil, "")
	b.invoke(12.90, 7, "release", "L", nil, "n5")
	b.complete(12.93, 7, history.Info, nil, "i/o timeout")
	ops := b.finish()
	firstOK, secondOK, rel3 = b.get(firstOK), b.get(secondOK), b.get(rel3)
	var fault history.Op
	for _, op := range ops {
		if op.F == "clock-bump" && op.Type == history.OK {
			fault = op
		}
	}
	res := checkers.Result{Valid: checkers.Invalid, Summary: "1 overlapping hold of lock L (mutual exclusion broken inside the validity window)",
		Counts: map[string]int64{"acquire-ok": 21, "acquire-fail": 40, "holds": 21}}
	res.AddAnomaly(checkers.Anomaly{Kind: "overlapping-holds",
		Message: "clients 3 and 7 both held lock L from 12.350 s to 12.840 s: client 3 was granted it by n1, n2, n3 and client 7 by n3, n4, n5; node n3's clock had jumped +30s at 12.100 s",
		Ops:     []history.Op{firstOK, secondOK, rel3}, Processes: []int{3, 7}, Nodes: []string{"n3"}, Fault: &fault,
		Data: map[string]any{"lock": "L", "overlap_from_s": 12.35, "overlap_to_s": 12.84}})
	fence := checkers.Result{Valid: checkers.Unknown, Summary: "no protected writes in this workload", Error: "the lock workload records no writes; run lock-set to check fencing"}
	rs := checkers.Results{Valid: checkers.Invalid, Checkers: map[string]checkers.Result{"lock-safety": res, "fencing": fence}}
	return &fixture{hdr: h, cfg: storedConfig(h, 10, "chaos", "repro", "redlock-clock-jump"), ops: ops, results: &rs,
		logs:  map[string]string{"n1": "redis n1\n", "n2": "redis n2\n", "n3": "redis n3\n", "n4": "redis n4\n", "n5": "redis n5\n"},
		files: map[string]string{"porcupine/L.html": "<!DOCTYPE html><title>porcupine</title><p>visualization</p>"}}
}

// bigFixture has n records of ids traffic over 60 s from 10 workers, with
// faults and one invalid verdict whose witnesses sit in the middle.
func bigFixture(n int) *fixture {
	h := header("snowflake", "ids", 11, "n1", "n2", "n3")
	h.Nemeses = []string{"clock", "kill"}
	b := newBuilder()
	rng := rand.New(rand.NewPCG(11, 0))
	const workers = 10
	proc := make([]int, workers)
	for w := range proc {
		proc[w] = w
	}
	span := 60.0
	pairs := n / 2
	step := span / float64(pairs)
	var wit []history.Op
	for i := 0; len(b.ops) < n-1; i++ {
		s := float64(i) * step
		w := i % workers
		p := proc[w]
		if i%5000 == 2500 {
			b.fault(s, s+0.01, "kill", h.Nodes[i%3], nil)
			b.fault(s+1, s+1.2, "start", h.Nodes[i%3], nil)
			continue
		}
		b.invoke(s, p, "generate", "", nil, h.Nodes[w%3])
		switch r := rng.IntN(100); {
		case r == 0:
			b.complete(s+0.5, p, history.Info, nil, "timeout")
			proc[w] += workers
		case r < 4:
			b.complete(s+0.001, p, history.Fail, nil, "refused")
		default:
			op := b.complete(s+float64(rng.IntN(4000))/1e6, p, history.OK, history.Int(int64(i)), "")
			if i == pairs/2 || i == pairs/2+1 {
				wit = append(wit, op)
			}
		}
	}
	ops := b.finish()
	for i := range wit {
		wit[i] = b.get(wit[i])
	}
	res := checkers.Result{Valid: checkers.Invalid, Summary: "1 duplicate ID"}
	res.AddAnomaly(checkers.Anomaly{Kind: "duplicate-id", Message: "two processes received the same ID", Ops: wit})
	rs := checkers.Results{Valid: checkers.Invalid, Checkers: map[string]checkers.Result{"ids/unique": res}}
	return &fixture{hdr: h, cfg: storedConfig(h, workers), ops: ops, results: &rs}
}

// leaseFixture is a lock-set run on Redlock in which client 2 is paused
// while it holds the lock: its lease runs out, client 3 takes the lock, and
// client 2's write, sent after its lease ended, is accepted anyway.
func leaseFixture() *fixture {
	h := header("redlock", "lock-set", 5, "n1", "n2", "n3")
	h.Nemeses = []string{"client-pause"}
	h.Params = map[string]string{"lock-ttl": "1s"}
	b := newBuilder()
	validity := int64(time.Second)
	grant := func(p, token int) json.RawMessage {
		return history.JSON(map[string]any{"token": fmt.Sprint(token), "validity_ns": validity, "nodes": []string{"n1", "n2", "n3"}, "client": fmt.Sprintf("c%d", p)})
	}
	set := []int64{}
	// Clients 0..3 take turns: acquire, read, write, release, 0.6 s each.
	var lateInv, lateOK, otherOK history.Op
	for turn := 0; turn < 14; turn++ {
		p := turn % 4
		s := 0.1 + float64(turn)*0.6
		node := h.Nodes[p%3]
		if turn == 6 { // client 2, paused while it holds the lock
			b.invoke(s, p, "acquire", "L", history.JSON(map[string]any{"ttl_ns": validity}), node)
			b.complete(s+0.02, p, history.OK, grant(p, turn), "")
			b.fault(s+0.05, s+0.051, "client-pause", "", history.JSON(map[string]string{"client": "c2", "duration": "1.6s"}))
			lateInv = b.invoke(s+1.8, p, "write", "L", history.JSON(map[string]any{"add": turn}), node)
			set = append(set, int64(turn))
			lateOK = b.complete(s+1.82, p, history.OK, history.JSON(map[string]any{"add": turn, "set": set}), "")
			b.invoke(s+1.85, p, "release", "L", nil, node)
			b.complete(s+1.87, p, history.Fail, nil, "not held: the lease ran out")
			continue
		}
		if turn == 7 { // client 3 takes the expired lock while client 2 sleeps
			s = 4.0 + 1.15
		}
		if turn > 7 {
			s += 1.2
		}
		b.invoke(s, p, "acquire", "L", history.JSON(map[string]any{"ttl_ns": validity}), node)
		b.complete(s+0.02, p, history.OK, grant(p, turn), "")
		b.invoke(s+0.05, p, "read", "L", nil, node)
		b.complete(s+0.07, p, history.OK, history.JSON(map[string]any{"set": set}), "")
		b.invoke(s+0.25, p, "write", "L", history.JSON(map[string]any{"add": turn}), node)
		set = append(set, int64(turn))
		w := b.complete(s+0.27, p, history.OK, history.JSON(map[string]any{"add": turn, "set": set}), "")
		if turn == 7 {
			otherOK = w
		}
		b.invoke(s+0.3, p, "release", "L", nil, node)
		b.complete(s+0.32, p, history.OK, history.JSON(map[string]any{"token": fmt.Sprint(turn)}), "")
	}
	ops := b.finish()
	lateInv, lateOK, otherOK = b.get(lateInv), b.get(lateOK), b.get(otherOK)
	var fault history.Op
	for _, op := range ops {
		if op.F == "client-pause" && op.Type == history.OK {
			fault = op
		}
	}
	res := checkers.Result{Valid: checkers.Invalid, Summary: "1 write after its hold's validity ran out",
		Counts: map[string]int64{"acquire-ok": 14, "write-ok": 14, "holds": 14}}
	res.AddAnomaly(checkers.Anomaly{Kind: "write-after-validity",
		Message: fmt.Sprintf("process 2's write of 6 was invoked at %s, %s after its hold's validity ran out at %s, and accepted without a fencing token; process 3 had written at %s in between",
			secs(lateInv.Time), dur(time.Duration(lateInv.Time-at(3.7)-validity)), secs(at(3.7)+validity), secs(otherOK.Time)),
		Ops: []history.Op{lateInv, lateOK, otherOK}, Processes: []int{2, 3}, Nodes: []string{"n3"}, Fault: &fault})
	rs := checkers.Results{Valid: checkers.Invalid, Checkers: map[string]checkers.Result{"lock-safety": res}}
	return &fixture{hdr: h, cfg: storedConfig(h, 4, "chaos", "run", "redlock", "--workload", "lock-set", "--nemesis", "client-pause"), ops: ops, results: &rs}
}

// labelFixture is an ids run with many anomalies close together in time,
// in three clusters, so their labels cannot all sit in one row.
func labelFixture() *fixture {
	f := snowflakeFixture()
	res := f.results.Checkers["ids/unique"]
	var oks []history.Op
	for _, op := range f.ops {
		if op.Type == history.OK && op.Process >= 0 {
			oks = append(oks, op)
		}
	}
	for i, at := range []int{40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 200, 203, 206, 380, 381, 382, 383, 384, 385, 386} {
		op := oks[at]
		res.AddAnomaly(checkers.Anomaly{Kind: "duplicate-id", Message: fmt.Sprintf("duplicate %d: ID %s issued twice", i, op.Value),
			Ops: []history.Op{op}, Processes: []int{op.Process}, Nodes: []string{op.Node}})
	}
	res.Summary = fmt.Sprintf("%d duplicate IDs", len(res.Anomalies))
	f.results.Checkers["ids/unique"] = res
	return f
}
