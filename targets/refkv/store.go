// Package refkv is a reference key-value store for the register workload:
// registers of whole numbers behind one mutex, served over HTTP by
// `chaos node refkv`, so a run exercises the whole path (generator, client,
// history, linearizability checker) against a store whose correctness is
// known. Its broken modes are wrong on purpose and must be caught:
//
//   - linearizable: every operation takes effect atomically at one moment
//     between its request and its response.
//   - stale: a read within --stale-window of a write to the same key returns
//     the value before that write, as a lagging cache or follower would.
//   - lost-write: every third write is acknowledged and then forgotten, as a
//     leader that acknowledges before replicating and then loses its log.
//
// Only the first node holds the data; the others forward every request to
// it, so any node a client picks answers from the same registers.
package refkv

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Mode is how the store behaves.
type Mode string

// The modes.
const (
	Linearizable Mode = "linearizable"
	Stale        Mode = "stale"
	LostWrite    Mode = "lost-write"
)

// ParseMode checks a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Linearizable, Stale, LostWrite:
		return m, nil
	}
	return "", fmt.Errorf("mode %q: want linearizable, stale or lost-write", s)
}

// cell is one key's state.
type cell struct {
	set     bool
	v       int64
	prevSet bool
	prev    int64
	at      time.Time // time of the last write
}

// Store holds the registers. It is safe for concurrent use.
type Store struct {
	mode        Mode
	staleWindow time.Duration
	now         func() time.Time
	file        string

	mu     sync.Mutex
	regs   map[string]*cell
	writes int64
}

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithStaleWindow sets how long after a write the stale mode serves the old
// value.
func WithStaleWindow(d time.Duration) StoreOption { return func(s *Store) { s.staleWindow = d } }

// WithNow sets the time source (a fake in tests).
func WithNow(now func() time.Time) StoreOption { return func(s *Store) { s.now = now } }

// WithFile makes the store durable: every change is written to path
// before it is acknowledged, and a new store starts from what path holds,
// so a node killed and restarted keeps its data.
func WithFile(path string) StoreOption { return func(s *Store) { s.file = path } }

// NewStore returns a store, empty or as its file left it.
func NewStore(mode Mode, opts ...StoreOption) (*Store, error) {
	s := &Store{mode: mode, staleWindow: 100 * time.Millisecond, now: time.Now, regs: map[string]*cell{}}
	for _, o := range opts {
		o(s)
	}
	if s.file == "" {
		return s, nil
	}
	b, err := os.ReadFile(s.file)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load store: %w", err)
	}
	var vals map[string]int64
	if err := json.Unmarshal(b, &vals); err != nil {
		return nil, fmt.Errorf("load store %s: %w", s.file, err)
	}
	for k, v := range vals {
		s.regs[k] = &cell{set: true, v: v}
	}
	return s, nil
}

// save writes every value through a temporary file, so a kill at any
// moment leaves the old or the new contents. A page-cache write survives
// the process being killed; the harness kills processes, not machines.
func (s *Store) save() error {
	if s.file == "" {
		return nil
	}
	vals := make(map[string]int64, len(s.regs))
	for k, c := range s.regs {
		if c.set {
			vals[k] = c.v
		}
	}
	b, err := json.Marshal(vals)
	if err != nil {
		return err
	}
	tmp := s.file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("save store: %w", err)
	}
	if err := os.Rename(tmp, s.file); err != nil {
		return fmt.Errorf("save store: %w", err)
	}
	return nil
}

func (s *Store) reg(key string) *cell {
	r := s.regs[key]
	if r == nil {
		r = &cell{}
		s.regs[key] = r
	}
	return r
}

// Read returns the key's value; ok is false when nothing was written.
func (s *Store) Read(key string) (v int64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reg(key)
	if s.mode == Stale && s.now().Sub(r.at) < s.staleWindow {
		return r.prev, r.prevSet
	}
	return r.v, r.set
}

// Write sets the key. An error means the write may or may not be kept.
func (s *Store) Write(key string, v int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if s.mode == LostWrite && s.writes%3 == 0 {
		return nil // acknowledged, never applied
	}
	s.assign(s.reg(key), v)
	return s.save()
}

func (s *Store) assign(r *cell, v int64) {
	r.prev, r.prevSet = r.v, r.set
	r.v, r.set, r.at = v, true, s.now()
}

// CAS sets the key to to if it holds from, and reports whether it did.
func (s *Store) CAS(key string, from, to int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reg(key)
	if !r.set || r.v != from {
		return false, nil
	}
	s.assign(r, to)
	return true, s.save()
}
