package linearizable

import (
	"fmt"
	"math"
	"slices"

	"github.com/anishathalye/porcupine"
)

// The read-mapping check: an exact O(n log n) decision for read/write and
// compare-and-set registers whose written values are unique (Gibbons and
// Korach, "Testing shared memories", 1997; Lowe, "Testing for
// linearizability", 2017), extended to cas and to indeterminate operations.
//
// With unique values every observation names the one operation that produced
// the value it saw, so a linearization is an order of values (nil first),
// each value's "segment" holding its producer and then its observers. An ok
// cas(a, b) both ends a's segment and starts b's, so it chains b right after
// a. Reducing the history first, exactly:
//
//   - an info read constrains nothing and is dropped;
//   - an info write or cas whose value no operation that must happen
//     observes may be taken as never having happened, and is dropped
//     (removing it from any linearization leaves one: nobody that remains
//     looked at its value). What is left all happened: an info operation
//     that remains returns at +inf.
//
// Each segment s then has a deadline D(s), the earliest return among its
// operations, and a reach M(s), the latest invocation. Segment u may come
// before segment v only if M(u) <= D(v). A chain of segments is one block
// with D the minimum and M the maximum, after an internal check of its
// fixed order. Two blocks with D(v) < M(u) and D(u) < M(v) cannot be ordered
// either way: that pair is the witness. Without such a pair, blocks sorted by
// min(D, M) form a linearization. Every valid verdict is nevertheless
// certified by replaying the linearization built (model steps and real-time
// order); every invalid verdict rests on a local argument whose operations
// are the witness. Anything else (a value written twice, an info operation
// whose effect is uncertain, a proof that does not hold up) is undecided here
// and goes to porcupine.

// rmVerdict is the read-mapping check's answer for one partition.
type rmVerdict int

const (
	rmUndecided rmVerdict = iota
	rmOk
	rmIllegal
)

// rmWitness explains an illegal verdict: ops indexes the partition's
// operations involved, the most telling first.
type rmWitness struct {
	reason string
	ops    []int
}

const inf = math.MaxInt64

type segment struct {
	value    int64
	producer int   // -1 for the initial nil
	readers  []int // ok reads of the value
	consumer int   // the cas that ends the segment, -1 for none
	d, m     int64 // deadline and reach
	dArg     int   // operation returning at d
	mArg     int   // operation invoked at m
}

type block struct {
	segs       []*segment
	d, m       int64
	dArg, mArg int
	dSeg, mSeg *segment
}

