package docker

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	goruntime "runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/linkproxy"
)

// AllClients stands for every client endpoint in a link, as the partition
// nemesis writes it.
const AllClients = "c*"

// tableName is the nftables table this runtime owns in each container's
// network namespace. Nothing else of the container's is touched.
const tableName = "chaos"

// dropRule drops packets on one hook of a node's namespace that match every
// address that is set.
type dropRule struct {
	Hook hook
	Src  netip.Addr
	Dst  netip.Addr
	// Loss, when above zero, drops only that share of the packets, at
	// random: a lossy link rather than a cut one.
	Loss float64
	// Queued rules hand the packet to NFQUEUE queue Queue, where the
	// harness delays it (see queue.go), instead of dropping it.
	Queued bool
	Queue  uint16
}

// queueSpec is one queue a node's rules feed, with the shape the harness
// gives its packets.
type queueSpec struct {
	Num   uint16
	Shape linkproxy.Shape
}

// delays says whether a shape needs the packets in user space: anything but
// loss, which a rule does in the kernel.
func delays(s linkproxy.Shape) bool {
	return s.Latency > 0 || s.Jitter > 0 || s.Reorder > 0 || s.Rate > 0
}

// rulesWithShapes plans the rules of node for the cut links and, after
// them, for the shaped ones: per distinct shape, its loss as random drops,
// then the rest as a queue rule. It returns the queues the rules feed.
func rulesWithShapes(node string, a addressing, cut map[core.Link]bool, shapes map[core.Link]linkproxy.Shape) ([]dropRule, []queueSpec) {
	out := linkRules(node, a, cut, 0)
	groups := map[linkproxy.Shape]map[core.Link]bool{}
	for l, s := range shapes {
		if cut[l] || s == (linkproxy.Shape{}) {
			continue
		}
		if groups[s] == nil {
			groups[s] = map[core.Link]bool{}
		}
		groups[s][l] = true
	}
	keys := make([]linkproxy.Shape, 0, len(groups))
	for s := range groups {
		keys = append(keys, s)
	}
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	var specs []queueSpec
	for _, s := range keys {
		if s.Loss > 0 {
			out = append(out, linkRules(node, a, groups[s], s.Loss)...)
		}
		if !delays(s) {
			continue
		}
		num := uint16(len(specs))
		rs := linkRules(node, a, groups[s], 0)
		for i := range rs {
			rs[i].Queued, rs[i].Queue = true, num
		}
		if len(rs) > 0 {
			q := s
			q.Loss = 0
			specs = append(specs, queueSpec{Num: num, Shape: q})
			out = append(out, rs...)
		}
	}
	return out, specs
}

// hook is where a rule sits.
type hook int

const (
	// hookInput: packets for this node, after address translation.
	hookInput hook = iota
	// hookPre: every arriving packet before address translation, so a
	// client's own address of the node is still visible.
	hookPre
	// hookPost: every leaving packet after translation, so an answer to a
	// client carries the client's own address of the node again.
	hookPost
)

func (h hook) String() string { return [...]string{"input", "prerouting", "postrouting"}[h] }

func (r dropRule) String() string {
	s := r.Hook.String()
	if r.Src.IsValid() {
		s += " saddr " + r.Src.String()
	}
	if r.Dst.IsValid() {
		s += " daddr " + r.Dst.String()
	}
	if r.Loss > 0 {
		s += fmt.Sprintf(" numgen random mod 1000 < %d", lossPermille(r.Loss))
	}
	if r.Queued {
		return s + fmt.Sprintf(" queue num %d bypass", r.Queue)
	}
	return s + " drop"
}

func lossPermille(p float64) uint32 {
	n := uint32(p*1000 + 0.5)
	return min(max(n, 1), 1000)
}

// addressing is what the rules are written against: the nodes' own
// addresses, the host's address on the network (where clients live), and the
// per-client addresses of each node.
type addressing struct {
	node    map[string]netip.Addr
	gateway netip.Addr
	// alias is the address at which client endpoint c reaches node n.
	alias map[[2]string]netip.Addr
}

