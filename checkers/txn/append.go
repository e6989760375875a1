package txn

import (
	"fmt"
	"math"
	"sort"
)

// kv names one written value of one key.
type kv struct {
	key int32
	val int64
}

// wref is what is known of one appended (or written) value.
type wref struct {
	txn int32
	// last is set when this is its transaction's final write to the key.
	last bool
	// pos is the value's position in the key's version order, -1 while
	// no read has shown it.
	pos int32
}

// aread is one read of a committed transaction, with its own appends
// before it split off: ext is what the rest of the database had installed.
type aread struct {
	txn  int32
	key  int32
	full []int64
	ext  []int64
	// beforeOwn is set when the transaction had not yet appended to the
	// key: the read and a later append make a read-modify-write.
	beforeOwn bool
	ok        bool // internally consistent
}

const emptyRead = math.MinInt64

// indexWrites maps every written value to its writer, refusing values
// written twice: the workload contract makes every value unique, and the
// inference rests on it.
func (a *analysis) indexWrites(kind byte) (map[kv]int32, []wref, error) {
	writes := 0
	for ti := range a.txns {
		for _, m := range a.txns[ti].mops {
			if m.f == kind {
				writes++
			}
		}
	}
	// Sized up front: a history of millions of appends would otherwise
	// spend much of its time growing the map.
	idx := make(map[kv]int32, writes)
	ws := make([]wref, 0, writes)
	lastSeen := map[int32]bool{}
	for ti := range a.txns {
		t := &a.txns[ti]
		clear(lastSeen)
		for mi := len(t.mops) - 1; mi >= 0; mi-- {
			m := t.mops[mi]
			if m.f != kind {
				continue
			}
			k := kv{m.key, m.val}
			if j, dup := idx[k]; dup {
				return nil, nil, fmt.Errorf("value %d was written to key %s twice (%s and %s): the workload's values must be unique, so this history breaks its contract",
					m.val, a.keyName(m.key), a.name(ws[j].txn), a.name(int32(ti)))
			}
			idx[k] = int32(len(ws))
			ws = append(ws, wref{txn: int32(ti), last: !lastSeen[m.key], pos: -1})
			lastSeen[m.key] = true
		}
	}
	return idx, ws, nil
}

