package nemesis

import "github.com/chaostest/chaos/core"

// Register adds the fault kinds of this package to r.
func Register(r *core.Registry) {
	r.AddNemesis(core.NemesisInfo{Name: "clock", Summary: "bump, roll back and strobe one node's clock; reset it (the host clock is never touched)",
		Params: ClockParams, New: NewClock})
	r.AddNemesis(core.NemesisInfo{Name: "aimed-rollback", Summary: "once a node has answered ok for a while, roll its clock back past what it just answered with (event-triggered; the record names the answer)",
		Params: AimedRollbackParams, New: NewAimedRollback})
	r.AddNemesis(core.NemesisInfo{Name: "read-isolate", Summary: "when a read on a node completes ok, cut that node off from the others until a write of the key was acknowledged elsewhere and the node was read again (event-triggered; stale reads)",
		Params: ReadIsolateParams, New: NewReadIsolate})
	r.AddNemesis(core.NemesisInfo{Name: "kill", Summary: "kill a node with SIGKILL and start it again, at once or after --kill-restart-delay",
		Params: KillParams, New: NewKill})
	r.AddNemesis(core.NemesisInfo{Name: "pause", Summary: "freeze a node with SIGSTOP and resume it with SIGCONT",
		New: NewPause})
	r.AddNemesis(core.NemesisInfo{Name: "partition", Summary: "cut links between nodes and between clients and nodes (halves, random halves, isolate, majorities ring, bridge, one-way, clients) or slow them; heal; each record holds the exact grudge",
		Params: PartitionParams, New: NewPartition})
	r.AddNemesis(core.NemesisInfo{Name: "packet", Summary: "delay, jitter, drop, reorder or rate-limit the packets on the links of all, one, a minority or a majority of the nodes (Jepsen's packet nemesis); heal",
		Params: PacketParams, New: NewPacket})
}
