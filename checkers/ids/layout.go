// Package ids checks histories of ID generation: no ID issued twice, IDs from
// one node increasing in real time, and the timestamp inside each ID close to
// the time the ID was asked for.
package ids

import (
	"fmt"
	"time"
)

// Layout is the bit layout of a 64-bit snowflake ID, from the most
// significant bit: a zero sign bit, TimeBits of milliseconds since Epoch,
// MachineBits of machine id and SequenceBits of per-millisecond sequence.
// A Counter layout has no fields: the ID is a plain number from a counter
// (Redis INCR, a database sequence, a ZooKeeper sequential node), with no
// timestamp to place on the run's time line.
type Layout struct {
	Epoch        time.Time
	TimeBits     uint
	MachineBits  uint
	SequenceBits uint
	Counter      bool
}

// Counter is the layout of IDs that are plain counter values: the checker
// judges uniqueness and per-node order, and no timestamp.
func Counter() Layout { return Layout{Counter: true} }

// DefaultEpoch is the custom epoch of our snowflake service.
var DefaultEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Snowflake is Twitter's layout: 41 bits of milliseconds, 10 of machine, 12
// of sequence.
func Snowflake(epoch time.Time) Layout {
	return Layout{Epoch: epoch, TimeBits: 41, MachineBits: 10, SequenceBits: 12}
}

// Parts are the fields of an ID.
type Parts struct {
	// Millis since the epoch.
	Millis   int64 `json:"millis"`
	Machine  int64 `json:"machine"`
	Sequence int64 `json:"sequence"`
}

// MaxMachine and MaxSequence are the largest field values.
func (l Layout) MaxMachine() int64  { return 1<<l.MachineBits - 1 }
func (l Layout) MaxSequence() int64 { return 1<<l.SequenceBits - 1 }

// MaxMillis is the largest timestamp the layout holds.
func (l Layout) MaxMillis() int64 { return 1<<l.TimeBits - 1 }

// Encode packs parts into an ID; it fails on fields out of range.
func (l Layout) Encode(p Parts) (uint64, error) {
	switch {
	case p.Millis < 0 || p.Millis > l.MaxMillis():
		return 0, fmt.Errorf("timestamp %d ms out of range [0, %d]", p.Millis, l.MaxMillis())
	case p.Machine < 0 || p.Machine > l.MaxMachine():
		return 0, fmt.Errorf("machine id %d out of range [0, %d]", p.Machine, l.MaxMachine())
	case p.Sequence < 0 || p.Sequence > l.MaxSequence():
		return 0, fmt.Errorf("sequence %d out of range [0, %d]", p.Sequence, l.MaxSequence())
	}
	return uint64(p.Millis)<<(l.MachineBits+l.SequenceBits) | uint64(p.Machine)<<l.SequenceBits | uint64(p.Sequence), nil
}

// Decode splits an ID into its fields.
func (l Layout) Decode(id uint64) Parts {
	return Parts{
		Millis:   int64(id >> (l.MachineBits + l.SequenceBits)),
		Machine:  int64(id>>l.SequenceBits) & l.MaxMachine(),
		Sequence: int64(id) & l.MaxSequence(),
	}
}

// Time is the wall-clock time an ID's timestamp stands for.
func (l Layout) Time(id uint64) time.Time {
	return l.Epoch.Add(time.Duration(l.Decode(id).Millis) * time.Millisecond)
}

// Describe renders an ID's fields for witnesses.
func (l Layout) Describe(id uint64) string {
	if l.Counter {
		return fmt.Sprint(id)
	}
	p := l.Decode(id)
	return fmt.Sprintf("%d (timestamp %s, machine %d, sequence %d)", id,
		l.Time(id).UTC().Format("2006-01-02T15:04:05.000Z"), p.Machine, p.Sequence)
}
