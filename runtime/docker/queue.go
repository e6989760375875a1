package docker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/chaostest/chaos/runtime/linkproxy"
)

// Packet delay without netem. The kernels this runtime meets do not all have
// sch_netem (this project's own CI kernel has neither netem nor prio), but
// every one that runs Docker has nftables and NFQUEUE. A shaped link's
// packets are handed by an nftables `queue` rule in the receiving
// container's namespace to a queue that the harness reads, and the harness
// gives each packet its verdict when its delay is over: a fixed latency,
// uniform jitter (which reorders, as netem's does), a reorder share that
// skips the delay, and a rate that spaces packets by their length. Loss
// stays in the kernel (an nftables numgen rule before the queue rule). The
// rule has the bypass flag, so if the harness dies the packets pass
// unshaped instead of being held.

// Netfilter netlink constants of the queue subsystem (linux/netfilter/
// nfnetlink_queue.h); x/sys/unix does not carry them.
const (
	nfnlSubsysQueue = 3
	nfqnlMsgPacket  = 0
	nfqnlMsgVerdict = 1
	nfqnlMsgConfig  = 2

	nfqaPacketHdr  = 1
	nfqaVerdictHdr = 2
	nfqaPayload    = 10

	nfqaCfgCmd      = 1
	nfqaCfgParams   = 2
	nfqaCfgQueueMax = 3
	nfqaCfgMask     = 4
	nfqaCfgFlags    = 5

	nfqnlCfgCmdBind = 1
	nfqnlCopyPacket = 2
	nfqaCfgFFailOpn = 1

	nfDrop   = 0
	nfAccept = 1

	// queueCopy is how much of each packet the kernel copies to us: the
	// IPv4 header, for the packet's length.
	queueCopy = 20
)

// packetQueue is one NFQUEUE queue in one container's namespace, bound by
// the harness, applying one shape.
type packetQueue struct {
	num   uint16
	conn  *netlink.Conn
	shape atomic.Pointer[linkproxy.Shape]

	mu      sync.Mutex // rng, lastTx
	rng     *rand.Rand
	lastTx  time.Time
	pending sync.WaitGroup
	done    chan struct{}
	closed  atomic.Bool
	// Packets seen and their delays, for a test or a log.
	packets atomic.Int64
	delayed atomic.Int64 // total delay given, in nanoseconds
}

// openQueue binds queue num in the namespace ns and starts delaying what
// arrives in it.
func openQueue(ns *netns, num uint16, s linkproxy.Shape, seed uint64) (*packetQueue, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: ns.fd()})
	if err != nil {
		return nil, fmt.Errorf("nfqueue: %w", err)
	}
	_ = c.SetReadBuffer(4 << 20)
	q := &packetQueue{num: num, conn: c, rng: rand.New(rand.NewPCG(seed, uint64(num))), done: make(chan struct{})}
	q.shape.Store(&s)
	cmd := make([]byte, 4)
	cmd[0] = nfqnlCfgCmdBind
	binary.BigEndian.PutUint16(cmd[2:], unix.AF_INET)
	params := make([]byte, 5)
	binary.BigEndian.PutUint32(params, queueCopy)
	params[4] = nfqnlCopyPacket
	maxlen := binary.BigEndian.AppendUint32(nil, 1<<16)
	flags := binary.BigEndian.AppendUint32(nil, nfqaCfgFFailOpn)
	for _, attrs := range [][]netlink.Attribute{
		{{Type: nfqaCfgCmd, Data: cmd}},
		{{Type: nfqaCfgParams, Data: params}, {Type: nfqaCfgQueueMax, Data: maxlen},
			{Type: nfqaCfgFlags, Data: flags}, {Type: nfqaCfgMask, Data: flags}},
	} {
		if err := q.config(attrs); err != nil {
			c.Close()
			return nil, err
		}
	}
	go q.serve()
	return q, nil
}

func (q *packetQueue) header(family byte) []byte {
	h := make([]byte, 4)
	h[0] = family
	binary.BigEndian.PutUint16(h[2:], q.num)
	return h
}

