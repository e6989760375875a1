package lock

import (
	"encoding/json"
	"strconv"
)

// grantDecoder decodes grants (all but the token) quickly: a history holds one per successful
// acquire, and encoding/json alone takes most of a million-op check. It
// reads the compact form the harness writes and hands anything else to
// encoding/json, so it never decodes differently. Node lists and client
// names repeat, so they are shared between grants.
type grantDecoder struct {
	nodes   map[string][]string
	strings map[string]string
	slab    []int64
}

func newGrantDecoder() *grantDecoder {
	return &grantDecoder{nodes: map[string][]string{}, strings: map[string]string{}}
}

func (d *grantDecoder) grant(b []byte, g *Grant) error {
	if d.fast(b, g) {
		return nil
	}
	*g = Grant{}
	return json.Unmarshal(b, g)
}

// fast parses {"key":value,...} with the keys of Grant, plain strings (no
// escapes), integers and arrays of plain strings; it reports false on
// anything else.
func (d *grantDecoder) fast(b []byte, g *Grant) bool {
	*g = Grant{}
	i := 0
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	i = 1
	if b[i] == '}' {
		return i == len(b)-1
	}
	for {
		key, j, ok := plainString(b, i)
		if !ok || j >= len(b) || b[j] != ':' {
			return false
		}
		i = j + 1
		switch string(key) {
		case "token":
			// The checker names holds by client and acquire record, not
			// by token; skipping it saves an allocation per grant.
			_, j, ok := plainString(b, i)
			if !ok {
				return false
			}
			i = j
		case "client":
			v, j, ok := plainString(b, i)
			if !ok {
				return false
			}
			g.Client, i = d.intern(v), j
		case "fence", "validity_ns":
			j := i
			if j < len(b) && b[j] == '-' {
				j++
			}
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			digits := b[i:j]
			if len(digits) > 0 && digits[0] == '-' {
				digits = digits[1:]
			}
			if len(digits) == 0 || (digits[0] == '0' && len(digits) > 1) {
				return false
			}
			n, err := strconv.ParseInt(string(b[i:j]), 10, 64)
			if err != nil {
				return false
			}
			if string(key) == "fence" {
				g.Fence = d.fence(n)
			} else {
				g.Validity = n
			}
			i = j
		case "nodes":
			if i >= len(b) || b[i] != '[' {
				return false
			}
			j := i + 1
			for j < len(b) && b[j] != ']' {
				if b[j] == '\\' || b[j] == '{' || b[j] == '[' {
					return false
				}
				j++
			}
			if j >= len(b) {
				return false
			}
			raw := b[i : j+1]
			ns, seen := d.nodes[string(raw)]
			if !seen {
				if err := json.Unmarshal(raw, &ns); err != nil {
					return false
				}
				d.nodes[string(raw)] = ns
			}
			g.Nodes, i = ns, j+1
		default:
			return false
		}
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return i == len(b)-1
		default:
			return false
		}
	}
}

// fence returns a pointer to n from a slab, one allocation per thousand.
func (d *grantDecoder) fence(n int64) *int64 {
	if len(d.slab) == 0 {
		d.slab = make([]int64, 1024)
	}
	p := &d.slab[0]
	*p = n
	d.slab = d.slab[1:]
	return p
}

func (d *grantDecoder) intern(v []byte) string {
	if s, ok := d.strings[string(v)]; ok {
		return s
	}
	s := string(v)
	d.strings[s] = s
	return s
}

// plainString reads a printable ASCII JSON string without escapes at b[i] and returns its
// contents and the index after the closing quote.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '"':
			return b[i+1 : j], j + 1, true
		case '\\':
			return nil, i, false
		}
		if b[j] < 0x20 || b[j] >= 0x80 {
			return nil, i, false
		}
	}
	return nil, i, false
}
