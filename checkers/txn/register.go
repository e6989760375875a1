package txn

import "fmt"

// rw-register: micro-operations ["w", k, v] and ["r", k, v|null] over
// registers that start out empty (null), every written value unique per key.
//
// Unlike a list, a register's value says nothing about the versions before
// it, so the version order of a key is inferred only from evidence, never
// assumed:
//
//   - the initial null comes before every written version;
//   - a committed transaction that read v (or null) from k and then wrote w
//     to k installed w after v: its read and its commit bracket w (Elle's
//     "writes follow reads" within one transaction, which every model from
//     read committed up implies);
//   - a read of w says only that w's writer came before the reader (wr).
//
// From those facts: ww from the writer of v to the writer of w, wr from
// the writer of what was read to the reader, and rw from the reader of v to
// the writer of each version known to follow v (the reader of null to every
// writer, since null precedes them all). Such an edge may skip versions in
// between; a cycle through it stands for one through the versions it
// skips with the same rw edges, so what it classifies is sound.
//
// When every key's known facts chain its versions into one line from null
// (each version's writer read the version before it, and no version was
// read-and-overwritten twice), the graph is Adya's exactly and the verdict
// is as exact as list-append's. When they do not (blind writes, writes of
// info transactions whose reads were lost), anomalies found are still real,
// but the absence of one proves nothing: every model not already violated
// is reported unknown, naming the key whose order could not be inferred.

// rread is one external read of a committed transaction: a read of a key
// before the transaction wrote it.
type rread struct {
	txn int32
	key int32
	val int64
	nil bool // read the initial null
	w   int32
}

// noWrite marks a read whose value has no writer in the graph.
const noWrite = -1

func (a *analysis) rwRegister() error {
	idx, ws, err := a.indexWrites(mopWrite)
	if err != nil {
		return err
	}
	nkeys := len(a.dec.names)
	var reads []rread
	// pred is, per write (index into ws), the index of the version its
	// writer read from the key before writing it: predNil for null,
	// predUnknown when it did not read the key first (or its reads were
	// not recorded), predBad when what it read is not a version.
	const (
		predUnknown = -2
		predNil     = -1
		predBad     = -3
	)
	pred := make([]int32, len(ws))
	for i := range pred {
		pred[i] = predUnknown
	}
	type kstate struct {
		wrote    bool
		own      int64
		read     bool
		readNil  bool
		readVal  int64
		readFrom int32
	}
	st := map[int32]*kstate{}
	rmw := map[kv][]int32{}
	for ti := range a.txns {
		t := &a.txns[ti]
		if t.status != committed {
			continue
		}
		clear(st)
		for _, m := range t.mops {
			s := st[m.key]
			if s == nil {
				s = &kstate{}
				st[m.key] = s
			}
			if m.f == mopRead && m.list != nil {
				return fmt.Errorf("%s read %s = a list: rw-register reads return one value or null", a.name(int32(ti)), a.keyName(m.key))
			}
			switch m.f {
			case mopWrite:
				if !s.wrote && s.read {
					// The read-then-write: this transaction's version of
					// the key follows what it read.
					last := int64(emptyRead)
					if !s.readNil {
						last = s.readVal
					}
					rk := kv{m.key, last}
					rmw[rk] = append(rmw[rk], int32(ti))
				}
				s.wrote, s.own = true, m.val
				if j := idx[kv{m.key, m.val}]; ws[j].last && s.read {
					switch {
					case s.readNil:
						pred[j] = predNil
					case s.readFrom >= 0:
						pred[j] = s.readFrom
					default:
						pred[j] = predBad
					}
				}
			case mopRead:
				isNil := !m.known
				if s.wrote {
					if isNil || m.val != s.own {
						a.anomaly(Internal, fmt.Sprintf("%s wrote %d to %s and then read %s = %s: a transaction must see its own last write",
							a.name(int32(ti)), s.own, a.keyName(m.key), a.keyName(m.key), regValue(m.val, isNil)), nil, int32(ti))
					}
					continue
				}
				r := rread{txn: int32(ti), key: m.key, val: m.val, nil: isNil, w: noWrite}
				if !isNil {
					j, ok := idx[kv{m.key, m.val}]
					switch {
					case !ok:
						a.anomaly(GarbageRead, fmt.Sprintf("%s read %s = %d, but no transaction wrote %d to %s",
							a.name(int32(ti)), a.keyName(m.key), m.val, m.val, a.keyName(m.key)), nil, int32(ti))
					case ws[j].txn == int32(ti):
						a.anomaly(Internal, fmt.Sprintf("%s read %s = %d before it wrote %d there itself: a read from its own future",
							a.name(int32(ti)), a.keyName(m.key), m.val, m.val), nil, int32(ti))
						j = noWrite
					}
					if ok {
						r.w = j
					}
				}
				if s.read && (s.readNil != isNil || (!isNil && s.readVal != m.val)) {
					// Two reads of one key in one transaction that see
					// different versions: no snapshot, and no point in a
					// serial order, shows both.
					a.anomaly(GSingle, fmt.Sprintf("%s read %s twice without writing it and saw %s, then %s: it read two versions of %s, so it observed another transaction's write midway (a non-repeatable read)",
						a.name(int32(ti)), a.keyName(m.key), regValue(s.readVal, s.readNil), regValue(m.val, isNil), a.keyName(m.key)), nil, int32(ti))
				}
				s.read, s.readNil, s.readVal, s.readFrom = true, isNil, m.val, r.w
				reads = append(reads, r)
			}
		}
	}
	// What the reads say about their writers: aborted reads, intermediate
	// reads, and info transactions that must have committed.
	for i := range reads {
		r := &reads[i]
		if r.w < 0 {
			continue
		}
		w := &ws[r.w]
		wt := &a.txns[w.txn]
		switch wt.status {
		case aborted:
			a.anomaly(G1a, fmt.Sprintf("%s read %s = %d, which %s wrote and then failed (aborted)",
				a.name(r.txn), a.keyName(r.key), r.val, a.name(w.txn)), nil, r.txn, w.txn)
			continue
		case unsure:
			wt.observed = true
		}
		if !w.last {
			a.anomaly(G1b, fmt.Sprintf("%s read %s = %d, which %s wrote before writing %s again: it saw an intermediate state of %s",
				a.name(r.txn), a.keyName(r.key), r.val, a.name(w.txn), a.keyName(r.key), a.name(w.txn)), nil, r.txn, w.txn)
		}
	}
	// The versions of each key, and what is known to follow what.
	versions := make([][]int32, nkeys) // ws indices of installed versions
	for j := range ws {
		if ws[j].last && a.txns[ws[j].txn].in() {
			k := a.writeKey(j, idx)
			versions[k] = append(versions[k], int32(j))
		}
	}
	a.g = newGraph(len(a.txns), len(ws)+2*len(reads)+8*len(a.txns))
	a.prevOf = map[kv]string{}
	inVersion := func(j int32) bool { return j >= 0 && ws[j].last && a.txns[ws[j].txn].in() }
	next := map[int32][]int32{} // version (predNil for null) -> versions known to follow it directly
	var gap string
	for k := range nkeys {
		vs := versions[k]
		if len(vs) == 0 {
			continue
		}
		clear(next)
		why := ""
		for _, j := range vs {
			p := pred[j]
			switch {
			case p == predUnknown || p == predBad:
				if why == "" {
					why = fmt.Sprintf("nothing says what %s's write of %d to %s followed", a.name(ws[j].txn), a.writeVal(j, idx), a.keyName(int32(k)))
				}
				// Null precedes every version.
				next[predNil] = append(next[predNil], j)
				continue
			case p >= 0 && !inVersion(p):
				if why == "" {
					why = fmt.Sprintf("%s wrote %s after reading a value that is not a committed version", a.name(ws[j].txn), a.keyName(int32(k)))
				}
				continue
			}
			next[p] = append(next[p], j)
		}
		if why == "" {
			// A chain from null through every version?
			at, n := int32(predNil), 0
			for {
				c := next[at]
				if len(c) != 1 {
					if len(c) > 1 {
						why = fmt.Sprintf("%d transactions each overwrote the same version of %s", len(c), a.keyName(int32(k)))
					}
					break
				}
				at = c[0]
				n++
			}
			if why == "" && n != len(vs) {
				why = fmt.Sprintf("the writes to %s do not form one line from its initial null", a.keyName(int32(k)))
			}
		}
		if why != "" && gap == "" {
			gap = why
		}
		a.registerEdges(int32(k), vs, pred, next, reads, ws, idx)
	}
	if gap != "" {
		a.undecided[VersionOrder] = true
		a.orderGap = "the version order of some keys cannot be inferred from the history (" + gap + "), so the absence of a cycle proves nothing"
	}
	a.lostUpdates(rmw)
	a.realtime()
	a.g.finish()
	return nil
}

