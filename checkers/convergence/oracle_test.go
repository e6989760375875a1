package convergence_test

// An independent judge of convergence histories, written from the checker's
// definition (see the package comment) and sharing no code with it, run
// against the checker on small random histories built from a simulated
// store with one or two things gone wrong.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/checkers/convergence"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/internal/oracletest"
)

var oStart = time.Unix(1_900_000_000, 0)

type oVer struct {
	hlc    uint64
	origin string
}

func (a oVer) less(b oVer) bool {
	return a.hlc < b.hlc || (a.hlc == b.hlc && a.origin < b.origin)
}

// oEntry is one held or logged version.
type oEntry struct {
	Key     string `json:"key,omitempty"`
	Value   string `json:"value"`
	Deleted bool   `json:"deleted"`
	HLC     uint64 `json:"hlc"`
	Origin  string `json:"origin"`
	At      int64  `json:"at,omitempty"`
}

func (e oEntry) ver() oVer { return oVer{e.HLC, e.Origin} }

type oDump struct {
	Node     string              `json:"node"`
	Entries  []oEntry            `json:"entries"`
	Log      map[string][]oEntry `json:"log"`
	Quiesced bool                `json:"quiesced"`
}

type oWrite struct {
	inv     history.Op
	out     history.Type
	value   string
	deleted bool
	ver     oVer
	hasVer  bool
}

