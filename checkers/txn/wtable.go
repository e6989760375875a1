package txn

import "math/bits"

// wtable maps a written (key, value) to the write's index: an open
// addressing table with linear probing, because a history of millions of
// appends spends more time in a general map's hashing of kv than in all
// the rest of the inference.
type wtable struct {
	slots []wslot
	shift uint8
	n     int
}

// wslot is one slot; j is the write's index plus one, zero when empty.
type wslot struct {
	val int64
	key int32
	j   int32
}

// newWTable returns a table for n entries, at most half full.
func newWTable(n int) *wtable {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	return &wtable{slots: make([]wslot, size), shift: uint8(64 - bits.TrailingZeros(uint(size)))}
}

func (t *wtable) hash(key int32, val int64) uint64 {
	h := (uint64(val) ^ uint64(uint32(key))<<40 ^ uint64(uint32(key))) * 0x9E3779B97F4A7C15
	return h >> t.shift
}

// get returns the index of the write of val to key.
func (t *wtable) get(key int32, val int64) (int32, bool) {
	mask := uint64(len(t.slots) - 1)
	for i := t.hash(key, val); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.j == 0 {
			return 0, false
		}
		if s.val == val && s.key == key {
			return s.j - 1, true
		}
	}
}

// put records write j of val to key; when that pair is already there it
// returns the earlier write's index and false.
func (t *wtable) put(key int32, val int64, j int32) (int32, bool) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	for i := t.hash(key, val); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.j == 0 {
			*s = wslot{val: val, key: key, j: j + 1}
			t.n++
			return j, true
		}
		if s.val == val && s.key == key {
			return s.j - 1, false
		}
	}
}

func (t *wtable) grow() {
	old := t.slots
	*t = *newWTable(len(old))
	for _, s := range old {
		if s.j != 0 {
			t.put(s.key, s.val, s.j-1)
		}
	}
}

// each calls f for every entry, in no particular order.
func (t *wtable) each(f func(k kv, j int32)) {
	for _, s := range t.slots {
		if s.j != 0 {
			f(kv{s.key, s.val}, s.j-1)
		}
	}
}
