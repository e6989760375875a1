// Package docker is the second runtime: every node runs in its own container
// on a bridge network made for the run, created through testcontainers-go and
// driven through the Docker API client it uses (github.com/moby/moby/client).
//
// The engine needs no registry. Images are built locally FROM scratch and
// tagged by a hash of their content, so an unchanged binary is never built
// twice: our own node programs run from the chaos binary (static, or shipped
// with its loader and libraries), a foreign program such as Redis from its
// host binary and the shared libraries it and its LD_PRELOAD libraries
// (libfaketime) need, all at their host paths.
//
// Faults are real and go through the engine or the kernel: kill, start,
// pause (the cgroup freezer) and unpause are Docker API calls; a partition is
// a set of nftables rules, written over netlink from the host into the
// receiving container's network namespace, one per directed link. Clients on
// the host reach each node at an address of the node's that only they use,
// so one client can be cut off while the others and the harness's probes
// still get through. Clocks move without CAP_SYS_TIME: our services take an
// offset on their control port, libfaketime reads a timestamp file on the
// node's mounted directory.
//
// Nothing stays behind: every container and network carries the run's
// labels, Teardown removes them after copying each container's log into the
// run directory, and Clean removes what a killed harness left. The reaper of
// testcontainers (Ryuk) is off; it would need an image pull.
package docker