// listAppend infers the dependency graph of a list-append history and
// reports the anomalies that need no cycle.
func (a *analysis) listAppend() error {
	idx, ws, err := a.indexWrites(mopAppend)
	if err != nil {
		return err
	}
	// Reads of committed transactions, split into own and external parts.
	nreads := 0
	for ti := range a.txns {
		if a.txns[ti].status == committed {
			for _, m := range a.txns[ti].mops {
				if m.f == mopRead {
					nreads++
				}
			}
		}
	}
	reads := make([]aread, 0, nreads)
	own := map[int32][]int64{}
	for ti := range a.txns {
		t := &a.txns[ti]
		if t.status != committed {
			continue
		}
		clear(own)
		for _, m := range t.mops {
			switch m.f {
			case mopAppend:
				own[m.key] = append(own[m.key], m.val)
			case mopRead:
				full := m.list
				if !m.known {
					full = nil // null: the key holds nothing
				}
				r := aread{txn: int32(ti), key: m.key, full: full, beforeOwn: len(own[m.key]) == 0, ok: true}
				mine := own[m.key]
				if len(mine) > len(full) || !equal(full[len(full)-len(mine):], mine) {
					r.ok = false
					a.anomaly(Internal, fmt.Sprintf("%s appended %v to %s and then read %s = %v, which does not end with its own appends",
						a.name(int32(ti)), mine, a.keyName(m.key), a.keyName(m.key), full), nil, int32(ti))
				} else {
					r.ext = full[:len(full)-len(mine)]
				}
				reads = append(reads, r)
			}
		}
	}
	// The version order of each key is its longest read; every other read
	// must be a prefix of it.
	nkeys := len(a.dec.names)
	longest := make([]int, nkeys) // index into reads, -1 for none
	for i := range longest {
		longest[i] = -1
	}
	for i := range reads {
		r := &reads[i]
		if l := longest[r.key]; l < 0 || len(r.full) > len(reads[l].full) {
			longest[r.key] = i
		}
	}
	bad := make([]bool, nkeys) // keys whose order cannot be trusted
	for i := range reads {
		r := &reads[i]
		lr := &reads[longest[r.key]]
		if !equal(lr.full[:len(r.full)], r.full) {
			r.ok = false
			if !bad[r.key] {
				bad[r.key] = true
				a.incompatible(r, lr, idx, ws)
			}
		}
	}
	order := make([][]int64, nkeys)
	for k := range nkeys {
		if longest[k] < 0 {
			continue
		}
		lr := &reads[longest[k]]
		vals := lr.full
		seen := make(map[int64]bool, len(vals))
		for p, v := range vals {
			if seen[v] {
				bad[k] = true
				a.anomaly(DuplicateElement, fmt.Sprintf("%s read %s = %v, which holds %d twice: every append is of a unique value",
					a.name(lr.txn), a.keyName(int32(k)), vals, v), nil, lr.txn)
				break
			}
			seen[v] = true
			j, ok := idx[kv{int32(k), v}]
			if !ok {
				bad[k] = true
				a.anomaly(GarbageRead, fmt.Sprintf("%s read %s = %v, but no transaction appended %d to %s",
					a.name(lr.txn), a.keyName(int32(k)), vals, v, a.keyName(int32(k))), nil, lr.txn)
				continue
			}
			w := &ws[j]
			w.pos = int32(p)
			wt := &a.txns[w.txn]
			switch wt.status {
			case aborted:
				a.anomaly(G1a, fmt.Sprintf("%s read %s = %v, which holds %d, appended by %s, which failed (aborted)",
					a.name(a.firstReader(reads, int32(k), p)), a.keyName(int32(k)), vals[:p+1], v, a.name(w.txn)), nil, a.firstReader(reads, int32(k), p), w.txn)
			case unsure:
				wt.observed = true
			}
		}
		order[k] = vals
	}
	// A transaction's appends to one key are installed together and in its
	// order: the ones any read shows are its first ones, next to each other.
	seq := map[int32][]int64{}
	for ti := range a.txns {
		t := &a.txns[ti]
		if !t.in() {
			continue
		}
		clear(seq)
		for _, m := range t.mops {
			if m.f == mopAppend {
				seq[m.key] = append(seq[m.key], m.val)
			}
		}
		keys := make([]int32, 0, len(seq))
		for k := range seq {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, k := range keys {
			vals := seq[k]
			if len(vals) < 2 || bad[k] {
				continue
			}
			prev := ws[idx[kv{k, vals[0]}]].pos
			for _, v := range vals[1:] {
				p := ws[idx[kv{k, v}]].pos
				if (prev < 0 && p >= 0) || (prev >= 0 && p >= 0 && p != prev+1) {
					bad[k] = true
					a.anomaly(IncompatibleOrd, fmt.Sprintf("%s appended %v to %s in that order, but %s's order of versions is %v",
						a.name(int32(ti)), vals, a.keyName(k), a.keyName(k), order[k]), nil, int32(ti))
					break
				}
				prev = p
			}
		}
	}
	// A read must not show the transaction's own appends as if another had
	// made them: before the transaction appended them (a read from its own
	// future), or anywhere but at the end.
	for i := range reads {
		r := &reads[i]
		if !r.ok || bad[r.key] {
			continue
		}
		for _, m := range a.txns[r.txn].mops {
			if m.f != mopAppend || m.key != r.key {
				continue
			}
			if p := ws[idx[kv{m.key, m.val}]].pos; p >= 0 && int(p) < len(r.ext) {
				r.ok = false
				a.anomaly(Internal, fmt.Sprintf("%s read %s = %v, which holds its own append of %d in a place its own appends do not explain",
					a.name(r.txn), a.keyName(r.key), r.full, m.val), nil, r.txn)
				break
			}
		}
	}
	// Intermediate reads: a read that ends at a value its writer went on
	// to follow with another append to the same key.
	for i := range reads {
		r := &reads[i]
		if !r.ok || len(r.ext) == 0 {
			continue
		}
		v := r.ext[len(r.ext)-1]
		j, ok := idx[kv{r.key, v}]
		if !ok {
			continue
		}
		if w := ws[j]; !w.last && w.txn != r.txn && a.txns[w.txn].status != aborted {
			a.anomaly(G1b, fmt.Sprintf("%s read %s = %v, ending with %d, which %s appended before appending again to %s: it saw an intermediate state of %s",
				a.name(r.txn), a.keyName(r.key), r.full, v, a.name(w.txn), a.keyName(r.key), a.name(w.txn)), nil, r.txn, w.txn)
		}
	}
	// Appends of committed transactions that no read showed come after
	// every version that was read, in no known order among themselves.
	unseen := make([][]kv, nkeys)
	for k, j := range idx {
		w := ws[j]
		if w.pos < 0 && a.txns[w.txn].in() {
			unseen[k.key] = append(unseen[k.key], k)
		}
	}
	for k := range unseen {
		sort.Slice(unseen[k], func(i, j int) bool { return unseen[k][i].val < unseen[k][j].val })
	}
	// About one ww edge per append, a wr and an rw per read, and a few rt
	// edges per transaction.
	g := newGraph(len(a.txns), len(ws)+2*len(reads)+8*len(a.txns))
	a.g = g
	writer := func(k int32, v int64) (int32, bool) {
		j, ok := idx[kv{k, v}]
		if !ok || !a.txns[ws[j].txn].in() {
			return 0, false
		}
		return ws[j].txn, true
	}
	for k := range nkeys {
		if bad[k] {
			continue
		}
		vals := order[k]
		for p := 1; p < len(vals); p++ {
			w1, ok1 := writer(int32(k), vals[p-1])
			w2, ok2 := writer(int32(k), vals[p])
			if ok1 && ok2 {
				g.add(w1, w2, ww, int32(k), vals[p-1])
			}
		}
		if len(vals) > 0 {
			if w1, ok := writer(int32(k), vals[len(vals)-1]); ok {
				for _, u := range unseen[k] {
					g.add(w1, ws[idx[u]].txn, ww, int32(k), vals[len(vals)-1])
				}
			}
		}
	}
	rmw := map[kv][]int32{}
	for i := range reads {
		r := &reads[i]
		if !r.ok || bad[r.key] {
			continue
		}
		vals := order[r.key]
		m := len(r.ext)
		if m > 0 {
			if w, ok := writer(r.key, r.ext[m-1]); ok {
				g.add(w, r.txn, wr, r.key, r.ext[m-1])
			}
		}
		if m < len(vals) {
			if w, ok := writer(r.key, vals[m]); ok {
				g.add(r.txn, w, rw, r.key, vals[m])
			}
		} else {
			for _, u := range unseen[r.key] {
				g.add(r.txn, ws[idx[u]].txn, rw, r.key, u.val)
			}
		}
		if r.beforeOwn && a.appendsTo(r.txn, r.key) {
			last := int64(emptyRead)
			if m > 0 {
				last = r.ext[m-1]
			}
			rk := kv{r.key, last}
			if l := rmw[rk]; len(l) == 0 || l[len(l)-1] != r.txn {
				rmw[rk] = append(l, r.txn)
			}
		}
	}
	a.lostUpdates(rmw)
	a.realtime()
	g.finish()
	return nil
}

// appendsTo reports whether transaction t appends (or writes) to key.
func (a *analysis) appendsTo(t, key int32) bool {
	for _, m := range a.txns[t].mops {
		if (m.f == mopAppend || m.f == mopWrite) && m.key == key {
			return true
		}
	}
	return false
}

// firstReader returns a committed transaction whose read of key holds the
// value at position p, preferring the shortest such read.
func (a *analysis) firstReader(reads []aread, key int32, p int) int32 {
	best, bestLen := int32(-1), math.MaxInt
	for i := range reads {
		r := &reads[i]
		if r.key == key && len(r.full) > p && len(r.full) < bestLen {
			best, bestLen = r.txn, len(r.full)
		}
	}
	return best
}

// lostUpdates reports transactions that read the same version of a key and
// both wrote it: one of the writes was made without seeing the other.
func (a *analysis) lostUpdates(rmw map[kv][]int32) {
	keys := make([]kv, 0, len(rmw))
	for k, ts := range rmw {
		if len(ts) > 1 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].key != keys[j].key {
			return keys[i].key < keys[j].key
		}
		return keys[i].val < keys[j].val
	})
	for _, k := range keys {
		ts := rmw[k]
		seen := "nothing"
		if k.val != emptyRead {
			seen = fmt.Sprintf("the version ending with %d", k.val)
			if a.c.kind == RWRegister {
				seen = fmt.Sprintf("%d", k.val)
			}
		}
		names := make([]string, len(ts))
		for i, t := range ts {
			names[i] = a.name(t)
		}
		verb := "appended to"
		if a.c.kind == RWRegister {
			verb = "wrote"
		}
		a.anomaly(LostUpdate, fmt.Sprintf("%s each read %s of %s and then %s %s: each write was made without seeing the others'",
			joinNames(names), seen, a.keyName(k.key), verb, a.keyName(k.key)), nil, ts...)
	}
}

