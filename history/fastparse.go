package history

import (
	"encoding/json"
	"strconv"
)

// fastParseOp decodes a record in exactly the shape AppendJSON writes (known
// keys, no white space outside values, no escapes in strings). It returns
// ok=false for anything else, and ParseOp then takes the general path, which
// also produces the errors; the fuzz test checks that both paths agree.
// Reading a history of millions of records is dominated by this function.
func fastParseOp(line []byte, intern map[string]string) (op Op, ok bool) {
	p := parser{b: line}
	if !p.byte('{') {
		return op, false
	}
	var seen uint16
	const (
		kIndex = 1 << iota
		kProcess
		kType
		kF
		kKey
		kValue
		kError
		kTime
		kNode
	)
	for first := true; ; first = false {
		if p.peek() == '}' && first {
			return op, false
		}
		if !first && !p.byte(',') {
			break
		}
		key, ok := p.plainString()
		if !ok || !p.byte(':') {
			return op, false
		}
		var bit uint16
		switch string(key) {
		case "index":
			bit = kIndex
			if op.Index, ok = p.int(); !ok {
				return op, false
			}
		case "process":
			bit = kProcess
			if p.peek() == '"' {
				s, ok := p.plainString()
				if !ok || string(s) != "nemesis" {
					return op, false
				}
				op.Process = NemesisProcess
			} else {
				n, ok := p.int()
				if !ok || n < 0 || n > 1<<31-1 {
					return op, false
				}
				op.Process = int(n)
			}
		case "type":
			bit = kType
			s, ok := p.plainString()
			if !ok {
				return op, false
			}
			switch Type(s) {
			case Invoke, OK, Fail, Info:
				op.Type = Type(intern1(intern, s))
			default:
				return op, false
			}
		case "f", "key", "error", "node":
			s, ok := p.plainString()
			if !ok {
				return op, false
			}
			switch string(key) {
			case "f":
				bit, op.F = kF, intern1(intern, s)
			case "key":
				bit, op.Key = kKey, intern1(intern, s)
			case "error":
				bit, op.Error = kError, string(s)
			default:
				bit, op.Node = kNode, intern1(intern, s)
			}
		case "value":
			bit = kValue
			v, ok := p.value()
			if !ok {
				return op, false
			}
			if string(v) != "null" {
				op.Value = v
			}
		case "time":
			bit = kTime
			if op.Time, ok = p.int(); !ok {
				return op, false
			}
		default:
			return op, false
		}
		if seen&bit != 0 {
			return op, false // a repeated key: let the general path decide
		}
		seen |= bit
	}
	if !p.byte('}') || p.i != len(p.b) {
		return op, false
	}
	if seen&(kIndex|kProcess|kType|kF|kTime) != kIndex|kProcess|kType|kF|kTime || op.F == "" {
		return op, false
	}
	return op, true
}

// intern1 returns a shared copy of s: operation names, keys and node names
// repeat on every line.
func intern1(m map[string]string, s []byte) string {
	if v, ok := m[string(s)]; ok {
		return v
	}
	v := string(s)
	if len(m) < 1<<16 {
		m[v] = v
	}
	return v
}

type parser struct {
	b []byte
	i int
}

func (p *parser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *parser) byte(c byte) bool {
	if p.peek() != c {
		return false
	}
	p.i++
	return true
}

// plainString reads a string without escapes or non-ASCII bytes.
func (p *parser) plainString() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// int reads a JSON integer that fits an int64.
func (p *parser) int() (int64, bool) {
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	d := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	if p.i == d || (p.b[d] == '0' && p.i-d > 1) {
		return 0, false
	}
	if c := p.peek(); c == '.' || c == 'e' || c == 'E' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 64)
	return n, err == nil
}

// value reads any JSON value and returns its bytes.
func (p *parser) value() ([]byte, bool) {
	start := p.i
	depth := 0
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch c {
		case '"':
			p.i++
			for p.i < len(p.b) && p.b[p.i] != '"' {
				if p.b[p.i] == '\\' {
					p.i++
				}
				p.i++
			}
			if p.i >= len(p.b) {
				return nil, false
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				goto end
			}
			depth--
		case ',':
			if depth == 0 {
				goto end
			}
		}
		p.i++
		if depth == 0 && (c == '"' || c == '}' || c == ']') {
			break
		}
	}
end:
	v := p.b[start:p.i]
	if len(v) == 0 || !json.Valid(v) {
		return nil, false
	}
	return v, true
}
