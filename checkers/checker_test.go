package checkers

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chaostest/chaos/history"
)

type fixed struct {
	name string
	v    Validity
	boom bool
}

func (f fixed) Name() string { return f.name }
func (f fixed) Check(context.Context, *history.File) Result {
	if f.boom {
		panic("checker bug")
	}
	return Result{Valid: f.v}
}

func TestMerge(t *testing.T) {
	cases := []struct {
		in   []Validity
		want Validity
	}{
		{nil, Unknown},
		{[]Validity{Valid, Valid}, Valid},
		{[]Validity{Valid, Unknown}, Unknown},
		{[]Validity{Unknown, Invalid, Valid}, Invalid},
	}
	for _, c := range cases {
		if got := Merge(c.in...); got != c.want {
			t.Errorf("Merge(%v) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestValidityJSON(t *testing.T) {
	for v, want := range map[Validity]string{Valid: "true", Invalid: "false", Unknown: `"unknown"`} {
		b, _ := json.Marshal(v)
		if string(b) != want {
			t.Errorf("%s encodes as %s, want %s", v, b, want)
		}
		var back Validity
		if err := json.Unmarshal(b, &back); err != nil || back != v {
			t.Errorf("%s does not round-trip: %v %v", b, back, err)
		}
	}
	var v Validity
	if err := json.Unmarshal([]byte(`"maybe"`), &v); err == nil {
		t.Error(`"maybe" accepted as a verdict`)
	}
}

func TestRunTurnsPanicsIntoUnknown(t *testing.T) {
	rs := Run(context.Background(), &history.File{}, []Checker{fixed{name: "a", v: Valid}, fixed{name: "b", boom: true}})
	if rs.Valid != Unknown || rs.Checkers["b"].Valid != Unknown || !strings.Contains(rs.Checkers["b"].Error, "checker bug") {
		t.Fatalf("%+v", rs)
	}
}

func TestRunNeverReportsValidAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rs := Run(ctx, &history.File{}, []Checker{fixed{name: "a", v: Valid}})
	if rs.Valid != Unknown {
		t.Fatalf("cancelled run judged %s", rs.Valid)
	}
}

func TestWitnessesAreCappedCountsAreNot(t *testing.T) {
	var r Result
	for i := 0; i < MaxWitnesses+50; i++ {
		if r.Full() {
			r.Count("x")
		} else {
			r.AddAnomaly(Anomaly{Kind: "x"})
		}
	}
	if len(r.Anomalies) != MaxWitnesses || r.AnomalyCounts["x"] != MaxWitnesses+50 {
		t.Fatalf("%d witnesses, count %d", len(r.Anomalies), r.AnomalyCounts["x"])
	}
}

func TestResultsRoundTrip(t *testing.T) {
	op := history.Op{Index: 3, Process: history.NemesisProcess, Type: history.OK, F: "kill", Time: 9, Node: "n1"}
	rs := Results{Valid: Invalid, Checkers: map[string]Result{"ids": {Valid: Invalid,
		Anomalies: []Anomaly{{Kind: "k", Ops: []history.Op{op}, Fault: &op}}}}}
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"process":"nemesis"`) {
		t.Fatalf("ops in results must read like history lines: %s", b)
	}
	back, err := DecodeResults(b)
	if err != nil || back.Valid != Invalid || back.Checkers["ids"].Anomalies[0].Fault.Node != "n1" {
		t.Fatalf("%+v %v", back, err)
	}
}
