package txn

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Micro-operation kinds.
const (
	mopAppend byte = 'a'
	mopRead   byte = 'r'
	mopWrite  byte = 'w'
)

// mop is one micro-operation of a transaction: an append or write of val to
// key, or a read of key. A list-append read carries list; a register read
// carries val, with null (the initial, unwritten state) as nilRead. known is
// false for a read whose result was not recorded (an invocation, or an info
// transaction).
type mop struct {
	f       byte
	key     int32
	val     int64
	list    []int64
	known   bool
	nilRead bool
	// w is an append's or write's index among the history's writes
	// (analysis.indexWrites), so later passes need no lookup by value.
	w int32
}

// decoder parses transaction values. Keys are interned to small integers so
// the analysis can index by them; names keeps the key text for witnesses.
type decoder struct {
	keys  map[string]int32
	names []string
	// ints and mops are slabs that read lists and micro-operations are
	// cut from, so decoding a long history does not allocate per value.
	ints     []int64
	mops     []mop
	mscratch []mop
	iscratch []mop // decodeScratch's buffer
}

func (d *decoder) keepMops(m []mop) []mop {
	if len(m) > cap(d.mops)-len(d.mops) {
		d.mops = make([]mop, 0, max(1<<14, 2*len(m)))
	}
	start := len(d.mops)
	d.mops = append(d.mops, m...)
	return d.mops[start:len(d.mops):len(d.mops)]
}

func newDecoder() *decoder {
	// The slab exists from the start, so an empty read list cut from it
	// is empty, never nil (nil is how a register read looks).
	return &decoder{keys: map[string]int32{}, ints: make([]int64, 0, 1<<10)}
}

// keyBytes is key without allocating for a key already seen.
func (d *decoder) keyBytes(b []byte) int32 {
	if k, ok := d.keys[string(b)]; ok {
		return k
	}
	return d.key(string(b))
}

func (d *decoder) key(s string) int32 {
	if k, ok := d.keys[s]; ok {
		return k
	}
	k := int32(len(d.names))
	d.keys[s] = k
	d.names = append(d.names, s)
	return k
}

// decode parses a transaction value: a JSON array of micro-operations, each
// [f, key, value] with f "append", "w" or "r"; key a string or an integer;
// value an integer for append and w; for r a list of integers (list-append),
// an integer or null (register), or null when the read's result is unknown.
// A fast hand parser handles our own encoding; anything it cannot read goes
// through encoding/json, which also gives the error message.
func (d *decoder) decode(b []byte) ([]mop, error) {
	p := parser{b: b}
	res, ok := p.txn(d, d.mscratch[:0])
	if !ok {
		var err error
		if res, err = d.decodeSlow(b, d.mscratch[:0]); err != nil {
			return nil, err
		}
	}
	d.mscratch = res
	return d.keepMops(res), nil
}

// decodeScratch is decode into a buffer of its own, valid until its next
// call: an invocation is decoded only to be compared with its completion.
func (d *decoder) decodeScratch(b []byte) ([]mop, error) {
	p := parser{b: b}
	res, ok := p.txn(d, d.iscratch[:0])
	if !ok {
		var err error
		if res, err = d.decodeSlow(b, d.iscratch[:0]); err != nil {
			return nil, err
		}
	}
	d.iscratch = res
	return res, nil
}

func (d *decoder) decodeSlow(b []byte, out []mop) ([]mop, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("transaction value %.80s: not a JSON array of micro-operations: %v", b, err)
	}
	for i, r := range raw {
		var parts []json.RawMessage
		if err := json.Unmarshal(r, &parts); err != nil || len(parts) != 3 {
			return nil, fmt.Errorf("micro-operation %d %.60s: want [f, key, value]", i, r)
		}
		var f string
		if err := json.Unmarshal(parts[0], &f); err != nil {
			return nil, fmt.Errorf("micro-operation %d: f %.20s is not a string", i, parts[0])
		}
		var key string
		if err := json.Unmarshal(parts[1], &key); err != nil {
			var n json.Number
			if err2 := json.Unmarshal(parts[1], &n); err2 != nil {
				return nil, fmt.Errorf("micro-operation %d: key %.20s is neither a string nor a number", i, parts[1])
			}
			key = n.String()
		}
		m := mop{key: d.key(key)}
		switch f {
		case "append", "w":
			m.f = mopAppend
			if f == "w" {
				m.f = mopWrite
			}
			v, err := strconv.ParseInt(string(parts[2]), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("micro-operation %d: %s of %.20s: the value must be a whole number", i, f, parts[2])
			}
			m.val = v
		case "r":
			m.f = mopRead
			s := string(parts[2])
			switch {
			case s == "null":
			case len(s) > 0 && s[0] == '[':
				var l []int64
				if err := json.Unmarshal(parts[2], &l); err != nil {
					return nil, fmt.Errorf("micro-operation %d: read of %.40s: want a list of whole numbers", i, parts[2])
				}
				if l == nil {
					l = []int64{}
				}
				m.list, m.known = l, true
			default:
				v, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("micro-operation %d: read of %.20s: want a whole number, a list or null", i, parts[2])
				}
				m.val, m.known = v, true
			}
		default:
			return nil, fmt.Errorf("micro-operation %d: unknown f %q (want append, w or r)", i, f)
		}
		out = append(out, m)
	}
	return out, nil
}

