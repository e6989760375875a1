package core

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// unsupportedRuntime cannot kill anything.
type unsupportedRuntime struct{ *fakeRuntime }

func (unsupportedRuntime) Kill(context.Context, string) error {
	return errors.New("kill: " + ErrUnsupported.Error())
}

// refusingRuntime refuses every nemesis up front.
type refusingRuntime struct{ *fakeRuntime }

func (refusingRuntime) SupportsNemesis(n Nemesis, _ []NodeSpec) error {
	return errors.New("no way to " + n.Name() + " here;\ngive it one")
}

// pickyNemesis refuses nodes up front; it plans a kill, then a start.
type pickyNemesis struct {
	fakeNemesis
	refuse bool
	n      *int
}

func (pickyNemesis) Name() string { return "picky" }

func (p pickyNemesis) CheckNodes(specs []NodeSpec) error {
	if p.refuse {
		return errors.New("node n1 cannot take it; give it a way")
	}
	return nil
}

func (p pickyNemesis) Next(rng *rand.Rand, nodes []string) history.Op {
	*p.n++
	if *p.n%2 == 0 {
		return history.Op{F: "start", Node: "n1"}
	}
	return history.Op{F: "kill", Node: "n1"}
}

func (p pickyNemesis) Apply(ctx context.Context, rt Runtime, op history.Op) history.Op {
	op.Type = history.OK
	return op
}

func pickyRegistry(refuse bool) *Registry {
	r := fakeRegistry(fakeTarget{}, fakeWorkload{})
	n := new(int)
	r.AddNemesis(NemesisInfo{Name: "picky", New: func(Params) (Nemesis, error) { return pickyNemesis{refuse: refuse, n: n}, nil }})
	return r
}

func TestNemesisTheNodesCannotTakeIsRefusedBeforeStart(t *testing.T) {
	rt := &fakeRuntime{}
	cfg := fakeConfig(t, rt)
	cfg.Nemeses = []string{"picky"}
	_, err := Prepare(pickyRegistry(true), cfg)
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("Prepare = %v, want a refusal", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "--nemesis picky refused before the run: node n1 cannot take it; give it a way") {
		t.Errorf("refusal is not the one-line reason: %q", msg)
	}
	if ents, _ := os.ReadDir(cfg.Store); len(ents) != 0 {
		t.Errorf("a refused run wrote %d entries to the store", len(ents))
	}
}

func TestRuntimeThatCannotInjectIsRefusedBeforeStart(t *testing.T) {
	base := &fakeRuntime{}
	cfg := fakeConfig(t, base)
	cfg.NewRuntime = func() (Runtime, error) { return refusingRuntime{base}, nil }
	cfg.Nemeses = []string{"fake-kill"}
	p, err := Prepare(fakeRegistry(fakeTarget{}, fakeWorkload{}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Execute(context.Background(), p)
	if !errors.Is(err, ErrRefused) || out != nil {
		t.Fatalf("Execute = %v, %v; want a refusal", out, err)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "runtime fake: no way to fake-kill here; give it one") {
		t.Errorf("refusal %q", msg)
	}
	if len(base.calls) != 0 {
		t.Errorf("a refused run started something: %v", base.calls)
	}
	if !base.tornDown.Load() {
		t.Error("the refused runtime was not torn down")
	}
	if ents, _ := os.ReadDir(cfg.Store); len(ents) != 0 {
		t.Errorf("a refused run wrote %d entries to the store", len(ents))
	}
}

// TestFaultsThatNeverHappenedAreNotValid: every kill fails, so the run says
// nothing about kills and must not be valid.
func TestFaultsThatNeverHappenedAreNotValid(t *testing.T) {
	for _, allow := range []bool{false, true} {
		base := &fakeRuntime{}
		cfg := fakeConfig(t, base)
		cfg.NewRuntime = func() (Runtime, error) { return unsupportedRuntime{base}, nil }
		cfg.Nemeses = []string{"fake-kill"}
		cfg.NemesisInterval = 40 * time.Millisecond
		cfg.AllowUnappliedFaults = allow
		p, err := Prepare(fakeRegistry(fakeTarget{}, fakeWorkload{}), cfg)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Execute(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		want := checkers.Unknown
		if allow {
			want = checkers.Valid
		}
		if out.Results.Valid != want {
			t.Errorf("allow %v: verdict %s, want %s", allow, out.Results.Valid, want)
		}
		if len(out.Faults) != 1 {
			t.Fatalf("tally %+v", out.Faults)
		}
		ft := out.Faults[0]
		if ft.Kind != "fake-kill" || ft.Planned == 0 || ft.Applied != 0 || ft.Unknown+ft.Failed != ft.Planned {
			t.Errorf("tally %+v", ft)
		}
		if out.Stats.Applied != 0 || out.Stats.Faults != int64(ft.Planned) {
			t.Errorf("stats %+v disagree with the tally %+v", out.Stats, ft)
		}
		warned := false
		for _, w := range out.Results.Warnings {
			warned = warned || strings.Contains(w, "NO FAKE-KILL FAULT WAS APPLIED")
		}
		if !warned {
			t.Errorf("no loud warning: %q", out.Results.Warnings)
		}
		sr, err := ReadResults(out.Dir)
		if err != nil || len(sr.Faults) != 1 || sr.Faults[0] != ft || sr.Valid != want {
			t.Errorf("results.json: %+v, %v", sr, err)
		}
	}
}

func TestHealsAreNotFaults(t *testing.T) {
	rt := &fakeRuntime{}
	cfg := fakeConfig(t, rt)
	cfg.Nemeses = []string{"picky"}
	cfg.NemesisInterval = 30 * time.Millisecond
	// Workers at an unbounded rate kept the nemesis goroutine from running
	// on a loaded machine (one kill in 300 ms, no start); a bounded rate
	// and a longer phase leave it dozens of turns.
	cfg.Rate = 200
	cfg.TimeLimit = 1500 * time.Millisecond
	p, err := Prepare(pickyRegistry(false), cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Execute(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	hf, err := history.ReadFile(HistoryPath(out.Dir))
	if err != nil {
		t.Fatal(err)
	}
	var kills, starts int64
	for _, op := range hf.Ops {
		if op.IsNemesis() && op.Type == history.Invoke {
			switch op.F {
			case "kill":
				kills++
			case "start":
				starts++
			}
		}
	}
	ft := out.Faults[0]
	if kills == 0 || starts == 0 || out.Stats.Faults != kills || out.Stats.Heals != starts ||
		int64(ft.Planned) != kills || int64(ft.Applied) != kills || int64(ft.Heals) != starts {
		t.Errorf("%d kills and %d starts recorded; stats %+v, tally %+v", kills, starts, out.Stats, ft)
	}
	if out.Results.Valid != checkers.Valid {
		t.Errorf("verdict %s", out.Results.Valid)
	}
}
