// Package history holds the record of a run: operations as clients and the
// nemesis saw them, in the order they happened, and their JSON Lines form on
// disk.
//
// An operation is recorded twice, Jepsen-style: once when it is invoked and
// once when it completes. The completion is exactly one of ok (it took
// effect), fail (it definitely did not take effect) or info (indeterminate: it
// may or may not have taken effect, now or later). Checkers must treat info as
// "may have happened", never as failed.
package history

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Type is the kind of an operation record.
type Type string

// The record types. Invoke opens an operation; the others complete it.
const (
	Invoke Type = "invoke"
	OK     Type = "ok"
	Fail   Type = "fail"
	Info   Type = "info"
)

// Valid reports whether t is one of the four known record types.
func (t Type) Valid() bool {
	switch t {
	case Invoke, OK, Fail, Info:
		return true
	}
	return false
}

// Completion reports whether t closes an operation.
func (t Type) Completion() bool { return t == OK || t == Fail || t == Info }

// NemesisProcess is the process of every nemesis record. It is written as the
// string "nemesis" in JSON.
const NemesisProcess = -1

// Op is one record of the history.
//
// Value is kept as raw JSON so that the history stays exactly what the client
// saw (a 64-bit ID never passes through float64) and so that each checker
// decodes only what it needs.
type Op struct {
	// Index is the record's position in the history, from 0.
	Index int64
	// Process identifies the logical client. A worker whose operation ended
	// in info continues under a new process, because the old one may still be
	// in flight. NemesisProcess for fault records.
	Process int
	Type    Type
	// F names the operation: "generate", "read", "acquire", "partition", ...
	F     string
	Key   string
	Value json.RawMessage
	// Error says why an operation failed or is indeterminate.
	Error string
	// Time is monotonic nanoseconds since the run started.
	Time int64
	// Node is the node the operation was sent to (or, for a fault, acted on).
	Node string
}

// IsNemesis reports whether the record belongs to the nemesis.
func (o *Op) IsNemesis() bool { return o.Process == NemesisProcess }

// Duration returns Time as a time.Duration since the run started.
func (o *Op) Duration() time.Duration { return time.Duration(o.Time) }

// String renders the op compactly for witnesses and logs.
func (o Op) String() string {
	p := strconv.Itoa(o.Process)
	if o.IsNemesis() {
		p = "nemesis"
	}
	s := fmt.Sprintf("#%d %s %s %s", o.Index, p, o.Type, o.F)
	if o.Key != "" {
		s += " key=" + o.Key
	}
	if len(o.Value) > 0 && string(o.Value) != "null" {
		s += " value=" + string(o.Value)
	}
	if o.Node != "" {
		s += " node=" + o.Node
	}
	if o.Error != "" {
		s += " error=" + strconv.Quote(o.Error)
	}
	return s + fmt.Sprintf(" at %.3fs", time.Duration(o.Time).Seconds())
}

// Int encodes n as an op value.
func Int(n int64) json.RawMessage { return strconv.AppendInt(nil, n, 10) }

// Uint encodes n as an op value.
func Uint(n uint64) json.RawMessage { return strconv.AppendUint(nil, n, 10) }

// JSON encodes any value as an op value. It panics only on values that
// encoding/json cannot encode at all (channels, functions), which are
// programming errors in a workload.
func JSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("history: value %T cannot be encoded: %v", v, err))
	}
	return b
}

// ValueInt decodes the value as an integer; ok is false for null, absent or
// non-integer values.
func (o *Op) ValueInt() (int64, bool) {
	n, err := strconv.ParseInt(string(o.Value), 10, 64)
	return n, err == nil
}

// ValueUint decodes the value as an unsigned integer.
func (o *Op) ValueUint() (uint64, bool) {
	n, err := strconv.ParseUint(string(o.Value), 10, 64)
	return n, err == nil
}

// DecodeValue unmarshals the value into v.
func (o *Op) DecodeValue(v any) error {
	if len(o.Value) == 0 {
		return fmt.Errorf("op %d has no value", o.Index)
	}
	return json.Unmarshal(o.Value, v)
}

// MarshalJSON writes the op exactly as a history line, so witnesses in
// results.json read like the history they come from.
func (o Op) MarshalJSON() ([]byte, error) { return AppendJSON(nil, &o), nil }

// UnmarshalJSON reads an op written by MarshalJSON or found in a history.
func (o *Op) UnmarshalJSON(b []byte) error {
	op, err := ParseOp(b)
	if err != nil {
		return err
	}
	*o = op
	return nil
}