// rulesFor plans the drop rules of node for the cut links. A directed link
// From→To is cut where its packets arrive: node links in To's input hook by
// the sender's address; client links by the node's per-client address, as
// packets arrive (client→node) or leave (node→client). The node's
// main address stays reachable from the host, so readiness probes and clock
// control keep working during a partition.
func rulesFor(node string, a addressing, cut map[core.Link]bool) []dropRule {
	return rulesWithLoss(node, a, cut, nil)
}

// rulesWithLoss plans the rules of node for the cut links and, after them,
// for the lossy ones.
func rulesWithLoss(node string, a addressing, cut map[core.Link]bool, loss map[core.Link]float64) []dropRule {
	shapes := map[core.Link]linkproxy.Shape{}
	for l, p := range loss {
		if p > 0 {
			shapes[l] = linkproxy.Shape{Loss: p}
		}
	}
	out, _ := rulesWithShapes(node, a, cut, shapes)
	return out
}

func linkRules(node string, a addressing, cut map[core.Link]bool, loss float64) []dropRule {
	var out []dropRule
	seen := map[dropRule]bool{}
	add := func(r dropRule) {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	// clientAddrs lists node's addresses for client endpoint c, or for
	// every client when c is AllClients.
	clientAddrs := func(c string) []netip.Addr {
		var ips []netip.Addr
		for k, ip := range a.alias {
			if k[1] == node && (k[0] == c || c == AllClients) {
				ips = append(ips, ip)
			}
		}
		sort.Slice(ips, func(i, j int) bool { return ips[i].Less(ips[j]) })
		return ips
	}
	for _, l := range sortedLinks(cut) {
		_, fromNode := a.node[l.From]
		_, toNode := a.node[l.To]
		switch {
		case l.To == node && fromNode:
			add(dropRule{Hook: hookInput, Src: a.node[l.From], Loss: loss})
		case l.To == node && !fromNode:
			for _, ip := range clientAddrs(l.From) {
				add(dropRule{Hook: hookPre, Dst: ip, Loss: loss})
			}
		case l.From == node && !toNode:
			for _, ip := range clientAddrs(l.To) {
				add(dropRule{Hook: hookPost, Src: ip, Loss: loss})
			}
		}
	}
	return out
}

func sortedLinks(cut map[core.Link]bool) []core.Link {
	ls := make([]core.Link, 0, len(cut))
	for l, on := range cut {
		if on {
			ls = append(ls, l)
		}
	}
	sort.Slice(ls, func(i, j int) bool {
		if ls[i].From != ls[j].From {
			return ls[i].From < ls[j].From
		}
		return ls[i].To < ls[j].To
	})
	return ls
}

// netns is a handle on a container's network namespace, opened through its
// main process.
type netns struct {
	f *os.File
}

func openNetns(pid int) (*netns, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return nil, fmt.Errorf("open network namespace of pid %d (the docker runtime needs root on the docker host): %w", pid, err)
	}
	if err := notHostNetns(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	return &netns{f: f}, nil
}

// notHostNetns refuses the harness's own namespace: a container's process
// that died and whose pid was reused must never get rules meant for the
// container.
func notHostNetns(f *os.File) error {
	var a, b unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &a); err != nil {
		return err
	}
	if err := unix.Stat("/proc/self/ns/net", &b); err != nil {
		return err
	}
	if a.Dev == b.Dev && a.Ino == b.Ino {
		return fmt.Errorf("network namespace is the host's, not a container's (did the node exit?)")
	}
	return nil
}

func (n *netns) Close() error { return n.f.Close() }

// dup returns a second handle on the same namespace, which the caller
// closes.
func (n *netns) dup() (*netns, error) {
	fd, err := unix.FcntlInt(n.f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicate network namespace handle: %w", err)
	}
	return &netns{f: os.NewFile(uintptr(fd), n.f.Name())}, nil
}

func (n *netns) fd() int { return int(n.f.Fd()) }