// parser is the fast path of decode. It reports ok=false on anything it
// does not expect; the slow path then decides.
type parser struct {
	b []byte
	i int
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) eat(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string without escapes; the bytes are the input's.
func (p *parser) str() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '\\' || c < 0x20 || c >= 0x80 {
			return nil, false
		}
		if c == '"' {
			s := p.b[start:p.i]
			p.i++
			return s, true
		}
		p.i++
	}
	return nil, false
}

func (p *parser) int() (int64, bool) {
	p.ws()
	neg := false
	if p.i < len(p.b) && p.b[p.i] == '-' {
		neg = true
		p.i++
	}
	start := p.i
	var n uint64
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		if n > (math.MaxUint64-9)/10 {
			return 0, false // too long: the slow path says why
		}
		n = n*10 + uint64(p.b[p.i]-'0')
		p.i++
	}
	digits := p.i - start
	if digits == 0 || (digits > 1 && p.b[start] == '0') {
		return 0, false
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, false
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

func (p *parser) null() bool {
	p.ws()
	if len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "null" {
		p.i += 4
		return true
	}
	return false
}

func (p *parser) txn(d *decoder, out []mop) ([]mop, bool) {
	if !p.eat('[') {
		return nil, false
	}
	if p.eat(']') {
		p.ws()
		return out, p.i == len(p.b)
	}
	for {
		if !p.eat('[') {
			return nil, false
		}
		f, ok := p.str()
		if !ok || !p.eat(',') {
			return nil, false
		}
		var key []byte
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == '"' {
			key, ok = p.str()
		} else {
			start := p.i
			_, ok = p.int()
			key = p.b[start:p.i]
		}
		if !ok || !p.eat(',') {
			return nil, false
		}
		m := mop{key: d.keyBytes(key)}
		switch string(f) {
		case "append", "w":
			m.f = mopAppend
			if string(f) == "w" {
				m.f = mopWrite
			}
			if m.val, ok = p.int(); !ok {
				return nil, false
			}
		case "r":
			m.f = mopRead
			p.ws()
			switch {
			case p.null():
			case p.i < len(p.b) && p.b[p.i] == '[':
				p.i++
				// Straight into the slab: a long history's reads are
				// most of its numbers, and copying them costs as much
				// as parsing them.
				start := len(d.ints)
				if !p.eat(']') {
					for {
						v, ok := p.int()
						if !ok {
							d.ints = d.ints[:start]
							return nil, false
						}
						if len(d.ints) == cap(d.ints) {
							part := d.ints[start:]
							d.ints = make([]int64, 0, max(1<<16, 4*len(part)))
							d.ints = append(d.ints, part...)
							start = 0
						}
						d.ints = append(d.ints, v)
						if p.eat(']') {
							break
						}
						if !p.eat(',') {
							d.ints = d.ints[:start]
							return nil, false
						}
					}
				}
				m.list, m.known = d.ints[start:len(d.ints):len(d.ints)], true
			default:
				if m.val, ok = p.int(); !ok {
					return nil, false
				}
				m.known = true
			}
		default:
			return nil, false
		}
		if !p.eat(']') {
			return nil, false
		}
		out = append(out, m)
		if p.eat(']') {
			break
		}
		if !p.eat(',') {
			return nil, false
		}
	}
	p.ws()
	return out, p.i == len(p.b)
}
