package jepsen

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/checkers/linearizable"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/internal/porcupinedata"
)

// Every Jepsen etcd history in porcupine's test data gets the verdict that
// porcupine's own tests expect.
func TestPorcupineEtcdHistories(t *testing.T) {
	logs, err := porcupinedata.EtcdLogs()
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) < 100 {
		t.Fatalf("only %d histories found", len(logs))
	}
	c := linearizable.New(linearizable.CASRegister())
	var valid, invalid int
	for _, l := range logs {
		f, err := os.Open(l.Path)
		if err != nil {
			t.Fatal(err)
		}
		hf, err := ReadLog(f, Options{Source: l.Path})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := history.Pairs(hf.Ops); err != nil {
			t.Fatalf("etcd_%03d: %v", l.Num, err)
		}
		r := c.Check(context.Background(), hf)
		want := checkers.Invalid
		if l.Linearizable {
			want = checkers.Valid
			valid++
		} else {
			invalid++
		}
		if r.Valid != want {
			t.Errorf("etcd_%03d: %s, porcupine expects %s: %s", l.Num, r.Valid, want, r.Summary)
		}
		if want == checkers.Invalid && (len(r.Anomalies) == 0 || r.Anomalies[0].Data.(*linearizable.Witness).Stuck == "") {
			t.Errorf("etcd_%03d: invalid without a witness", l.Num)
		}
	}
	t.Logf("%d histories: %d linearizable, %d not", len(logs), valid, invalid)
}

