package core

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestValidateRefusesNonsense(t *testing.T) {
	ok := DefaultConfig()
	ok.NewRuntime = func() (Runtime, error) { return nil, nil }
	if err := ok.Validate(); err != nil {
		t.Fatalf("the default configuration is refused: %v", err)
	}
	for flag, mutate := range map[string]func(*Config){
		"--nodes":            func(c *Config) { c.Nodes = 0 },
		"--concurrency":      func(c *Config) { c.Concurrency = 0 },
		"--time-limit":       func(c *Config) { c.TimeLimit = 0 },
		"--nemesis-interval": func(c *Config) { c.NemesisInterval = -time.Second },
		"--op-timeout":       func(c *Config) { c.OpTimeout = 0 },
		"--check-timeout":    func(c *Config) { c.CheckTimeout = -time.Second },
		"--store":            func(c *Config) { c.Store = "" },
		"--rate":             func(c *Config) { c.Rate = math.NaN() },
		"--rate ":            func(c *Config) { c.Rate = math.Inf(1) },
		"--rate  ":           func(c *Config) { c.Rate = 1e-12 },
		"final timeout":      func(c *Config) { c.FinalTimeout = 0 },
	} {
		c := ok
		mutate(&c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), strings.TrimSpace(flag)+" ") {
			t.Errorf("%s: Validate = %v", flag, err)
		}
	}
	c := ok
	c.Rate = minRate(c.Concurrency)
	if err := c.Validate(); err != nil {
		t.Errorf("the smallest rate that fits is refused: %v", err)
	}
}

// TestStaggerDelayNeverOverflows: however small the rate, the pause is never
// negative (which would mean no limit at all).
func TestStaggerDelayNeverOverflows(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, rate := range []float64{1e-12, 1e-300, math.SmallestNonzeroFloat64, minRate(5), 1e-3, 1} {
		for range 100 {
			if d := staggerDelay(rng, 5, rate); d < 0 {
				t.Fatalf("rate %g: delay %d", rate, d)
			}
		}
	}
}
