package history

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// checkText refuses a JSON text whose strings would not decode to exactly
// what was written: bytes that are not UTF-8 and \u escapes of lone
// surrogates. encoding/json folds both to U+FFFD, so two distinct node, key
// or process names would silently become one and produce false anomalies.
// Our writer never produces either (it encodes names with encoding/json).
func checkText(b []byte) error {
	if !utf8.Valid(b) {
		for i := 0; i < len(b); {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				return fmt.Errorf("byte %d (0x%02x) is not UTF-8", i, b[i])
			}
			i += n
		}
	}
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !inString {
			if c == '"' {
				inString = true
			}
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 >= len(b) {
				return nil // not JSON: the decoder reports it
			}
			i++
			if b[i] != 'u' {
				continue
			}
			r, ok := hex4(b, i+1)
			if !ok {
				return nil
			}
			i += 4
			switch {
			case r >= 0xD800 && r < 0xDC00:
				lo, ok := rune(0), i+2 < len(b) && b[i+1] == '\\' && b[i+2] == 'u'
				if ok {
					lo, ok = hex4(b, i+3)
				}
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return fmt.Errorf(`byte %d: \u%04X is a lone surrogate, not a character`, i-5, r)
				}
				i += 6
			case r >= 0xDC00 && r <= 0xDFFF:
				return fmt.Errorf(`byte %d: \u%04X is a lone surrogate, not a character`, i-5, r)
			}
		}
	}
	return nil
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// names are the record fields that identify things (an operation, a key, a
// node, a process); they must decode to exactly the bytes written.
type names struct {
	Process json.RawMessage `json:"process"`
	Type    json.RawMessage `json:"type"`
	F       json.RawMessage `json:"f"`
	Key     json.RawMessage `json:"key"`
	Node    json.RawMessage `json:"node"`
}

// checkNames refuses a record whose names would be folded by the decoder.
// Only lines with escapes or non-ASCII bytes can be affected.
func checkNames(line []byte) error {
	plain := true
	for _, c := range line {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return nil
	}
	var n names
	if err := json.Unmarshal(line, &n); err != nil {
		return nil // the decoder proper explains what is wrong
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"process", n.Process}, {"type", n.Type}, {"f", n.F}, {"key", n.Key}, {"node", n.Node}} {
		if err := checkText(f.raw); err != nil {
			return fmt.Errorf("%q: %v; names must be valid UTF-8, or distinct names would merge", f.name, err)
		}
	}
	return nil
}

// checkOpNames refuses to record an op whose names are not UTF-8: encoding
// them would fold every bad byte to U+FFFD and merge distinct names on disk.
func checkOpNames(op *Op) error {
	for _, f := range [...]struct{ name, v string }{{"node", op.Node}, {"key", op.Key}, {"f", op.F}} {
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("history: the %s %q of a %s %s record is not valid UTF-8; distinct names would merge", f.name, f.v, op.Type, op.F)
		}
	}
	return nil
}

// checkHeaderNames is checkOpNames for the header's names.
func checkHeaderNames(h *Header) error {
	names := append([]string{h.Target, h.Workload, h.RunID, h.Runtime}, h.Nodes...)
	names = append(names, h.Nemeses...)
	for _, n := range names {
		if !utf8.ValidString(n) {
			return fmt.Errorf("the name %q in the header is not valid UTF-8; distinct names would merge", n)
		}
	}
	return nil
}