// readMapping decides a register partition when its values are unique; ops
// hold regInput/regOutput with Call and Return in record order (an
// indeterminate operation returns after everything).
func readMapping(ops []porcupine.Operation) (rmVerdict, *rmWitness) {
	n := len(ops)
	ins := make([]regInput, n)
	outs := make([]regOutput, n)
	for i := range ops {
		in, ok1 := ops[i].Input.(regInput)
		out, ok2 := ops[i].Output.(regOutput)
		if !ok1 || !ok2 {
			return rmUndecided, nil
		}
		if in.op == opCAS && (in.a == nilValue || in.a == anyValue) || in.op == opRead && !out.unknown && out.v == anyValue {
			return rmUndecided, nil
		}
		ins[i], outs[i] = in, out
	}
	// Producers, by value: every value written at most once, never nil.
	producer := make(map[int64]int, n/2)
	for i, in := range ins {
		var v int64
		switch in.op {
		case opWrite:
			v = in.a
		case opCAS:
			v = in.b
		default:
			continue
		}
		if v == nilValue || v == anyValue {
			return rmUndecided, nil
		}
		if _, dup := producer[v]; dup {
			return rmUndecided, nil
		}
		producer[v] = i
	}
	// Which operations must have happened: the ok ones, and transitively the
	// producer of every value such an operation observed.
	must := make([]bool, n)
	var work []int
	for i := range ops {
		if !outs[i].unknown {
			must[i] = true
			work = append(work, i)
		}
	}
	observed := func(i int) (int64, bool) {
		switch ins[i].op {
		case opRead:
			return outs[i].v, true
		case opCAS:
			return ins[i].a, true
		}
		return 0, false
	}
	for len(work) > 0 {
		i := work[len(work)-1]
		work = work[:len(work)-1]
		v, ok := observed(i)
		if !ok || v == nilValue {
			continue
		}
		if p, found := producer[v]; found && !must[p] {
			must[p] = true
			work = append(work, p)
		}
	}
	// Segments.
	segs := make(map[int64]*segment, len(producer)+1)
	seg := func(v int64) *segment {
		s := segs[v]
		if s == nil {
			s = &segment{value: v, producer: -1, consumer: -1}
			segs[v] = s
		}
		return s
	}
	seg(nilValue)
	for i := range ops {
		if !must[i] {
			continue
		}
		in := ins[i]
		switch in.op {
		case opWrite:
			seg(in.a).producer = i
		case opCAS:
			seg(in.b).producer = i
			s := seg(in.a)
			if s.consumer >= 0 {
				return rmIllegal, &rmWitness{ops: []int{s.consumer, i},
					reason: fmt.Sprintf("two compare-and-sets both found %s and replaced it, but the value was written only once", describeValue(in.a))}
			}
			s.consumer = i
		case opRead:
			seg(outs[i].v).readers = append(seg(outs[i].v).readers, i)
		}
	}
	values := make([]int64, 0, len(segs))
	for v := range segs {
		values = append(values, v)
	}
	slices.Sort(values)
	for _, v := range values {
		s := segs[v]
		if v != nilValue && s.producer < 0 {
			obs := s.consumer
			if len(s.readers) > 0 {
				obs = s.readers[0]
			}
			return rmIllegal, &rmWitness{ops: []int{obs},
				reason: fmt.Sprintf("the value %s was observed but no operation that may have happened wrote it", describeValue(v))}
		}
		s.d, s.m, s.dArg, s.mArg = inf, math.MinInt64, -1, -1
		if s.producer >= 0 {
			p := ops[s.producer]
			s.d, s.dArg, s.m, s.mArg = p.Return, s.producer, p.Call, s.producer
		}
		for _, r := range s.readers {
			o := ops[r]
			if s.producer >= 0 && o.Return < ops[s.producer].Call {
				return rmIllegal, &rmWitness{ops: []int{r, s.producer},
					reason: fmt.Sprintf("the read of %s returned before the operation that wrote %s was invoked", describeValue(v), describeValue(v))}
			}
			if o.Return < s.d {
				s.d, s.dArg = o.Return, r
			}
			if o.Call > s.m {
				s.m, s.mArg = o.Call, r
			}
		}
	}
	// Blocks: chains of segments linked by cas, from the nil segment or a
	// segment a write started.
	var blocks []*block
	reached := 0
	for _, v := range values {
		s := segs[v]
		if v != nilValue && ins[s.producer].op != opWrite {
			continue
		}
		b := &block{d: inf, m: math.MinInt64, dArg: -1, mArg: -1}
		for cur := s; ; {
			reached++
			if cur.d < b.d || b.dArg < 0 && cur.dArg >= 0 {
				b.d, b.dArg, b.dSeg = cur.d, cur.dArg, cur
			}
			// The fixed order inside a chain: everything of the segments
			// before cur was invoked no later than cur's deadline.
			if len(b.segs) > 0 && b.m > cur.d {
				return rmIllegal, &rmWitness{ops: []int{cur.dArg, b.mArg, cur.producer},
					reason: fmt.Sprintf("the value %s came after %s through a chain of compare-and-sets, but an operation on %s returned before an operation on %s was invoked",
						describeValue(cur.value), describeValue(b.mSeg.value), describeValue(cur.value), describeValue(b.mSeg.value))}
			}
			if cur.m > b.m {
				b.m, b.mArg, b.mSeg = cur.m, cur.mArg, cur
			}
			b.segs = append(b.segs, cur)
			if cur.consumer < 0 {
				break
			}
			cur = segs[ins[cur.consumer].b]
		}
		blocks = append(blocks, b)
	}
	if reached != len(segs) {
		// Segments no chain reaches: cas values that go round in a circle.
		var cyc []int
		for _, v := range values {
			if s := segs[v]; s.producer >= 0 && ins[s.producer].op == opCAS && len(cyc) < maxWitnessOps {
				cyc = append(cyc, s.producer)
			}
		}
		return rmIllegal, &rmWitness{ops: cyc,
			reason: "compare-and-sets go round in a circle: each needs a value only another of them writes"}
	}
	// blocks[0] is the nil block (nilValue sorts first); it comes first.
	rest := blocks[1:]
	key := func(b *block) int64 { return min(b.d, b.m) }
	slices.SortStableFunc(rest, func(x, y *block) int {
		kx, ky := key(x), key(y)
		switch {
		case kx < ky:
			return -1
		case kx > ky:
			return 1
		}
		return 0
	})
	t, tBlock := blocks[0].m, blocks[0]
	for _, b := range rest {
		if t > b.d {
			u := tBlock
			if u == blocks[0] {
				return rmIllegal, &rmWitness{ops: []int{u.mArg, b.dArg},
					reason: fmt.Sprintf("a read of null was invoked after an operation on %s returned, but null is only the initial value", describeValue(b.dSeg.value))}
			}
			if !(u.d < b.m) {
				return rmUndecided, nil // the pair does not prove it; let the search decide
			}
			return rmIllegal, &rmWitness{ops: []int{b.dArg, u.mArg, u.dArg, b.mArg},
				reason: fmt.Sprintf("the values %s and %s cannot be ordered: an operation on %s returned before an operation on %s was invoked, and an operation on %s returned before an operation on %s was invoked",
					describeValue(u.mSeg.value), describeValue(b.mSeg.value),
					describeValue(b.dSeg.value), describeValue(u.mSeg.value),
					describeValue(u.dSeg.value), describeValue(b.mSeg.value))}
		}
		if b.m > t {
			t, tBlock = b.m, b
		}
	}
	// Certify: replay the order built against the model and real time.
	order := make([]int, 0, n)
	for _, b := range blocks {
		for _, s := range b.segs {
			if s.producer >= 0 {
				order = append(order, s.producer)
			}
			rs := slices.Clone(s.readers)
			slices.SortFunc(rs, func(x, y int) int { return cmpInt64(ops[x].Call, ops[y].Call) })
			order = append(order, rs...)
		}
	}
	if !certify(ops, must, order) {
		return rmUndecided, nil
	}
	return rmOk, nil
}

// certify checks that order is a linearization of the operations in must:
// each exactly once, every model step legal (an indeterminate one taken as
// having happened), and no operation placed after one invoked after it
// returned.
func certify(ops []porcupine.Operation, must []bool, order []int) bool {
	want := 0
	for _, m := range must {
		if m {
			want++
		}
	}
	if len(order) != want {
		return false
	}
	seen := make([]bool, len(ops))
	state := int64(nilValue)
	maxCall := int64(math.MinInt64)
	for _, i := range order {
		if !must[i] || seen[i] {
			return false
		}
		seen[i] = true
		op := ops[i]
		maxCall = max(maxCall, op.Call)
		if op.Return < maxCall {
			return false
		}
		in, out := op.Input.(regInput), op.Output.(regOutput)
		switch in.op {
		case opRead:
			if out.unknown || state != out.v {
				return false
			}
		case opWrite:
			state = in.a
		case opCAS:
			if state != in.a {
				return false
			}
			state = in.b
		}
	}
	return true
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
