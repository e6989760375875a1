package core

import "sync"

// runScope holds the values the parts of one run share (see RunValue).
// Prepare fills it in while it builds a run's target, workload and
// nemeses, and holds mu meanwhile, so the runs one registry prepares at
// once (matrix cells side by side, parallel tests) never see each other's.
type runScope struct {
	mu   sync.Mutex
	vals map[any]any // nil outside Prepare
}

// RunValue returns the value under key that the parts of the run being
// prepared share, made by mk on its first use in that run. It is for state
// a target's clients and a nemesis must share but no other run may reach:
// a board through which a fault pauses one run's client "c1" must not
// pause another run's "c1". Call it from TargetInfo.New, WorkloadInfo.New
// or NemesisInfo.New; Prepare calls those for one run at a time. Called
// anywhere else, it returns a fresh value from mk, shared with nothing.
func (r *Registry) RunValue(key any, mk func() any) any {
	// Prepare holds r.scope.mu while the factories that call this run, in
	// its own goroutine; a call outside Prepare finds vals nil.
	vals := r.scope.vals
	if vals == nil {
		return mk()
	}
	v, ok := vals[key]
	if !ok {
		v = mk()
		vals[key] = v
	}
	return v
}

// building runs build with a fresh run scope: the values its factories
// share through RunValue belong to this run alone.
func (r *Registry) building(build func() error) error {
	r.scope.mu.Lock()
	defer r.scope.mu.Unlock()
	r.scope.vals = map[any]any{}
	defer func() { r.scope.vals = nil }()
	return build()
}