// oracleConvergence judges h from the definition, one key at a time.
func oracleConvergence(h *history.File) (checkers.Validity, map[string]bool) {
	kinds := map[string]bool{}
	pairs, ok := oracletest.Pairs(h.Ops)
	if !ok {
		return checkers.Unknown, kinds
	}
	var writes []*oWrite
	type read struct {
		key, value string
	}
	var reads []read
	dumps := map[string]oDump{}
	for _, p := range pairs {
		switch p.Inv.F {
		case "write", "delete":
			w := &oWrite{inv: p.Inv, out: p.Outcome(), deleted: p.Inv.F == "delete"}
			if !w.deleted {
				n, err := strconv.ParseInt(string(p.Inv.Value), 10, 64)
				if err != nil {
					return checkers.Unknown, kinds
				}
				w.value = strconv.FormatInt(n, 10)
				for _, o := range writes {
					if !o.deleted && o.inv.Key == w.inv.Key && o.value == w.value {
						return checkers.Unknown, kinds
					}
				}
			}
			if w.out == history.OK {
				var a struct {
					HLC    uint64 `json:"hlc"`
					Origin string `json:"origin"`
				}
				if json.Unmarshal(p.Done.Value, &a) == nil && a.Origin != "" {
					w.ver, w.hasVer = oVer{a.HLC, a.Origin}, true
				}
			}
			writes = append(writes, w)
		case "read":
			if p.Outcome() == history.OK && string(p.Done.Value) != "null" && len(p.Done.Value) > 0 {
				reads = append(reads, read{p.Inv.Key, string(p.Done.Value)})
			}
		case "dump":
			if p.Outcome() == history.OK {
				var d oDump
				if json.Unmarshal(p.Done.Value, &d) != nil {
					return checkers.Unknown, kinds
				}
				dumps[p.Inv.Node] = d
			}
		}
	}
	byValue := func(key, value string) *oWrite {
		for _, w := range writes {
			if !w.deleted && w.inv.Key == key && w.value == value {
				return w
			}
		}
		return nil
	}
	var dumpNodes []string
	for n := range dumps {
		dumpNodes = append(dumpNodes, n)
	}
	sort.Strings(dumpNodes)
	// Every sighting of a value in a dump, entries first: it gives a write
	// whose acknowledgement had no version the version it was seen under,
	// and makes an indeterminate write one that happened.
	seen := map[*oWrite]bool{}
	for _, r := range reads {
		if w := byValue(r.key, r.value); w != nil {
			seen[w] = true
		}
	}
	sight := func(key string, e oEntry) {
		if e.Deleted {
			return
		}
		if w := byValue(key, e.Value); w != nil {
			seen[w] = true
			if !w.hasVer {
				w.ver, w.hasVer = e.ver(), true
			}
		}
	}
	for _, n := range dumpNodes {
		for _, e := range dumps[n].Entries {
			sight(e.Key, e)
		}
		for key, l := range dumps[n].Log {
			for _, e := range l {
				sight(key, e)
			}
		}
	}
	happened := func(w *oWrite) bool {
		return w.out == history.OK || (w.out == history.Info && seen[w])
	}
	for _, r := range reads {
		if w := byValue(r.key, r.value); w == nil || w.out == history.Fail {
			kinds["phantom-read"] = true
		}
	}
	keys := map[string]bool{}
	for _, w := range writes {
		keys[w.inv.Key] = true
	}
	for _, d := range dumps {
		for _, e := range d.Entries {
			keys[e.Key] = true
		}
	}
	for _, w := range writes {
		if w.deleted || w.out != history.Fail {
			continue
		}
		for _, d := range dumps {
			for _, e := range d.Entries {
				if e.Key == w.inv.Key && !e.Deleted && e.Value == w.value {
					kinds["failed-write-visible"] = true
				}
			}
			for _, e := range d.Log[w.inv.Key] {
				if !e.Deleted && e.Value == w.value {
					kinds["failed-write-visible"] = true
				}
			}
		}
	}
	nodes := append([]string(nil), h.Header.Nodes...)
	if len(nodes) == 0 {
		nodes = dumpNodes
	}
	missing := false
	for _, n := range nodes {
		if _, ok := dumps[n]; !ok {
			missing = true
		}
	}
	if len(dumps) > 0 {
		for key := range keys {
			// What every node that dumped holds.
			var states []string
			var final oEntry
			found := false
			for _, n := range nodes {
				d, ok := dumps[n]
				if !ok {
					continue
				}
				s := "none"
				for _, e := range d.Entries {
					if e.Key == key {
						s = fmt.Sprintf("%v/%s/%d/%s", e.Deleted, e.Value, e.HLC, e.Origin)
						if e.Deleted {
							s = fmt.Sprintf("del/%d/%s", e.HLC, e.Origin)
						}
						final, found = e, true
					}
				}
				states = append(states, s)
			}
			agree := true
			for _, s := range states {
				agree = agree && s == states[0]
			}
			if !agree {
				kinds["disagreement"] = true
				continue
			}
			var winner *oWrite
			if found {
				holds := func(w *oWrite) bool {
					if w.deleted || final.Deleted {
						return w.deleted == final.Deleted
					}
					return w.value == final.Value
				}
				// The write of the held version, the one holding the value
				// if two share it.
				for _, w := range writes {
					if w.inv.Key == key && w.hasVer && w.ver == final.ver() && (winner == nil || !holds(winner)) {
						winner = w
					}
				}
				if winner != nil && !holds(winner) && winner.out != history.Fail {
					if winner.out == history.OK {
						kinds["lost-write"] = true
					} else {
						kinds["phantom-value"] = true
					}
				}
				if winner == nil && !final.Deleted {
					winner = byValue(key, final.Value)
				}
				if winner == nil || winner.out == history.Fail {
					kinds["phantom-value"] = true
					continue
				}
			}
			for _, w := range writes {
				if w.inv.Key != key || w == winner || !happened(w) {
					continue
				}
				if !w.hasVer {
					if w.out == history.OK {
						kinds["lost-write"] = true
					}
					continue
				}
				if found && w.ver.less(final.ver()) {
					continue
				}
				if w.out == history.OK {
					kinds["lost-write"] = true
				} else {
					kinds["lww-violation"] = true
				}
			}
		}
	}
	switch {
	case len(kinds) > 0:
		return checkers.Invalid, kinds
	case missing || len(dumps) == 0:
		return checkers.Unknown, kinds
	}
	for _, w := range writes {
		if w.out == history.OK {
			return checkers.Valid, kinds
		}
	}
	return checkers.Unknown, kinds // nothing acknowledged: nothing shown
}