// registerEdges adds the edges of one key. It is called key by key, after
// the graph exists.
func (a *analysis) registerEdges(k int32, vs []int32, pred []int32, next map[int32][]int32, reads []rread, ws []wref, idx map[kv]int32) {
	g := a.g
	for _, j := range vs {
		p := pred[j]
		switch {
		case p >= 0 && a.txns[ws[p].txn].in():
			g.add(ws[p].txn, ws[j].txn, ww, k, a.writeVal(p, idx))
			a.prevOf[kv{k, a.writeVal(j, idx)}] = fmt.Sprint(a.writeVal(p, idx))
		case p == -1:
			a.prevOf[kv{k, a.writeVal(j, idx)}] = "null"
		}
	}
	// A reader of null precedes every writer; so many edges are bounded,
	// and leaving some out only finds less.
	budget := 4*(len(vs)+len(reads)) + 1024
	for i := range reads {
		r := &reads[i]
		if r.key != k {
			continue
		}
		var after []int32
		if r.nil {
			after = next[-1]
		} else if r.w >= 0 && a.txns[ws[r.w].txn].in() {
			g.add(ws[r.w].txn, r.txn, wr, k, r.val)
			after = next[r.w]
		}
		for _, j := range after {
			if budget--; budget < 0 {
				break
			}
			g.add(r.txn, ws[j].txn, rw, k, a.writeVal(j, idx))
		}
	}
}

// writeKey and writeVal name write j; the index is small and kept apart
// from wref, so list-append's analysis does not pay for it.
func (a *analysis) writeKey(j int, idx map[kv]int32) int32 {
	a.fillWriteNames(idx)
	return a.wnames[j].key
}

func (a *analysis) writeVal(j int32, idx map[kv]int32) int64 {
	a.fillWriteNames(idx)
	return a.wnames[j].val
}

func (a *analysis) fillWriteNames(idx map[kv]int32) {
	if a.wnames != nil {
		return
	}
	a.wnames = make([]kv, len(idx))
	for k, j := range idx {
		a.wnames[j] = k
	}
}

func regValue(v int64, isNil bool) string {
	if isNil {
		return "null"
	}
	return fmt.Sprint(v)
}
