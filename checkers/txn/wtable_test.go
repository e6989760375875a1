package txn

import (
	"math/rand/v2"
	"testing"
)

// The table agrees with a map, through growth, negative values and keys
// whose values collide.
func TestWTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tab := newWTable(3)
	ref := map[kv]int32{}
	for i := range 20000 {
		k := kv{int32(rng.IntN(50)), rng.Int64N(4000) - 2000}
		j, fresh := tab.put(k.key, k.val, int32(i))
		if old, had := ref[k]; had {
			if fresh || j != old {
				t.Fatalf("put %v again: got %d fresh=%v, want %d", k, j, fresh, old)
			}
			continue
		}
		if !fresh || j != int32(i) {
			t.Fatalf("put %v: got %d fresh=%v", k, j, fresh)
		}
		ref[k] = int32(i)
	}
	for k, want := range ref {
		if got, ok := tab.get(k.key, k.val); !ok || got != want {
			t.Fatalf("get %v: %d %v, want %d", k, got, ok, want)
		}
	}
	if _, ok := tab.get(99, 0); ok {
		t.Fatal("found a pair never put")
	}
	n := 0
	tab.each(func(k kv, j int32) {
		n++
		if ref[k] != j {
			t.Fatalf("each: %v -> %d, want %d", k, j, ref[k])
		}
	})
	if n != len(ref) || tab.n != len(ref) {
		t.Fatalf("each saw %d, n %d, want %d", n, tab.n, len(ref))
	}
}
