package core

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// The comparison matrices: `chaos matrix locks` and `chaos matrix ids` run
// every registered implementation (a row) against every fault kind (a
// column), one short run per cell.
const (
	MatrixLocks = "locks"
	MatrixIDs   = "ids"
)

// Fault columns of a matrix. A row's Cell decides how it meets each one; the
// meaning below is what every row keeps to, so that a column compares like
// with like.
const (
	// FaultNone: no fault at all, the baseline (an implementation invalid
	// here is broken without help).
	FaultNone = "none"
	// FaultPartition: network partitions between nodes, and between
	// clients and nodes where the target can cut them.
	FaultPartition = "partition"
	// FaultKill: nodes killed with SIGKILL and restarted.
	FaultKill = "kill"
	// FaultPause: a process stops and resumes later. For locks the lock
	// holder (the GC pause of the lock literature: the client stops right
	// after its acquire, past its lease); for IDs a node (SIGSTOP).
	FaultPause = "pause"
	// FaultClock: a node's clock jumps (bumps, rollbacks, strobes) while
	// the host clock stays put.
	FaultClock = "clock"
	// FaultFailover: the primary dies and a replica is promoted, aimed at
	// the moment the primary has acknowledged what the replica lacks; n/a
	// for implementations without replicas.
	FaultFailover = "failover"
)

// MatrixFaults lists the fault columns in the order a matrix shows them.
func MatrixFaults() []string {
	return []string{FaultNone, FaultPartition, FaultKill, FaultPause, FaultClock, FaultFailover}
}

// FaultNemeses are the nemeses for a comma-separated list of fault columns
// ("none" or "": no nemesis), for a row whose nemeses for the columns it
// takes are named like them. ok is false for a column not among takes.
func FaultNemeses(faults string, takes ...string) (nemeses []string, ok bool) {
	if faults == FaultNone || faults == "" {
		return nil, true
	}
	for _, f := range strings.Split(faults, ",") {
		if !slices.Contains(takes, f) {
			return nil, false
		}
		nemeses = append(nemeses, f)
	}
	return nemeses, true
}

// MatrixRow is one row of a comparison matrix: an implementation of a lock
// or an ID scheme, and how to run it against each fault column.
type MatrixRow struct {
	// Matrix is the matrix the row belongs to: MatrixLocks or MatrixIDs.
	Matrix string
	// Name is the implementation, e.g. "redis-single", "redlock",
	// "etcd-mutex", "snowflake-naive"; unique within its matrix.
	Name string
	// Doc is one line: the scheme and the weakness it is known for.
	Doc string
	// Cell returns the run for one fault column (FaultNone, ...) on one
	// runtime ("local", "docker"); ok=false means the cell does not apply
	// ("n/a": the target cannot take that fault there, or it has no such
	// part). The matrix runner sets the store, the runtime and the
	// progress output; everything else, seed included, is the row's.
	// Config.TimeLimit is the cell's length: a runner may replace it
	// (`--cell-time`) for cells whose faults come on the clock schedule,
	// never for cells whose faults are triggered by events (a scripted
	// failover), whose timing is part of the plan.
	Cell func(fault, runtime string) (cfg Config, ok bool)
	// NotOn, when set, says why the row cannot run on a runtime at all
	// ("" when it can): the matrix shows the row's cells there as not on
	// this runtime, with that reason, instead of asking Cell.
	NotOn func(runtime string) (reason string)
}

// AddMatrixRow registers a row; a second row of the same matrix and name
// replaces the first.
func (r *Registry) AddMatrixRow(row MatrixRow) {
	if r.matrix == nil {
		r.matrix = map[string]MatrixRow{}
	}
	r.matrix[row.Matrix+"/"+row.Name] = row
}

// MatrixRows lists the rows of one matrix, sorted by name.
func (r *Registry) MatrixRows(matrix string) []MatrixRow {
	var out []MatrixRow
	for _, row := range r.matrix {
		if row.Matrix == matrix {
			out = append(out, row)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Matrices lists the matrices that have rows, sorted.
func (r *Registry) Matrices() []string {
	seen := map[string]bool{}
	for _, row := range r.matrix {
		seen[row.Matrix] = true
	}
	return sortedKeys(seen)
}

// MatrixRow looks one row up.
func (r *Registry) MatrixRow(matrix, name string) (MatrixRow, error) {
	row, ok := r.matrix[matrix+"/"+name]
	if !ok {
		var names []string
		for _, x := range r.MatrixRows(matrix) {
			names = append(names, x.Name)
		}
		return row, fmt.Errorf("matrix %s has no row %q (rows: %s)", matrix, name, strings.Join(names, ", "))
	}
	return row, nil
}
