package lock

// The op values of the lock contract (documented in package workloads/lock).
// Durations are int64 nanoseconds so that a history stays exact.

// AcquireArgs is the invoke value of acquire.
type AcquireArgs struct {
	// TTL is the lease the client asks for.
	TTL int64 `json:"ttl_ns,omitempty"`
	// Delay is how long the client waits before it sends anything; the
	// acquire takes effect, if at all, after it.
	Delay int64 `json:"delay_ns,omitempty"`
}

// Grant is the ok value of acquire: what the lock told the client.
type Grant struct {
	// Token identifies this hold (the random value Redis stores, an etcd
	// key...).
	Token string `json:"token"`
	// Fence is the fencing token, when the lock gives one: larger means a
	// later grant.
	Fence *int64 `json:"fence,omitempty"`
	// Validity is how long the hold is good for, counted from the
	// acquire's invocation; 0 when the lock reports none.
	Validity int64 `json:"validity_ns,omitempty"`
	// Nodes are the nodes that granted the lock, sorted.
	Nodes []string `json:"nodes,omitempty"`
	// Client is the endpoint of the client that holds it ("c0", ...), the
	// name partitions and pauses use.
	Client string `json:"client,omitempty"`
}

// Release is the ok value of release.
type Release struct {
	Token string `json:"token,omitempty"`
	// Nodes are the nodes on which the release took effect.
	Nodes []string `json:"nodes,omitempty"`
}

// ReadArgs is the invoke value of read.
type ReadArgs struct {
	// Hold is how long the client keeps the lock after reading, before the
	// read completes.
	Hold int64 `json:"hold_ns,omitempty"`
	// Final marks the read taken after the heal, without the lock.
	Final bool `json:"final,omitempty"`
}

// ReadResult is the ok value of read.
type ReadResult struct {
	Set   []int64 `json:"set"`
	Token string  `json:"token,omitempty"`
}

// WriteArgs is the invoke value of write: the element this write adds to
// what the client read.
type WriteArgs struct {
	Add int64 `json:"add"`
}

// WriteResult is the ok value of write.
type WriteResult struct {
	Add int64 `json:"add"`
	// Set is what the client wrote: its read plus Add.
	Set   []int64 `json:"set"`
	Token string  `json:"token,omitempty"`
	Fence *int64  `json:"fence,omitempty"`
	// Seq is the resource's acceptance order of this write, from 1.
	Seq int64 `json:"seq"`
}