func TestReadLog(t *testing.T) {
	in := `2016-01-01 INFO  jepsen.core - Running test
INFO  jepsen.util - 0	:invoke	:read	nil
INFO  jepsen.util - 1	:invoke	:cas	[1 2]
INFO  jepsen.util - :nemesis	:info	:start	nil
INFO  jepsen.util - 0	:ok	:read	3
INFO  jepsen.util - 1	:info	:cas	:timed-out
INFO  jepsen.util - 6 :invoke :write  4
INFO  jepsen.util - 6 :fail   :write  4
`
	hf, err := ReadLog(strings.NewReader(in), Options{Source: "x.log"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"#0 0 invoke read at 0.000s",
		"#1 1 invoke cas value=[1,2] at 0.000s",
		"#2 nemesis invoke start at 0.000s", // Jepsen logs a fault's first half as :info
		"#3 0 ok read value=3 at 0.000s",
		`#4 1 info cas value=[1,2] error="timed-out" at 0.000s`,
		"#5 6 invoke write value=4 at 0.000s",
		"#6 6 fail write value=4 at 0.000s",
	}
	if len(hf.Ops) != len(want) {
		t.Fatalf("got %d ops: %v", len(hf.Ops), hf.Ops)
	}
	for i, op := range hf.Ops {
		if op.String() != want[i] {
			t.Errorf("op %d: %s, want %s", i, op, want[i])
		}
		if i > 0 && op.Time <= hf.Ops[i-1].Time {
			t.Errorf("op %d: time does not advance", i)
		}
	}
	if _, err := ReadLog(strings.NewReader("INFO  jepsen.util - 0	:invoke	:cas	[1 2\n"), Options{}); err == nil {
		t.Fatal("broken value accepted")
	}
}

func TestReadEDN(t *testing.T) {
	in := `{:type :invoke, :f :write, :value 3, :process 0, :time 1000, :index 0}
{:type :invoke, :f :read, :value nil, :process 1, :time 1500, :index 1}
{:type :info, :f :start, :value "partitioned", :process :nemesis, :time 1600}
{:type :ok, :f :write, :value 3, :process 0, :time 2000, :index 2}
{:type :ok, :f :read, :value 3, :process 1, :time 2500, :index 3}
{:type :invoke, :f :cas, :value [3 4], :process 0, :time 3000}
{:type :info, :f :cas, :value [3 4], :process 0, :time 4000, :error :timeout}
`
	hf, err := ReadEDN(strings.NewReader(in), Options{Source: "history.edn"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hf.Ops) != 7 || hf.Ops[2].Process != history.NemesisProcess || string(hf.Ops[5].Value) != "[3,4]" ||
		hf.Ops[6].Error != "timeout" || hf.Ops[0].Time != 0 || hf.Ops[6].Time != 3000 {
		t.Fatalf("ops %v", hf.Ops)
	}
	r := linearizable.New(linearizable.CASRegister()).Check(context.Background(), hf)
	if r.Valid != checkers.Valid {
		t.Fatalf("%s: %s", r.Valid, r.Summary)
	}
	// The same ops as one vector, with a read nobody wrote.
	vec := "[" + strings.Replace(in, ":value 3, :process 1, :time 2500", ":value 9, :process 1, :time 2500", 1) + "]"
	hf, err = ReadEDN(strings.NewReader(vec), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := linearizable.New(linearizable.CASRegister()).Check(context.Background(), hf); r.Valid != checkers.Invalid {
		t.Fatalf("%s: %s", r.Valid, r.Summary)
	}
}

func TestReadEDNIndependent(t *testing.T) {
	in := `{:type :invoke, :f :write, :value [:a 1], :process 0}
{:type :ok, :f :write, :value [:a 1], :process 0}
{:type :invoke, :f :read, :value ["b" nil], :process 1}
{:type :ok, :f :read, :value ["b" 1], :process 1}
`
	hf, err := ReadEDN(strings.NewReader(in), Options{Independent: true})
	if err != nil {
		t.Fatal(err)
	}
	if hf.Ops[0].Key != "a" || hf.Ops[3].Key != "b" || string(hf.Ops[3].Value) != "1" {
		t.Fatalf("ops %v", hf.Ops)
	}
	r := linearizable.New(linearizable.KV(linearizable.CASRegister())).Check(context.Background(), hf)
	if r.Valid != checkers.Invalid {
		t.Fatalf("%s: %s", r.Valid, r.Summary)
	}
}

func TestReadEDNErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":        "",
		"not a map":    "[1 2 3]",
		"bad type":     "{:type :done, :f :read, :process 0}",
		"no process":   "{:type :invoke, :f :read}",
		"unterminated": "{:type :invoke, :f :read, :process 0",
		"odd map":      "{:type}",
		"deep":         strings.Repeat("[", 1000),
	} {
		if _, err := ReadEDN(strings.NewReader(in), Options{Source: "h.edn"}); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), "h.edn") {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
}

func FuzzReadEDN(f *testing.F) {
	f.Add(`{:type :invoke, :f :cas, :value [1 2], :process 0, :time 5}`)
	f.Add(`[{:type :ok :f :read :value #{1 2} :process :nemesis} #inst "2020" \a "x\"y"]`)
	f.Add(`; comment` + "\n" + `#_ {:x 1} {:type :fail :f :w :process 1 :value 1.5e3 :error [:x "y"]}`)
	f.Fuzz(func(t *testing.T, s string) {
		hf, err := ReadEDN(strings.NewReader(s), Options{Independent: len(s)%2 == 0})
		if err == nil {
			for _, op := range hf.Ops {
				_ = op.String()
			}
		}
	})
}

func FuzzReadLog(f *testing.F) {
	f.Add("INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\nINFO  jepsen.util - 0\t:info\t:cas\t:timed-out\n")
	f.Add("INFO jepsen.util - :nemesis :info :start {:a [1 #{2}]}\n")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ReadLog(strings.NewReader(s), Options{})
	})
}

// Knossos judges by history order: a :time that runs backwards must not
// turn a write that completed before a read was invoked into a concurrent
// one (a tie), nor reorder them.
func TestReadEDNBackwardTimeKeepsHistoryOrder(t *testing.T) {
	in := `{:type :invoke, :f :write, :value 3, :process 0, :time 1000}
{:type :ok, :f :write, :value 3, :process 0, :time 2000}
{:type :invoke, :f :read, :value nil, :process 1, :time 1500}
{:type :ok, :f :read, :value nil, :process 1, :time 1700}
`
	hf, err := ReadEDN(strings.NewReader(in), Options{Source: "history.edn"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(hf.Ops); i++ {
		if hf.Ops[i].Time <= hf.Ops[i-1].Time {
			t.Fatalf("record %d at %d, not after record %d at %d", i, hf.Ops[i].Time, i-1, hf.Ops[i-1].Time)
		}
	}
	if hf.Header.Params[TimeAdjustedParam] != "2" {
		t.Fatalf("params %v", hf.Header.Params)
	}
	// The read of nil comes after the write completed: not linearizable.
	if r := linearizable.New(linearizable.CASRegister()).Check(context.Background(), hf); r.Valid != checkers.Invalid {
		t.Fatalf("%s: %s", r.Valid, r.Summary)
	}
}
