package linearizable

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/chaostest/chaos/history"
)

// Model is a sequential specification together with the translation of
// history records into its inputs and outputs.
type Model struct {
	// Name is what `--model` and the results call it.
	Name string
	// Key returns the partition of an operation; operations of different
	// keys are independent, so each key is checked on its own (porcupine's
	// P-compositionality). Nil means the whole history is one partition.
	Key func(op *history.Op) string
	// Op translates an operation into the model's input and output. done is
	// the ok completion, or nil when the operation is indeterminate (info, or
	// never completed): the output must then be one the model accepts in
	// every state, so the operation may take effect or not.
	Op func(inv, done *history.Op) (input, output any, err error)
	// Porcupine is the sequential specification, with Partition left nil
	// (partitions come from Key).
	Porcupine porcupine.Model
	// AnyState, when set, is an initial state that stands for every state:
	// the first observation fixes it. It is used only to visualise a window
	// of a history too large to draw whole.
	AnyState any
}

// ByName returns a model by its command-line name.
func ByName(name string) (Model, error) {
	switch name {
	case "register":
		return Register(), nil
	case "cas-register":
		return CASRegister(), nil
	case "kv":
		return KV(CASRegister()), nil
	case "kv-register":
		return KV(Register()), nil
	case "mutex":
		return Mutex(), nil
	case "set":
		return Set(), nil
	}
	return Model{}, fmt.Errorf("unknown model %q (known: %s)", name, strings.Join(ModelNames(), ", "))
}

// ModelNames lists the names ByName knows.
func ModelNames() []string {
	return []string{"cas-register", "kv", "kv-register", "mutex", "register", "set"}
}

// KV checks a map of independent registers: every key is its own partition,
// judged by inner. A history is linearizable if and only if every key's
// history is.
func KV(inner Model) Model {
	m := inner
	m.Name = "kv"
	if inner.Name == "register" {
		m.Name = "kv-register"
	}
	m.Key = func(op *history.Op) string { return op.Key }
	return m
}

// Register operations.
const (
	opRead uint8 = iota
	opWrite
	opCAS
)

// nilValue is the register's state before the first write (a read returns
// null). Written values are whole numbers, so one of them is spared.
const nilValue = math.MinInt64

// anyValue is the state that stands for every state, for windows.
const anyValue = math.MinInt64 + 1

type regInput struct {
	op   uint8
	a, b int64 // write: a; cas: a expected, b new
}

type regOutput struct {
	v       int64 // read: the value read, nilValue for null
	unknown bool  // indeterminate: any state accepts it
}

// Register is a read/write register holding a whole number or null.
func Register() Model { return registerModel("register", false) }

// CASRegister is a register that also compares and sets: cas [expected,
// new] that completed ok swapped the value. A cas whose comparison failed is
// recorded as fail, so it never reaches the model.
func CASRegister() Model { return registerModel("cas-register", true) }

func registerModel(name string, cas bool) Model {
	return Model{
		Name: name,
		Op: func(inv, done *history.Op) (any, any, error) {
			return registerOp(inv, done, cas)
		},
		Porcupine: porcupine.Model{
			Init:              func() any { return int64(nilValue) },
			Step:              registerStep,
			Hash:              func(s any) uint64 { return uint64(s.(int64)) },
			DescribeOperation: describeRegisterOp,
			DescribeState:     func(s any) string { return describeValue(s.(int64)) },
		},
		AnyState: int64(anyValue),
	}
}

func registerStep(state, input, output any) (bool, any) {
	st := state.(int64)
	in := input.(regInput)
	out := output.(regOutput)
	switch in.op {
	case opRead:
		if out.unknown {
			return true, st
		}
		if st == anyValue {
			return true, out.v
		}
		return st == out.v, st
	case opWrite:
		return true, in.a
	default: // cas
		if out.unknown {
			if st == in.a {
				return true, in.b
			}
			return true, st
		}
		if st == anyValue {
			return true, in.b
		}
		return st == in.a, in.b
	}
}

func registerOp(inv, done *history.Op, cas bool) (any, any, error) {
	out := regOutput{unknown: done == nil}
	switch inv.F {
	case "read":
		out.v = nilValue
		if done != nil && len(done.Value) > 0 {
			n, ok := done.ValueInt()
			if !ok || n == nilValue || n == anyValue {
				return nil, nil, fmt.Errorf("read value %s is neither a whole number nor null", done.Value)
			}
			out.v = n
		}
		return regInput{op: opRead}, out, nil
	case "write":
		n, ok := inv.ValueInt()
		if !ok || n == nilValue || n == anyValue {
			return nil, nil, fmt.Errorf("write value %s is not a whole number", inv.Value)
		}
		return regInput{op: opWrite, a: n}, out, nil
	case "cas":
		if !cas {
			return nil, nil, fmt.Errorf("the register model has no cas; use the cas-register model")
		}
		a, b, ok := intPair(inv.Value)
		if !ok {
			return nil, nil, fmt.Errorf("cas value %s is not [expected, new] whole numbers", inv.Value)
		}
		return regInput{op: opCAS, a: a, b: b}, out, nil
	}
	ops := "read, write"
	if cas {
		ops += ", cas"
	}
	return nil, nil, fmt.Errorf("operation %q is not one of %s", inv.F, ops)
}

