// Package etcd is the etcd target: a real etcd v3 cluster whose members each
// run as their own process, so the runtime can kill and pause them one by one.
//
// A member is the node program `chaos node etcd`, which embeds etcd's own
// server (go.etcd.io/etcd/server/v3/embed) with its data directory inside the
// run's store. Peer traffic between members goes through the runtime's fault
// layer: members name each other by host names that never resolve
// ("n2.chaos.invalid"), and each member sends its peer requests through a
// small forward proxy inside its own process that dials the address the
// runtime gave it for that link. Cluster membership therefore stays identical
// on every member while every member-to-member link can still be cut.
//
// Clients use go.etcd.io/etcd/client/v3, each talking to exactly one member:
//   - register: read, write and compare-and-set of integer registers, the
//     compare-and-set as a transaction, reads linearizable unless the
//     etcd-serializable-reads test flag asks for local (possibly stale) reads;
//   - lock and lock-set: concurrency.Mutex over a session with a short lease
//     (2 s, Jepsen's setting). lock-set either keeps the protected set in the
//     harness (nothing fences a holder whose lease ran out) or in etcd, written
//     only by a transaction guarded on the lock key's create revision, the
//     fencing token etcd itself recommends.
package etcd
