package reports

import (
	"encoding/json"

	"github.com/chaostest/chaos/history"
)

// hold is one stretch in which a process held a lock, as the lock contract
// records it (package workloads/lock): from the acquire's acknowledgement to
// the release's invocation (or the next acquire of the same lock, or the end
// of the history). Expires is where the lease the lock granted ran out,
// counted from the acquire's invocation; 0 when the lock reported none.
type hold struct {
	Process    int
	Key        string
	Start, End int64
	Expires    int64
}

// grantValidity is the part of an acquire's ok value (lock.Grant) the
// timeline needs.
type grantValidity struct {
	Validity int64 `json:"validity_ns"`
}

// lockHolds finds the holds in a history's client pairs, in invocation
// order, and for each write the hold it ran under (by invocation index).
func lockHolds(pairs []history.Pair, end int64) (holds []hold, writeHold map[int64]int) {
	type hk struct {
		p   int
		key string
	}
	cur := map[hk]int{}
	writeHold = map[int64]int{}
	for i := range pairs {
		p := &pairs[i]
		inv := &p.Invoke
		k := hk{inv.Process, inv.Key}
		switch inv.F {
		case "release":
			if j, ok := cur[k]; ok {
				holds[j].End = inv.Time
				delete(cur, k)
			}
		case "acquire":
			if p.Outcome() != history.OK {
				continue
			}
			if j, ok := cur[k]; ok {
				holds[j].End = inv.Time
			}
			h := hold{Process: inv.Process, Key: inv.Key, Start: p.Complete.Time, End: end}
			var g grantValidity
			if len(p.Complete.Value) > 0 && json.Unmarshal(p.Complete.Value, &g) == nil && g.Validity > 0 {
				h.Expires = inv.Time + g.Validity
			}
			cur[k] = len(holds)
			holds = append(holds, h)
		case "write":
			if j, ok := cur[k]; ok {
				writeHold[inv.Index] = j
			}
		}
	}
	return holds, writeHold
}
