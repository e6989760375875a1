package ids

// dupSet is what duplicates finds: the values that occur more than once, and
// how many copies beyond the first there are in all.
type dupSet struct {
	values []uint64
	extra  int64
}

// duplicates finds repeated values with a radix sort of ids, which it
// reorders: linear time, and fast enough for tens of millions of IDs.
func duplicates(ids []uint64) dupSet {
	var d dupSet
	if len(ids) < 2 {
		return d
	}
	sorted := radixSort(ids)
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			d.extra++
			if i == 1 || sorted[i-2] != sorted[i] {
				d.values = append(d.values, sorted[i])
			}
		}
	}
	return d
}

// radixSort sorts a in place (returning the sorted slice, which may be a
// different backing array) with four 16-bit LSD passes, skipping passes in
// which every key has the same digit; snowflake IDs of one run share their
// high bits, so usually only two or three passes run.
func radixSort(a []uint64) []uint64 {
	const bits, passes = 16, 4
	var counts [passes][1 << bits]int
	for _, v := range a {
		for p := 0; p < passes; p++ {
			counts[p][(v>>(p*bits))&(1<<bits-1)]++
		}
	}
	buf := make([]uint64, len(a))
	src, dst := a, buf
	for p := 0; p < passes; p++ {
		c := &counts[p]
		if c[(src[0]>>(p*bits))&(1<<bits-1)] == len(src) {
			continue // every key has this digit: the pass would not move anything
		}
		sum := 0
		for i := range c {
			c[i], sum = sum, sum+c[i]
		}
		shift := uint(p * bits)
		for _, v := range src {
			d := (v >> shift) & (1<<bits - 1)
			dst[c[d]] = v
			c[d]++
		}
		src, dst = dst, src
	}
	return src
}
