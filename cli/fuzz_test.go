package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/spf13/pflag"

	"github.com/chaostest/chaos/builtin"
)

// FuzzByteSize: --check-memory never panics, accepts only positive sizes a
// heap bound can hold, and prints what it accepted in a form it accepts
// again as the same size.
func FuzzByteSize(f *testing.F) {
	for _, s := range []string{"2GiB", "512MiB", "1.5G", "100", "0", "-1K", "NaN", "Inf", "1e30GiB", " 3 MiB ", "KiB", "0x10", "1e-9B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b byteSize
		if err := b.Set(s); err != nil {
			if !strings.Contains(err.Error(), "not a positive size") {
				t.Fatalf("Set(%q): unhelpful error %v", s, err)
			}
			return
		}
		if b <= 0 || int64(b) > 1<<62 {
			t.Fatalf("Set(%q) accepted %d", s, b)
		}
		var again byteSize
		if err := again.Set(b.String()); err != nil || again != b {
			t.Fatalf("Set(%q) = %d prints %q, which reads back as %d (%v)", s, b, b.String(), again, err)
		}
	})
}

// FuzzParamFlags: every typed parameter flag of the built-in parts takes
// any string without panicking; what it accepts is what the parameter's own
// check accepts and is kept as given, and what it refuses it says why.
func FuzzParamFlags(f *testing.F) {
	reg := builtin.New()
	var flags []*paramValue
	pf := addParamFlags(pflag.NewFlagSet("run", pflag.ContinueOnError), reg)
	for _, name := range sortedNames(pf) {
		flags = append(flags, pf[name])
	}
	if len(flags) == 0 {
		f.Fatal("no parameter flags")
	}
	for _, s := range []string{"", "0", "-1", "1s", "naive", "a,b", "2GiB", "true", "9223372036854775808", "1e400", "\xff", "counter"} {
		f.Add(uint(0), s)
		f.Add(uint(len(s)*7), s)
	}
	f.Fuzz(func(t *testing.T, i uint, s string) {
		v := *flags[i%uint(len(flags))]
		v.v, v.set = "", false
		err := v.Set(s)
		if cerr := v.p.Check(s); (err == nil) != (cerr == nil) {
			t.Fatalf("--%s %q: flag says %v, parameter says %v", v.p.Name, s, err, cerr)
		}
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" || strings.Contains(err.Error(), "%!") {
				t.Fatalf("--%s %q: unhelpful error %q", v.p.Name, s, err)
			}
			if v.set {
				t.Fatalf("--%s %q: refused but marked set", v.p.Name, s)
			}
			return
		}
		if !v.set || v.String() != s {
			t.Fatalf("--%s %q: accepted as %q (set %t)", v.p.Name, s, v.String(), v.set)
		}
	})
}

// FuzzRunID: clean --run accepts only <target>/<timestamp> ids, which name
// one directory two levels under the store and never lead out of it.
func FuzzRunID(f *testing.F) {
	for _, s := range []string{"snowflake/20260101T120000.000Z", "", "/", "a/", "/b", "a/b/c", "../x", "a/..", " a/b", "a/b\n", "a\\b/c", "é/ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := checkRunID(s)
		if err != nil {
			if !strings.Contains(err.Error(), "<target>/<timestamp>") {
				t.Fatalf("checkRunID(%q): unhelpful error %v", s, err)
			}
			return
		}
		target, stamp, _ := strings.Cut(s, "/")
		if target == "" || stamp == "" || strings.Contains(stamp, "/") || strings.IndexFunc(s, unicode.IsSpace) >= 0 {
			t.Fatalf("checkRunID accepted %q", s)
		}
		rel, rerr := filepath.Rel("store", filepath.Join("store", s))
		if rerr != nil || strings.HasPrefix(rel, "..") || strings.Count(filepath.ToSlash(rel), "/") != 1 {
			t.Fatalf("checkRunID accepted %q, which is %q under the store", s, rel)
		}
	})
}

// FuzzSplitList: --nemesis lists never yield an empty name or "none".
func FuzzSplitList(f *testing.F) {
	for _, s := range []string{"", "none", "clock,kill", " clock , ,none,kill,", ",,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, x := range splitList(s) {
			if x == "" || x == "none" || x != strings.TrimSpace(x) || strings.Contains(x, ",") {
				t.Fatalf("splitList(%q) yields %q", s, x)
			}
		}
	})
}
