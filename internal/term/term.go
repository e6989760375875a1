// Package term makes untrusted strings safe to print on a terminal. A
// history holds whatever the system under test returned, and a crafted one
// can carry escape sequences that move the cursor, rewrite earlier lines,
// retitle the window or hide text; printed raw, the summary of a run would
// show what the attacker chose. Every string that came from a history, a
// stored run or a target goes through Line or Text before it reaches the
// terminal.
package term

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Line returns s with every control character, invalid UTF-8 byte and
// bidirectional-override character written as a Go escape (\x1b, \n, \u202e),
// so that s prints as exactly one line of visible text.
func Line(s string) string { return escape(s, false) }

// Text is Line that keeps newlines and tabs, for multi-line messages such as
// errors quoting a node's log.
func Text(s string) string { return escape(s, true) }

// JSON escapes, in JSON-encoded b, the characters that encoding/json leaves
// raw but a terminal acts on (DEL, the C1 controls such as U+009B, which
// some terminals read as CSI, and bidirectional overrides), as \uXXXX. The
// JSON means the same; only its bytes change.
func JSON(b []byte) []byte {
	if !needsJSON(b) {
		return b
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r != utf8.RuneError && unsafeRune(r) {
			fmt.Fprintf(&sb, `\u%04x`, r)
		} else {
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return []byte(sb.String())
}

func needsJSON(b []byte) bool {
	for _, c := range b {
		if c == 0x7f || c >= 0x80 {
			return true
		}
	}
	return false
}

// Safe reports whether s prints as it is (Line(s) == s).
func Safe(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || unsafeRune(r) {
			return false
		}
		i += n
	}
	return true
}

func escape(s string, multiline bool) string {
	if Safe(s) {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&sb, `\x%02x`, s[i])
		case multiline && (r == '\n' || r == '\t'):
			sb.WriteRune(r)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\t':
			sb.WriteString(`\t`)
		case r == '\r':
			sb.WriteString(`\r`)
		case unsafeRune(r) && r < 0x100:
			fmt.Fprintf(&sb, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			sb.WriteString(s[i : i+n])
		}
		i += n
	}
	return sb.String()
}

// unsafeRune reports whether a terminal may act on r instead of showing
// it: C0 controls, DEL, C1 controls, and the bidirectional embeddings,
// overrides and isolates that reorder the text around them.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	}
	return false
}