// randomKVHistory simulates a last-writer-wins store of three nodes and
// records its history: writes and deletes with every outcome, reads, a
// partition, and the final dumps, then damages it in one or two of the
// ways a broken store would.
func randomKVHistory(r *rand.Rand) *history.File {
	nodes := []string{"n1", "n2", "n3"}
	h := &history.File{Header: history.Header{Nodes: nodes, Start: oStart}}
	var ops []history.Op
	now := int64(0)
	add := func(op history.Op) {
		op.Index, op.Time = int64(len(ops)), now
		ops = append(ops, op)
	}
	keys := []string{"a", "b"}[:1+r.IntN(2)]
	type applied struct {
		oEntry
		key string
	}
	var hist = map[string][]applied{} // key -> versions in the order made
	hlc := uint64(100)
	next := int64(1)
	var failedVals []applied
	retired := map[int]bool{}
	steps := 2 + r.IntN(10)
	for s := 0; s < steps; s++ {
		now += int64(1+r.IntN(3)) * 1e6
		p := r.IntN(4)
		for retired[p] {
			p += 4
		}
		k := keys[r.IntN(len(keys))]
		node := nodes[r.IntN(len(nodes))]
		switch c := r.IntN(10); {
		case c == 0:
			add(history.Op{Process: history.NemesisProcess, Type: history.Invoke, F: "partition", Node: node})
			add(history.Op{Process: history.NemesisProcess, Type: history.OK, F: "partition", Node: node})
		case c < 3: // read of something held, or not
			add(history.Op{Process: p, Type: history.Invoke, F: "read", Key: k, Node: node})
			v := json.RawMessage("null")
			if l := hist[k]; len(l) > 0 && !l[len(l)-1].Deleted {
				v = json.RawMessage(l[len(l)-1].Value)
			}
			if r.IntN(25) == 0 {
				v = json.RawMessage("999")
			}
			now += 1e6
			add(history.Op{Process: p, Type: history.OK, F: "read", Key: k, Node: node, Value: v})
		default:
			del := r.IntN(6) == 0
			hlc += uint64(r.IntN(3))
			e := oEntry{HLC: hlc, Origin: node, Deleted: del}
			inv := history.Op{Process: p, Type: history.Invoke, F: "write", Key: k, Node: node}
			if del {
				inv.F = "delete"
			} else {
				e.Value = strconv.FormatInt(next, 10)
				inv.Value = history.Int(next)
				next++
			}
			add(inv)
			now += 1e6
			done := history.Op{Process: p, F: inv.F, Key: k, Node: node}
			switch o := r.IntN(10); {
			case o == 0:
				done.Type = history.Fail
				failedVals = append(failedVals, applied{e, k})
			case o == 1:
				done.Type = history.Info
				if r.IntN(2) == 0 {
					hist[k] = append(hist[k], applied{e, k})
				}
			default:
				done.Type = history.OK
				ack := map[string]any{"hlc": e.HLC, "origin": e.Origin}
				if !del {
					ack["value"] = next - 1
				}
				if r.IntN(10) > 0 {
					done.Value = history.JSON(ack)
				}
				hist[k] = append(hist[k], applied{e, k})
			}
			if r.IntN(8) > 0 || done.Type != history.Info {
				add(done)
			} else {
				retired[p] = true // open to the end
			}
		}
	}
	// Dumps use processes of their own.
	now += 50e6
	add(history.Op{Process: history.NemesisProcess, Type: history.Invoke, F: "heal"})
	add(history.Op{Process: history.NemesisProcess, Type: history.OK, F: "heal"})
	// The converged state: per key the newest version that took effect.
	final := map[string]*oEntry{}
	for k, l := range hist {
		for i := range l {
			if final[k] == nil || final[k].ver().less(l[i].ver()) {
				e := l[i].oEntry
				final[k] = &e
			}
		}
	}
	state := make([]map[string]*oEntry, len(nodes))
	logs := make([]map[string][]oEntry, len(nodes))
	for i := range nodes {
		state[i] = map[string]*oEntry{}
		logs[i] = map[string][]oEntry{}
		for k, e := range final {
			c := *e
			state[i][k] = &c
		}
		for k, l := range hist {
			var best *oEntry
			for _, a := range l {
				if best == nil || best.ver().less(a.ver()) {
					e := a.oEntry
					e.At = oStart.UnixNano() + now
					logs[i][k] = append(logs[i][k], e)
					best = &e
				}
			}
		}
	}
	// Damage.
	dumped := len(nodes)
	for d := r.IntN(3); d > 0; d-- {
		i := r.IntN(len(nodes))
		k := keys[r.IntN(len(keys))]
		switch r.IntN(7) {
		case 0: // one node keeps an older version
			if l := hist[k]; len(l) > 1 {
				e := l[r.IntN(len(l)-1)].oEntry
				state[i][k] = &e
			}
		case 1: // every node keeps an older version
			if l := hist[k]; len(l) > 1 {
				e := l[r.IntN(len(l)-1)].oEntry
				for j := range nodes {
					c := e
					state[j][k] = &c
				}
			}
		case 2: // the newest version, an old value, everywhere
			if l := hist[k]; len(l) > 1 && final[k] != nil {
				old := l[r.IntN(len(l)-1)].oEntry
				for j := range nodes {
					c := *final[k]
					c.Value, c.Deleted = old.Value, old.Deleted
					state[j][k] = &c
				}
			}
		case 3: // a failed write taken by one node, for a while
			if len(failedVals) > 0 {
				f := failedVals[r.IntN(len(failedVals))]
				e := f.oEntry
				e.At = oStart.UnixNano() + now
				logs[i][f.key] = append([]oEntry{e}, logs[i][f.key]...)
			}
		case 4: // a node loses the key
			delete(state[i], k)
		case 5: // a value nobody wrote
			for j := range nodes {
				state[j][k] = &oEntry{Value: "777", HLC: hlc + 50, Origin: "n1"}
			}
		case 6: // a missing dump
			dumped = len(nodes) - 1
		}
	}
	for i, n := range nodes[:dumped] {
		d := oDump{Node: n, Log: logs[i], Quiesced: true}
		var ks []string
		for k := range state[i] {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			e := *state[i][k]
			e.Key, e.At = k, 0
			d.Entries = append(d.Entries, e)
		}
		now += 1e6
		p := 100 + i
		add(history.Op{Process: p, Type: history.Invoke, F: "dump", Node: n})
		add(history.Op{Process: p, Type: history.OK, F: "dump", Node: n, Value: history.JSON(d)})
	}
	h.Ops = ops
	return h
}

func agreeKV(seed uint64) (string, checkers.Validity, error) {
	h := randomKVHistory(rand.New(rand.NewPCG(seed, 0xc0)))
	res := convergence.New().Check(context.Background(), h)
	want, kinds := oracleConvergence(h)
	return oracletest.Compare(fmt.Sprintf("seed %d", seed), h, res, want, kinds)
}

// KVOracleHistories is how many random histories go test compares.
const KVOracleHistories = 600

func TestCheckerAgreesWithBruteForceOracle(t *testing.T) {
	oracletest.Run(t, KVOracleHistories, oracletest.Min{Valid: 50, Invalid: 50, Unknown: 5}, agreeKV)
}

func FuzzCheckerAgreesWithOracle(f *testing.F) {
	oracletest.Fuzz(f, agreeKV, 5)
}
