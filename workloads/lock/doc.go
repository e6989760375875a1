// Package lock is the distributed-lock workload, in two shapes:
//
//   - "lock": every worker acquires the lock and releases it, over and over.
//   - "lock-set": every worker acquires the lock, reads the protected
//     resource, holds the lock for a while, writes the resource back with one
//     element of its own added, and releases (the shape of Jepsen's etcd
//     lock-set test). A final read after the heal shows which acknowledged
//     writes survived.
//
// # The op contract
//
// Any lock target's client implements these operations; the lock-safety
// checker (package checkers/lock) reads nothing else. Key is the lock's name
// on every op.
//
//	f        invoke value        ok value       fail means              info means
//	acquire  AcquireArgs         Grant          not granted             may hold it
//	release  null                Release        held nothing to release may have released
//	read     ReadArgs            ReadResult     not holding the lock    (reads change nothing)
//	write    WriteArgs           WriteResult    rejected (not applied)  may have been applied
//
// A client keeps the grant of its last successful acquire: read and write
// act under it and fail at once, sending nothing, when the client holds
// nothing; release forgets it whatever the outcome. Validity in a Grant is
// counted from the acquire's invocation, so the checker can place the
// deadline on the history's own time line; a lock that reports no validity
// (etcd's lease-backed mutex, for example) leaves it zero.
//
// The protected resource belongs to the harness, not to the system under
// test (see Resource): it is an ordered list of integers with an access log,
// and it can enforce fencing tokens. A read marked Final is the one read
// taken after every fault is healed; it needs no lock.
package lock
