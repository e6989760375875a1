package core

import (
	"slices"
	"strings"
	"testing"
)

func TestMatrixRowsByMatrixSortedAndReplaced(t *testing.T) {
	r := NewRegistry()
	cell := func(fault, runtime string) (Config, bool) { return Config{Target: "x"}, fault == FaultNone }
	r.AddMatrixRow(MatrixRow{Matrix: MatrixLocks, Name: "zk", Doc: "first", Cell: cell})
	r.AddMatrixRow(MatrixRow{Matrix: MatrixLocks, Name: "redlock", Cell: cell})
	r.AddMatrixRow(MatrixRow{Matrix: MatrixIDs, Name: "snowflake-naive", Cell: cell})
	r.AddMatrixRow(MatrixRow{Matrix: MatrixLocks, Name: "zk", Doc: "second", Cell: cell})

	var names []string
	for _, row := range r.MatrixRows(MatrixLocks) {
		names = append(names, row.Name+":"+row.Doc)
	}
	if got := strings.Join(names, ","); got != "redlock:,zk:second" {
		t.Fatalf("locks rows = %s, want redlock, then zk as registered last", got)
	}
	if got := r.MatrixRows(MatrixIDs); len(got) != 1 || got[0].Name != "snowflake-naive" {
		t.Fatalf("ids rows = %+v", got)
	}
	if got := r.Matrices(); strings.Join(got, ",") != "ids,locks" {
		t.Fatalf("matrices = %v", got)
	}
	if _, err := r.MatrixRow(MatrixLocks, "nope"); err == nil || !strings.Contains(err.Error(), "redlock, zk") {
		t.Fatalf("unknown row error = %v, want the known rows named", err)
	}
	if _, ok := r.MatrixRows(MatrixLocks)[0].Cell(FaultClock, "local"); ok {
		t.Fatal("cell reported as applying")
	}
	if fs := MatrixFaults(); fs[0] != FaultNone || len(fs) != 6 {
		t.Fatalf("faults = %v", fs)
	}
}

// A fault list becomes the nemeses named like its columns; "none" and ""
// are no nemesis; a column the row does not take refuses the whole list.
func TestFaultNemeses(t *testing.T) {
	takes := []string{FaultKill, FaultPause, FaultPartition}
	for _, c := range []struct {
		faults string
		want   []string
		ok     bool
	}{
		{"none", nil, true},
		{"", nil, true},
		{"kill", []string{"kill"}, true},
		{"pause,partition", []string{"pause", "partition"}, true},
		{"kill,clock", nil, false},
		{"none,kill", nil, false},
	} {
		got, ok := FaultNemeses(c.faults, takes...)
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("FaultNemeses(%q) = %v, %v; want %v, %v", c.faults, got, ok, c.want, c.ok)
		}
	}
}