// intPair reads "[a,b]" without encoding/json on the common path: every
// cas of a history passes through here.
func intPair(v json.RawMessage) (a, b int64, ok bool) {
	s := strings.TrimSpace(string(v))
	if len(s) >= 5 && s[0] == '[' && s[len(s)-1] == ']' {
		if x, y, found := strings.Cut(s[1:len(s)-1], ","); found {
			var e1, e2 error
			a, e1 = strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			b, e2 = strconv.ParseInt(strings.TrimSpace(y), 10, 64)
			if e1 == nil && e2 == nil {
				return a, b, true
			}
		}
	}
	var ab []int64
	if err := json.Unmarshal(v, &ab); err != nil || len(ab) != 2 {
		return 0, 0, false
	}
	return ab[0], ab[1], true
}

func describeValue(v int64) string {
	switch v {
	case nilValue:
		return "null"
	case anyValue:
		return "any"
	}
	return strconv.FormatInt(v, 10)
}

func describeRegisterOp(input, output any) string {
	in := input.(regInput)
	out := output.(regOutput)
	var s string
	switch in.op {
	case opRead:
		s = "read() -> " + describeValue(out.v)
		if out.unknown {
			s = "read() -> ?"
		}
		return s
	case opWrite:
		s = "write(" + describeValue(in.a) + ")"
	default:
		s = "cas(" + describeValue(in.a) + ", " + describeValue(in.b) + ")"
	}
	if out.unknown {
		s += " ?"
	}
	return s
}

// Mutex is a lock as Knossos models it: acquire takes a free lock, release
// frees a held one. Holders are not tracked, so it judges mutual exclusion of
// the recorded acquire/release pairs.
func Mutex() Model {
	return Model{
		Name: "mutex",
		Op: func(inv, done *history.Op) (any, any, error) {
			switch inv.F {
			case "acquire", "release":
				return inv.F == "acquire", done == nil, nil
			}
			return nil, nil, fmt.Errorf("operation %q is not one of acquire, release", inv.F)
		},
		Porcupine: porcupine.Model{
			Init: func() any { return false },
			Step: func(state, input, output any) (bool, any) {
				held, acquire, unknown := state.(bool), input.(bool), output.(bool)
				if unknown {
					// Taking effect here or at the very end are both
					// possible; effect here whenever it is allowed.
					if acquire != held {
						return true, acquire
					}
					return true, held
				}
				return acquire != held, acquire
			},
			Hash: func(s any) uint64 {
				if s.(bool) {
					return 1
				}
				return 0
			},
			DescribeOperation: func(input, output any) string {
				s := "release()"
				if input.(bool) {
					s = "acquire()"
				}
				if output.(bool) {
					s += " ?"
				}
				return s
			},
			DescribeState: func(s any) string {
				if s.(bool) {
					return "held"
				}
				return "free"
			},
		},
	}
}

// setState is a sorted list of the elements added so far.
type setState []int64

type setInput struct {
	add bool
	v   int64
}

type setOutput struct {
	read    setState // sorted, without duplicates
	dup     bool     // the read returned an element twice
	unknown bool
}

// Set is a grow-only set: add v, and read returning every element.
func Set() Model {
	return Model{
		Name: "set",
		Op: func(inv, done *history.Op) (any, any, error) {
			switch inv.F {
			case "add":
				n, ok := inv.ValueInt()
				if !ok {
					return nil, nil, fmt.Errorf("add value %s is not a whole number", inv.Value)
				}
				return setInput{add: true, v: n}, setOutput{unknown: done == nil}, nil
			case "read":
				out := setOutput{unknown: done == nil}
				if done != nil && len(done.Value) > 0 {
					var vs []int64
					if err := json.Unmarshal(done.Value, &vs); err != nil {
						return nil, nil, fmt.Errorf("read value %s is not a list of whole numbers", done.Value)
					}
					slices.Sort(vs)
					if c := slices.Compact(vs); len(c) != len(vs) {
						out.dup = true
						vs = c
					}
					out.read = vs
				}
				return setInput{}, out, nil
			}
			return nil, nil, fmt.Errorf("operation %q is not one of add, read", inv.F)
		},
		Porcupine: porcupine.Model{
			Init: func() any { return setState(nil) },
			Step: func(state, input, output any) (bool, any) {
				st, in, out := state.(setState), input.(setInput), output.(setOutput)
				if in.add {
					i, found := slices.BinarySearch(st, in.v)
					if found {
						return true, st
					}
					next := make(setState, 0, len(st)+1)
					next = append(append(append(next, st[:i]...), in.v), st[i:]...)
					return true, next
				}
				if out.unknown {
					return true, st
				}
				return !out.dup && slices.Equal(st, out.read), st
			},
			Equal: func(a, b any) bool { return slices.Equal(a.(setState), b.(setState)) },
			Hash: func(s any) uint64 {
				var h uint64 = 14695981039346656037
				for _, v := range s.(setState) {
					h = (h ^ uint64(v)) * 1099511628211
				}
				return h
			},
			DescribeOperation: func(input, output any) string {
				in, out := input.(setInput), output.(setOutput)
				if in.add {
					s := fmt.Sprintf("add(%d)", in.v)
					if out.unknown {
						s += " ?"
					}
					return s
				}
				if out.unknown {
					return "read() -> ?"
				}
				return "read() -> " + describeSet(out.read)
			},
			DescribeState: func(s any) string { return describeSet(s.(setState)) },
		},
	}
}

func describeSet(s setState) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = strconv.FormatInt(v, 10)
	}
	return "{" + strings.Join(parts, " ") + "}"
}
