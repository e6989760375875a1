package lock

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// ErrStaleFence is returned by Resource.Write when fencing is on and the
// write's token is lower than one already accepted, or missing.
var ErrStaleFence = errors.New("rejected by fencing")

// Access is one entry of a resource's access log.
type Access struct {
	Time   time.Time `json:"time"`
	Client string    `json:"client"`
	Op     string    `json:"op"` // read or write
	Token  string    `json:"token,omitempty"`
	Fence  *int64    `json:"fence,omitempty"`
	// Seq is the acceptance order of a write, 0 for reads and rejections.
	Seq      int64 `json:"seq,omitempty"`
	Rejected bool  `json:"rejected,omitempty"`
}

// Resource is the thing a lock protects, owned by the harness: an ordered
// list of integers that holders read and write back whole, so two holders at
// once lose one's update. It logs every access and, with fencing on, rejects
// any write whose fencing token is lower than the highest it has accepted
// (Kleppmann's storage-side check). Safe for concurrent use.
type Resource struct {
	fencing bool
	now     func() time.Time

	mu       sync.Mutex
	set      []int64
	seq      int64
	maxFence int64
	fenced   bool
	log      []Access
}

// NewResource returns an empty resource.
func NewResource(fencing bool) *Resource { return &Resource{fencing: fencing, now: time.Now} }

// Fencing reports whether the resource enforces fencing tokens.
func (r *Resource) Fencing() bool { return r.fencing }

// Read returns a copy of the current contents.
func (r *Resource) Read(client, token string) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, Access{Time: r.now(), Client: client, Op: "read", Token: token})
	out := slices.Clone(r.set)
	if out == nil {
		out = []int64{}
	}
	return out
}

// Write replaces the contents with set and returns the write's acceptance
// sequence number (1, 2, ...). With fencing on, a write whose fence is nil or
// lower than the highest accepted one is rejected with ErrStaleFence and
// changes nothing.
func (r *Resource) Write(client, token string, fence *int64, set []int64) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := Access{Time: r.now(), Client: client, Op: "write", Token: token, Fence: fence}
	if r.fencing {
		switch {
		case fence == nil:
			a.Rejected = true
			r.log = append(r.log, a)
			return 0, fmt.Errorf("%w: the write carries no fencing token", ErrStaleFence)
		case r.fenced && *fence < r.maxFence:
			a.Rejected = true
			r.log = append(r.log, a)
			return 0, fmt.Errorf("%w: token %d is lower than %d, already accepted", ErrStaleFence, *fence, r.maxFence)
		}
	}
	if fence != nil && (!r.fenced || *fence > r.maxFence) {
		r.maxFence, r.fenced = *fence, true
	}
	r.seq++
	a.Seq = r.seq
	r.set = slices.Clone(set)
	r.log = append(r.log, a)
	return r.seq, nil
}

// Log returns a copy of the access log.
func (r *Resource) Log() []Access {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log)
}

// Resources holds one Resource per lock name, made on first use.
type Resources struct {
	fencing bool
	mu      sync.Mutex
	m       map[string]*Resource
}

// NewResources returns an empty set of resources.
func NewResources(fencing bool) *Resources {
	return &Resources{fencing: fencing, m: map[string]*Resource{}}
}

// Get returns the resource protected by the named lock.
func (rs *Resources) Get(key string) *Resource {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := rs.m[key]
	if r == nil {
		r = NewResource(rs.fencing)
		rs.m[key] = r
	}
	return r
}

// Keys lists the lock names in use, sorted.
func (rs *Resources) Keys() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	ks := make([]string, 0, len(rs.m))
	for k := range rs.m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