// setRules replaces this runtime's table in the namespace, in one netlink
// batch so that no packet sees half a change: the client addresses are
// translated to the node's own address (a node may bind only that one), and
// rules drop the cut links.
func (n *netns) setRules(self netip.Addr, aliases []netip.Addr, rules []dropRule) error {
	c, err := nftables.New(nftables.WithNetNSFd(n.fd()))
	if err != nil {
		return err
	}
	t := &nftables.Table{Name: tableName, Family: nftables.TableFamilyIPv4}
	// Adding before deleting makes the delete valid whether or not the
	// table existed.
	c.AddTable(t)
	c.DelTable(t)
	if len(rules) > 0 || len(aliases) > 0 {
		c.AddTable(t)
		accept := nftables.ChainPolicyAccept
		chain := func(name string, typ nftables.ChainType, h *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
			return c.AddChain(&nftables.Chain{Name: name, Table: t, Type: typ, Hooknum: h, Priority: prio, Policy: &accept})
		}
		chains := map[hook]*nftables.Chain{
			hookPre:   chain("prerouting", nftables.ChainTypeFilter, nftables.ChainHookPrerouting, nftables.ChainPriorityRaw),
			hookInput: chain("input", nftables.ChainTypeFilter, nftables.ChainHookInput, nftables.ChainPriorityFilter),
			hookPost:  chain("postrouting", nftables.ChainTypeFilter, nftables.ChainHookPostrouting, nftables.ChainPriorityRef(300)),
		}
		if len(aliases) > 0 {
			nat := chain("dnat", nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)
			// Answers are translated back by conntrack; the output path needs
			// a NAT chain too for that to happen on locally sent packets.
			chain("snat", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
			to := self.As4()
			for _, a := range aliases {
				b := a.As4()
				c.AddRule(&nftables.Rule{Table: t, Chain: nat, Exprs: []expr.Any{
					&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b[:]},
					&expr.Immediate{Register: 1, Data: to[:]},
					&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
				}})
			}
		}
		for _, r := range rules {
			c.AddRule(&nftables.Rule{Table: t, Chain: chains[r.Hook], Exprs: ruleExprs(r)})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	return nil
}

func ruleExprs(r dropRule) []expr.Any {
	var es []expr.Any
	match := func(offset uint32, ip netip.Addr) {
		b := ip.As4()
		es = append(es,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b[:]})
	}
	if r.Src.IsValid() {
		match(12, r.Src)
	}
	if r.Dst.IsValid() {
		match(16, r.Dst)
	}
	if r.Loss > 0 {
		// numgen yields host order; the comparison is in network order.
		var lim [4]byte
		binary.BigEndian.PutUint32(lim[:], lossPermille(r.Loss))
		es = append(es,
			&expr.Numgen{Register: 1, Modulus: 1000, Type: unix.NFT_NG_RANDOM},
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
			&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: lim[:]})
	}
	if r.Queued {
		return append(es, &expr.Counter{}, queueTarget(r.Queue))
	}
	es = append(es, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
	return es
}

// queueTarget hands a packet to NFQUEUE queue num. It is the xtables
// NFQUEUE target through nftables' compat layer rather than nftables' own
// queue expression, which kernels built without nft_queue (this project's
// CI kernel) lack, while xt_NFQUEUE comes with every Docker host's
// iptables support. Bypass: with nobody reading the queue (the harness
// died) packets pass rather than wait.
func queueTarget(num uint16) expr.Any {
	// struct xt_NFQ_info_v3 {u16 queuenum, queues_total, flags}, padded
	// to XT_ALIGN.
	info := make(xt.Unknown, 8)
	binary.NativeEndian.PutUint16(info[0:], num)
	binary.NativeEndian.PutUint16(info[2:], 1)
	binary.NativeEndian.PutUint16(info[4:], 1) // NFQ_FLAG_BYPASS
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &info}
}

// addAddrs adds addresses (/32, so no route changes) to the namespace's
// interface ifname. An address already there is left alone.
func (n *netns) addAddrs(ifname string, addrs []netip.Addr) error {
	if len(addrs) == 0 {
		return nil
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: n.fd()})
	if err != nil {
		return fmt.Errorf("rtnetlink: %w", err)
	}
	defer c.Close()
	idx, err := linkIndex(c, ifname)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		b := a.As4()
		ae := netlink.NewAttributeEncoder()
		ae.Bytes(unix.IFA_LOCAL, b[:])
		ae.Bytes(unix.IFA_ADDRESS, b[:])
		attrs, err := ae.Encode()
		if err != nil {
			return err
		}
		// struct ifaddrmsg: family, prefixlen, flags, scope, index.
		hdr := make([]byte, 8)
		hdr[0] = unix.AF_INET
		hdr[1] = 32
		binary.NativeEndian.PutUint32(hdr[4:], uint32(idx))
		_, err = c.Execute(netlink.Message{
			Header: netlink.Header{Type: unix.RTM_NEWADDR,
				Flags: netlink.Request | netlink.Acknowledge | netlink.Create | netlink.Replace},
			Data: append(hdr, attrs...)})
		if err != nil {
			return fmt.Errorf("add address %s to %s: %w", a, ifname, err)
		}
	}
	return nil
}

