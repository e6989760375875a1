package term

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLineEscapesWhatATerminalActsOn(t *testing.T) {
	cases := map[string]string{
		"n1":                      "n1",
		"héllo · ✓":               "héllo · ✓",
		"\x1b[2J\x1b]0;pwned\x07": `\x1b[2J\x1b]0;pwned\x07`,
		"a\nb\tc\rd":              `a\nb\tc\rd`,
		"\u009b31m":               `\x9b31m`,
		"del\x7f":                 `del\x7f`,
		"bad\xff\xfe":             `bad\xff\xfe`,
		"abc\u202edcba":           `abc\u202edcba`,
		"iso\u2066x\u2069":        `iso\u2066x\u2069`,
		"":                        "",
		`already \x1b escaped`:    `already \x1b escaped`,
		"nul\x00":                 `nul\x00`,
		"\xc2":                    `\xc2`,
		"emoji 🙂 and \u200fmark":  `emoji 🙂 and \u200fmark`,
	}
	for in, want := range cases {
		if got := Line(in); got != want {
			t.Errorf("Line(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTextKeepsLines(t *testing.T) {
	if got, want := Text("line 1\n\tline 2\x1b[A\r"), "line 1\n\tline 2\\x1b[A\\r"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
}

// FuzzLine: whatever the input, the output is valid UTF-8 without a single
// character a terminal would act on, and the same input gives the same
// output.
func FuzzLine(f *testing.F) {
	for _, s := range []string{"", "\x1b[31m", "a\nb", "\u009b", "\xff", "\u202e", "ok"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{Line(s), Text(s)} {
			if !utf8.ValidString(out) {
				t.Fatalf("output %q is not valid UTF-8", out)
			}
			for _, r := range out {
				if unsafeRune(r) && r != '\n' && r != '\t' {
					t.Fatalf("output %q holds %U", out, r)
				}
			}
		}
		if strings.ContainsAny(Line(s), "\n\t") {
			t.Fatalf("Line(%q) holds a newline or tab", s)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back string
		if err := json.Unmarshal(JSON(b), &back); err != nil {
			t.Fatalf("JSON made %s invalid: %v", b, err)
		}
		var orig string
		_ = json.Unmarshal(b, &orig)
		if back != orig {
			t.Fatalf("JSON changed the meaning of %s", b)
		}
		for _, r := range string(JSON(b)) {
			if unsafeRune(r) {
				t.Fatalf("JSON output holds %U", r)
			}
		}
	})
}