func (q *packetQueue) config(attrs []netlink.Attribute) error {
	b, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return err
	}
	_, err = q.conn.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(nfnlSubsysQueue<<8 | nfqnlMsgConfig),
			Flags: netlink.Request | netlink.Acknowledge},
		Data: append(q.header(unix.AF_UNSPEC), b...)})
	if err != nil {
		return fmt.Errorf("nfqueue %d: configure: %w", q.num, err)
	}
	return nil
}

// setShape changes the shape for packets arriving from now on.
func (q *packetQueue) setShape(s linkproxy.Shape) { q.shape.Store(&s) }

func (q *packetQueue) serve() {
	defer close(q.done)
	for {
		msgs, err := q.conn.Receive()
		if err != nil {
			if q.closed.Load() {
				return
			}
			// ENOBUFS: the kernel dropped messages for a full socket;
			// those packets pass after the queue's timeout. Go on.
			var oe *netlink.OpError
			if errors.As(err, &oe) && errors.Is(oe.Err, unix.ENOBUFS) {
				continue
			}
			return
		}
		for _, m := range msgs {
			if m.Header.Type != netlink.HeaderType(nfnlSubsysQueue<<8|nfqnlMsgPacket) || len(m.Data) < 4 {
				continue
			}
			q.packet(m.Data[4:])
		}
	}
}

func (q *packetQueue) packet(b []byte) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return
	}
	var id uint32
	var size int
	haveID := false
	for ad.Next() {
		switch ad.Type() {
		case nfqaPacketHdr:
			if d := ad.Bytes(); len(d) >= 4 {
				id, haveID = binary.BigEndian.Uint32(d), true
			}
		case nfqaPayload:
			if d := ad.Bytes(); len(d) >= 4 {
				size = int(binary.BigEndian.Uint16(d[2:4]))
			}
		}
	}
	if !haveID {
		return
	}
	d := q.delay(size)
	q.packets.Add(1)
	q.delayed.Add(int64(d))
	if d <= 0 {
		q.verdict(id, nfAccept)
		return
	}
	q.pending.Add(1)
	time.AfterFunc(d, func() {
		defer q.pending.Done()
		q.verdict(id, nfAccept)
	})
}

// delay draws the delay of one packet of size bytes.
func (q *packetQueue) delay(size int) time.Duration {
	s := q.shape.Load()
	q.mu.Lock()
	defer q.mu.Unlock()
	d := s.Latency
	if s.Jitter > 0 {
		d += time.Duration(q.rng.Int64N(int64(s.Jitter) + 1))
	}
	if s.Reorder > 0 && q.rng.Float64() < s.Reorder {
		d = 0
	}
	if s.Rate > 0 && size > 0 {
		now := time.Now()
		start := now
		if q.lastTx.After(start) {
			start = q.lastTx
		}
		q.lastTx = start.Add(time.Duration(float64(size) / float64(s.Rate) * float64(time.Second)))
		d += q.lastTx.Sub(now)
	}
	return d
}

func (q *packetQueue) verdict(id, v uint32) {
	hdr := make([]byte, 8)
	binary.BigEndian.PutUint32(hdr, v)
	binary.BigEndian.PutUint32(hdr[4:], id)
	b, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: nfqaVerdictHdr, Data: hdr}})
	if err != nil {
		return
	}
	_, _ = q.conn.Send(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(nfnlSubsysQueue<<8 | nfqnlMsgVerdict), Flags: netlink.Request},
		Data:   append(q.header(unix.AF_UNSPEC), b...)})
}

// close lets every held packet go at its time (at most the largest delay
// given, bounded by a second more than the shape's), then unbinds. The
// rules that fed the queue are gone by then.
func (q *packetQueue) close() {
	s := q.shape.Load()
	wait := make(chan struct{})
	go func() { q.pending.Wait(); close(wait) }()
	select {
	case <-wait:
	case <-time.After(s.Latency + s.Jitter + 2*time.Second):
	}
	q.closed.Store(true)
	q.conn.Close()
	<-q.done
}
