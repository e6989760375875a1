// Package zookeeper is the ZooKeeper target: a real ZooKeeper 3.8 ensemble
// from Debian's zookeeper package, one server per node, each its own JVM
// started by the harness (never the package's service), with its zoo.cfg,
// myid and data inside the node's directory of the run.
//
// A node is the node program `chaos node zookeeper`, which writes the
// server's configuration and then runs java in its own process group, so
// the runtime's SIGKILL and SIGSTOP reach the JVM itself. Every server gets
// its own zoo.cfg: its own entry is where it listens, the others' are the
// runtime's addresses for its links to them, and the JVM's connections go
// through a SOCKS relay in the node process that sends election call-backs
// through the caller's link too (callback.go), so a partition in the
// runtime's link proxies cuts exactly the server-to-server paths it names.
//
// Clients use github.com/go-zookeeper/zk, one session each, over the
// client's links to every server (its own node first):
//   - lock and lock-set: the standard recipe (ephemeral sequential znodes
//     under the lock's directory, the lowest holds, each waiter watches its
//     predecessor); the fencing token is the znode's sequence number;
//   - ids: a persistent sequential znode per ID, the ID its sequence number.
package zookeeper
