package txn

import (
	"fmt"

	"github.com/chaostest/chaos/checkers"
)

// Model is a consistency model, defined by the anomalies it forbids.
type Model int

// The models, weakest first; each forbids everything the previous one does.
const (
	ReadCommitted Model = iota
	SnapshotIsolation
	Serializable
	StrictSerializable
)

// Models lists the models weakest first.
var Models = []Model{ReadCommitted, SnapshotIsolation, Serializable, StrictSerializable}

func (m Model) String() string {
	switch m {
	case ReadCommitted:
		return "read-committed"
	case SnapshotIsolation:
		return "snapshot-isolation"
	case Serializable:
		return "serializable"
	}
	return "strict-serializable"
}

// ParseModel reads a model's name.
func ParseModel(s string) (Model, error) {
	for _, m := range Models {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown consistency model %q (want read-committed, snapshot-isolation, serializable or strict-serializable)", s)
}

// The anomaly classes, by the name results and witnesses use.
const (
	G0               = "G0"
	G1a              = "G1a"
	G1b              = "G1b"
	G1c              = "G1c"
	GSingle          = "G-single"
	G2Item           = "G2-item"
	G2               = "G2" // a cycle with at least one rw edge, when how many is undecided
	G0RT             = "G0-realtime"
	G1cRT            = "G1c-realtime"
	GSingleRT        = "G-single-realtime"
	G2ItemRT         = "G2-item-realtime"
	LostUpdate       = "lost-update"
	Internal         = "internal"
	GarbageRead      = "garbage-read"
	DuplicateElement = "duplicate-elements"
	IncompatibleOrd  = "incompatible-order"
	// VersionOrder is never found, only undecided: an rw-register key whose
	// version order the history does not determine.
	VersionOrder = "version-order"
)

// forbiddenFrom is the weakest model that forbids each anomaly. Anomalies
// that no database of any isolation level may show (a read of a value
// nobody wrote, versions in two orders, a transaction blind to its own
// writes) are forbidden from read committed up.
var forbiddenFrom = map[string]Model{
	G0: ReadCommitted, G1a: ReadCommitted, G1b: ReadCommitted, G1c: ReadCommitted,
	Internal: ReadCommitted, GarbageRead: ReadCommitted, DuplicateElement: ReadCommitted,
	IncompatibleOrd: ReadCommitted, VersionOrder: ReadCommitted,
	GSingle: SnapshotIsolation, LostUpdate: SnapshotIsolation,
	G2Item: Serializable, G2: Serializable,
	G0RT: StrictSerializable, G1cRT: StrictSerializable, GSingleRT: StrictSerializable, G2ItemRT: StrictSerializable,
}

// modelStatus says for each model whether the history satisfies it (Valid),
// violates it (Invalid) or cannot be told (Unknown: a search that could
// have found an anomaly it forbids did not finish).
func modelStatus(found, undecided map[string]bool) map[Model]checkers.Validity {
	st := map[Model]checkers.Validity{}
	for _, m := range Models {
		st[m] = checkers.Valid
	}
	for k := range undecided {
		for _, m := range Models {
			if m >= forbiddenFrom[k] && st[m] == checkers.Valid {
				st[m] = checkers.Unknown
			}
		}
	}
	for k := range found {
		for _, m := range Models {
			if m >= forbiddenFrom[k] {
				st[m] = checkers.Invalid
			}
		}
	}
	return st
}

func strongestHolding(st map[Model]checkers.Validity) string {
	s := ""
	for _, m := range Models {
		if st[m] == checkers.Valid {
			s = m.String()
		}
	}
	return s
}

func weakestViolated(st map[Model]checkers.Validity) string {
	for _, m := range Models {
		if st[m] == checkers.Invalid {
			return m.String()
		}
	}
	return ""
}