// linkIndex looks an interface up by name.
func linkIndex(c *netlink.Conn, ifname string) (int, error) {
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.IFLA_IFNAME, ifname)
	attrs, err := ae.Encode()
	if err != nil {
		return 0, err
	}
	// struct ifinfomsg: family, pad, type, index, flags, change.
	hdr := make([]byte, 16)
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request},
		Data:   append(hdr, attrs...)})
	if err != nil {
		return 0, fmt.Errorf("find interface %s: %w", ifname, err)
	}
	for _, m := range msgs {
		if len(m.Data) >= 8 {
			return int(int32(binary.NativeEndian.Uint32(m.Data[4:8]))), nil
		}
	}
	return 0, fmt.Errorf("find interface %s: no answer", ifname)
}

// dialIn connects to addr from inside the network namespace ns, so the
// harness reaches a port that a node binds on its own loopback (the clock
// control port) without it being reachable from the network.
func dialIn(ctx context.Context, ns *netns, addr string) (net.Conn, error) {
	target := ns.f
	if err := notHostNetns(target); err != nil {
		return nil, err
	}
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// A socket belongs to the namespace of the thread that made it;
		// this thread goes back to its own namespace right after, or, if
		// it cannot, dies with this goroutine (it stays locked).
		goruntime.LockOSThread()
		own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			goruntime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer own.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			goruntime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("enter network namespace %s: %w", target.Name(), err)}
			return
		}
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
			goruntime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// putClock sets the clock offset of the node whose control port is addr
// inside the namespace ns, with the protocol of core.NodeClock.
func putClock(ctx context.Context, ns *netns, addr string, d time.Duration) error {
	tr := &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dialIn(ctx, ns, addr) }}
	defer tr.CloseIdleConnections()
	u := "http://" + addr + "/clock?offset=" + url.QueryEscape(d.String())
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("set clock offset: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("set clock offset: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// setNeighbours tells the host, in its own namespace, which MAC address
// answers for each of a node's addresses on the run's bridge. A container
// announces its main address when it starts, but not the client addresses
// this runtime adds: without this the host would keep an unanswered or
// failed resolution from the time the node was down and lose the first
// second of every client's traffic after a restart.
func setNeighbours(bridge string, mac net.HardwareAddr, addrs []netip.Addr) error {
	if len(addrs) == 0 || len(mac) != 6 {
		return nil
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return fmt.Errorf("rtnetlink: %w", err)
	}
	defer c.Close()
	idx, err := linkIndex(c, bridge)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		b := a.As4()
		ae := netlink.NewAttributeEncoder()
		ae.Bytes(unix.NDA_DST, b[:])
		ae.Bytes(unix.NDA_LLADDR, mac)
		attrs, err := ae.Encode()
		if err != nil {
			return err
		}
		// struct ndmsg: family, pad (3), ifindex, state, flags, type.
		hdr := make([]byte, 12)
		hdr[0] = unix.AF_INET
		binary.NativeEndian.PutUint32(hdr[4:], uint32(idx))
		binary.NativeEndian.PutUint16(hdr[8:], unix.NUD_REACHABLE)
		_, err = c.Execute(netlink.Message{
			Header: netlink.Header{Type: unix.RTM_NEWNEIGH,
				Flags: netlink.Request | netlink.Acknowledge | netlink.Create | netlink.Replace},
			Data: append(hdr, attrs...)})
		if err != nil {
			return fmt.Errorf("neighbour %s on %s: %w", a, bridge, err)
		}
	}
	return nil
}