func joinNames(ns []string) string {
	switch len(ns) {
	case 0:
		return ""
	case 1:
		return ns[0]
	}
	s := ns[0]
	for _, n := range ns[1 : len(ns)-1] {
		s += ", " + n
	}
	return s + " and " + ns[len(ns)-1]
}

// realtime adds an rt edge from each transaction to those that began after
// it completed. Edges implied by others are left out: a transaction leaves
// the frontier once a later one that began after it has completed, since
// everything it precedes that one precedes too. Record order, not time,
// decides: two records with the same time are ordered as written.
func (a *analysis) realtime() {
	type event struct {
		index int64
		t     int32
		inv   bool
	}
	ev := make([]event, 0, 2*len(a.txns))
	for i := range a.txns {
		t := &a.txns[i]
		if !t.in() {
			continue
		}
		ev = append(ev, event{int64(t.inv), int32(i), true})
		if t.status == committed {
			ev = append(ev, event{int64(t.comp), int32(i), false})
		}
	}
	sort.Slice(ev, func(i, j int) bool { return ev[i].index < ev[j].index })
	var frontier []int32
	for _, e := range ev {
		if e.inv {
			for _, f := range frontier {
				a.g.add(f, e.t, rt, -1, 0)
			}
			continue
		}
		invAt := a.txns[e.t].inv
		keep := frontier[:0]
		for _, f := range frontier {
			if a.txns[f].comp > invAt {
				keep = append(keep, f)
			}
		}
		frontier = append(keep, e.t)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// incompatible reports two reads of one key that no single order of appends
// explains, naming where they part and who appended what is there, without
// printing lists that may hold thousands of elements.
func (a *analysis) incompatible(r, lr *aread, idx map[kv]int32, ws []wref) {
	d := 0
	for d < len(r.full) && r.full[d] == lr.full[d] {
		d++
	}
	who := func(v int64) string {
		j, ok := idx[kv{r.key, v}]
		if !ok {
			return "appended by nobody"
		}
		t := ws[j].txn
		st := "committed"
		switch a.txns[t].status {
		case aborted:
			st = "failed"
		case unsure:
			st = "indeterminate"
		}
		return fmt.Sprintf("appended by %s, %s", a.name(t), st)
	}
	k := a.keyName(r.key)
	msg := fmt.Sprintf("%s read %s = %s and %s read %s = %s: both begin with the same %d elements, then one holds %d (%s) where the other holds %d (%s); no single order of appends explains both",
		a.name(r.txn), k, excerpt(r.full, d), a.name(lr.txn), k, excerpt(lr.full, d), d, r.full[d], who(r.full[d]), lr.full[d], who(lr.full[d]))
	a.anomaly(IncompatibleOrd, msg, map[string]any{"key": k, "agree": d, "reads": [][]int64{r.full, lr.full}}, r.txn, lr.txn)
}

// excerpt renders a list around position d: at most two elements before it
// and two from it, with the count of those left out.
func excerpt(l []int64, d int) string {
	lo, hi := max(0, d-2), min(len(l), d+2)
	s := "["
	if lo > 0 {
		s += fmt.Sprintf("...%d elements... ", lo)
	}
	for i := lo; i < hi; i++ {
		if i > lo {
			s += " "
		}
		s += fmt.Sprint(l[i])
	}
	if hi < len(l) {
		s += fmt.Sprintf(" ...%d more]", len(l)-hi)
	} else {
		s += "]"
	}
	return s
}
