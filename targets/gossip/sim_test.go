package gossip

import (
	"context"
	"fmt"
	"math"
	"testing"
)

func TestTheory(t *testing.T) {
	for k, want := range map[int]float64{1: 0.203, 2: 0.060, 3: 0.020, 4: 0.0070, 5: 0.0025} {
		if got := TheoryResidue(k); math.Abs(got-want)/want > 0.03 {
			t.Errorf("TheoryResidue(%d) = %.4f, want about %.4f", k, got, want)
		}
	}
	if got := TheoryRounds(1000); math.Abs(got-16.87) > 0.01 {
		t.Errorf("TheoryRounds(1000) = %.2f, want 16.87", got)
	}
}

// The simulator runs the store's own Engine; with a fixed seed its figures
// are exact, so these bounds are not flaky.
func TestSimulatedSpreadMatchesPittel(t *testing.T) {
	for _, n := range []int{100, 1000} {
		r, err := Simulate(context.Background(), SimConfig{Nodes: n, Fanout: 1, Trials: 10, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if r.FullTrials != 10 {
			t.Fatalf("N=%d: only %d of 10 trials reached every node with K=0", n, r.FullTrials)
		}
		if ratio := r.MeanFullRounds / r.TheoryRounds; ratio > 1.2 || ratio < 1/1.2 {
			t.Errorf("N=%d: %.2f rounds, theory %.2f (ratio %.2f)", n, r.MeanFullRounds, r.TheoryRounds, ratio)
		}
	}
}

func TestSimulatedResidueMatchesDemers(t *testing.T) {
	for k := 1; k <= 3; k++ {
		r, err := Simulate(context.Background(), SimConfig{Nodes: 5000, Fanout: 1, K: k, Trials: 4, Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		if rel := math.Abs(r.Residue-r.TheoryResidue) / r.TheoryResidue; rel > 0.2 {
			t.Errorf("k=%d: residue %.4f, theory %.4f (off by %.0f%%)", k, r.Residue, r.TheoryResidue, 100*rel)
		}
	}
}

func TestSimulateRejectsBadConfig(t *testing.T) {
	for _, c := range []SimConfig{{Nodes: 1, Fanout: 1, Trials: 1}, {Nodes: 10, Fanout: 0, Trials: 1},
		{Nodes: 10, Fanout: 10, Trials: 1}, {Nodes: 10, Fanout: 1, K: -1, Trials: 1}, {Nodes: 10, Fanout: 1}} {
		if _, err := Simulate(context.Background(), c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// BenchmarkSimSpread measures rounds until every node has an update under
// pure push (K=0, fanout 1) against log2 N + ln N.
func BenchmarkSimSpread(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var r SimResult
			for b.Loop() {
				var err error
				if r, err = Simulate(context.Background(), SimConfig{Nodes: n, Fanout: 1, Trials: 10, Seed: 1}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(r.MeanFullRounds, "rounds")
			b.ReportMetric(r.TheoryRounds, "theory-rounds")
			b.ReportMetric(r.MeanFullRounds/r.TheoryRounds, "ratio")
		})
	}
}

// BenchmarkSimResidue measures the share of nodes rumor mongering never
// reaches against s = e^(-(k+1)(1-s)).
func BenchmarkSimResidue(b *testing.B) {
	for k := 1; k <= 5; k++ {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			var r SimResult
			for b.Loop() {
				var err error
				if r, err = Simulate(context.Background(), SimConfig{Nodes: 10000, Fanout: 1, K: k, Trials: 10, Seed: 1}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(r.Residue, "residue")
			b.ReportMetric(r.TheoryResidue, "theory-residue")
			b.ReportMetric(r.Residue/r.TheoryResidue, "ratio")
			b.ReportMetric(r.MessagesPerNode, "msgs/node")
		})
	}
}
