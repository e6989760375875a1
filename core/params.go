package core

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ParamType is the type of a parameter's value; the CLI shows it in
// --help and every value is checked against it before a run starts.
type ParamType string

// The parameter types. The zero value is a string.
const (
	TypeString   ParamType = "string"
	TypeBool     ParamType = "bool"
	TypeInt      ParamType = "int"
	TypeFloat    ParamType = "float"
	TypeDuration ParamType = "duration"
	// TypeChoice is one of Param.Choices.
	TypeChoice ParamType = "choice"
)

// typ is t, or string when unset.
func (t ParamType) typ() ParamType {
	if t == "" {
		return TypeString
	}
	return t
}

// Placeholder is how --help shows a value of p: its type ("duration"), the
// choices ("naive|guarded|monotonic"), with ",..." for a list.
func (p Param) Placeholder() string {
	s := string(p.Type.typ())
	if p.Type == TypeChoice && len(p.Choices) > 0 {
		s = strings.Join(p.Choices, "|")
	}
	if p.List {
		s += ",..."
	}
	return s
}

// Check reports whether v is a value of p's type, naming the flag and what
// a good value looks like.
func (p Param) Check(v string) error {
	if p.List {
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x == "" && p.Type.typ() != TypeString {
				return fmt.Errorf("--%s %q: an empty element in the list", p.Name, v)
			} else if err := p.checkOne(x); err != nil {
				return fmt.Errorf("--%s %q: element %q: %s", p.Name, v, x, err)
			}
		}
		return nil
	}
	if err := p.checkOne(v); err != nil {
		return fmt.Errorf("--%s %q: %s", p.Name, v, err)
	}
	return nil
}

func (p Param) checkOne(v string) error {
	switch p.Type.typ() {
	case TypeBool:
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("not true or false")
		}
	case TypeInt:
		if _, err := strconv.Atoi(v); err != nil {
			return fmt.Errorf("not a whole number")
		}
	case TypeFloat:
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Errorf("not a number")
		}
	case TypeDuration:
		if _, err := time.ParseDuration(v); err != nil {
			return fmt.Errorf("not a duration (examples: 500ms, 2s, 1m)")
		}
	case TypeChoice:
		for _, c := range p.Choices {
			if v == c {
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(p.Choices, ", "))
	}
	return nil
}

// paramSet is the parameters that apply to one run, by name and by alias.
type paramSet struct {
	byName  map[string]Param
	aliasOf map[string]string // old name -> name
	owner   map[string]string
	parts   []string
}

func newParamSet() *paramSet {
	return &paramSet{byName: map[string]Param{}, aliasOf: map[string]string{}, owner: map[string]string{}}
}

// owners lists the parts of the run, parameters or not.
func (s *paramSet) owners() []string { return s.parts }

func (s *paramSet) add(owner string, ps []Param) {
	s.parts = append(s.parts, owner)
	for _, p := range ps {
		if _, ok := s.byName[p.Name]; !ok {
			s.byName[p.Name] = p
			s.owner[p.Name] = owner
		}
		for _, a := range p.Aliases {
			s.aliasOf[a] = p.Name
		}
	}
}

// resolve renames aliases to their names, and checks every value declared
// here against its type. A parameter neither here nor in all (every
// parameter the registry knows) is refused: it is a typo.
func (s *paramSet) resolve(given Params, all *paramSet) (Params, error) {
	out := Params{}
	for _, k := range sortedKeys(given) {
		v := given[k]
		name := k
		if n, ok := s.aliasOf[k]; ok {
			name = n
		} else if n, ok := all.aliasOf[k]; ok {
			name = n
		}
		if name != k {
			if _, dup := given[name]; dup {
				return nil, fmt.Errorf("--%s and its older name --%s are both given; keep --%s", name, k, name)
			}
		}
		if p, ok := s.byName[name]; ok {
			if err := p.Check(v); err != nil {
				return nil, err
			}
		} else if _, ok := all.byName[name]; !ok {
			return nil, fmt.Errorf("unknown parameter --%s (see 'chaos list' for every target's, workload's and nemesis's parameters)", k)
		} else {
			return nil, fmt.Errorf("--%s is a parameter of %s, which this run does not use (it runs %s)",
				name, all.owner[name], strings.Join(s.owners(), ", "))
		}
		out[name] = v
	}
	return out, nil
}

// CanonicalParams renames older parameter names to the current ones, as
// the registry declares them (Param.Aliases), so a history stored before a
// rename is read with today's names.
func (r *Registry) CanonicalParams(p Params) Params {
	all := r.allParams()
	out := Params{}
	for k, v := range p {
		if n, ok := all.aliasOf[k]; ok {
			if _, dup := p[n]; !dup {
				out[n] = v
				continue
			}
		}
		out[k] = v
	}
	return out
}

// allParams is every parameter the registry knows.
func (r *Registry) allParams() *paramSet {
	s := newParamSet()
	for _, t := range r.Targets() {
		s.add("target "+t.Name, t.Params)
	}
	for _, w := range r.Workloads() {
		s.add("workload "+w.Name, w.Params)
	}
	for _, n := range r.Nemeses() {
		s.add("nemesis "+n.Name, n.Params)
	}
	return s
}

// OwnedParam is a parameter with the parts that declare it.
type OwnedParam struct {
	Param
	Owners []string // "target snowflake", "workload ids", "nemesis clock"
}

// ParamsFor lists, sorted by name, the parameters that apply to a target:
// its own, its workloads' and those of the nemeses it supports. An empty
// target lists every parameter the registry knows.
func (r *Registry) ParamsFor(target string) []OwnedParam {
	by := map[string]*OwnedParam{}
	add := func(owner string, ps []Param) {
		for _, p := range ps {
			if o, ok := by[p.Name]; ok {
				o.Owners = append(o.Owners, owner)
				continue
			}
			by[p.Name] = &OwnedParam{Param: p, Owners: []string{owner}}
		}
	}
	if t, ok := r.targets[target]; ok {
		add("target "+t.Name, t.Params)
		for _, w := range t.Workloads {
			if wi, ok := r.workloads[w]; ok {
				add("workload "+w, wi.Params)
			}
		}
		ns := t.Nemeses
		if len(ns) == 0 {
			ns = sortedKeys(r.nemeses)
		}
		for _, n := range ns {
			if ni, ok := r.nemeses[n]; ok {
				add("nemesis "+n, ni.Params)
			}
		}
	} else {
		for _, t := range r.Targets() {
			add("target "+t.Name, t.Params)
		}
		for _, w := range r.Workloads() {
			add("workload "+w.Name, w.Params)
		}
		for _, n := range r.Nemeses() {
			add("nemesis "+n.Name, n.Params)
		}
	}
	out := make([]OwnedParam, 0, len(by))
	for _, p := range by {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
