package gossip

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// SimConfig is one simulation: Trials independent updates, each started at a
// random node of a fresh cluster of Nodes engines exchanging messages in
// process, in synchronous rounds of virtual time.
type SimConfig struct {
	Nodes  int
	Fanout int
	// K is the rumor loss of interest; 0 never loses interest, which is
	// pure push spreading (Pittel's setting).
	K      int
	Trials int
	Seed   int64
	// MaxRounds bounds a trial (default 10 * (log2 N + ln N) + 100).
	MaxRounds int
}

// SimTrial is what one update did.
type SimTrial struct {
	// FullAt is the first round after which every node had the update, or
	// -1 when some never did.
	FullAt int `json:"full_at"`
	// Rounds is how long the rumor lived (until every node lost interest,
	// or, with K = 0, until every node had it).
	Rounds int `json:"rounds"`
	// Reached counts nodes that received the update.
	Reached  int   `json:"reached"`
	Messages int64 `json:"messages"`
}

// SimResult sums up a simulation and sets it against the theory.
type SimResult struct {
	Config SimConfig  `json:"config"`
	Trials []SimTrial `json:"trials"`
	// MeanFullRounds averages FullAt over the trials that reached every
	// node; TheoryRounds is log2 N + ln N (Pittel 1987).
	MeanFullRounds float64 `json:"mean_full_rounds"`
	FullTrials     int     `json:"full_trials"`
	TheoryRounds   float64 `json:"theory_rounds"`
	// Residue is the mean share of nodes never reached; TheoryResidue
	// solves s = e^(-(k+1)(1-s)) (Demers et al. 1987, feedback and coin).
	Residue       float64 `json:"residue"`
	TheoryResidue float64 `json:"theory_residue"`
	// MessagesPerNode is the mean number of messages per node per update.
	MessagesPerNode float64 `json:"messages_per_node"`
}

// TheoryRounds is log2 N + ln N, the rounds push spreading needs to reach
// all of N nodes.
func TheoryRounds(n int) float64 { return math.Log2(float64(n)) + math.Log(float64(n)) }

// TheoryResidue solves s = e^(-(k+1)(1-s)) for the share of nodes rumor
// mongering with feedback and a 1/k coin never reaches.
func TheoryResidue(k int) float64 {
	if k <= 0 {
		return 0
	}
	s := 0.0
	for range 10000 {
		next := math.Exp(-float64(k+1) * (1 - s))
		if math.Abs(next-s) < 1e-15 {
			break
		}
		s = next
	}
	return s
}

// Simulate runs the dissemination code of the store (Engine) under virtual
// time. Each round, every node that still spreads the update pushes it to
// Fanout random peers; pushes are delivered in random order, and the
// feedback they cause within the same round.
func Simulate(ctx context.Context, cfg SimConfig) (SimResult, error) {
	switch {
	case cfg.Nodes < 2 || cfg.Nodes > 1_000_000:
		return SimResult{}, fmt.Errorf("--nodes %d: must be between 2 and 1000000", cfg.Nodes)
	case cfg.Fanout < 1 || cfg.Fanout >= cfg.Nodes:
		return SimResult{}, fmt.Errorf("--fanout %d: must be between 1 and nodes-1", cfg.Fanout)
	case cfg.K < 0:
		return SimResult{}, fmt.Errorf("--k %d: must not be negative (0: never lose interest)", cfg.K)
	case cfg.Trials < 1:
		return SimResult{}, fmt.Errorf("--trials %d: must be at least 1", cfg.Trials)
	}
	if cfg.MaxRounds <= 0 {
		cfg.MaxRounds = int(10*TheoryRounds(cfg.Nodes)) + 100
	}
	names := make([]string, cfg.Nodes)
	index := make(map[string]int, cfg.Nodes)
	width := len(fmt.Sprint(cfg.Nodes - 1))
	for i := range names {
		names[i] = fmt.Sprintf("s%0*d", width, i)
		index[names[i]] = i
	}
	res := SimResult{Config: cfg, TheoryRounds: TheoryRounds(cfg.Nodes), TheoryResidue: TheoryResidue(cfg.K)}
	var fullSum, residueSum, msgSum float64
	for t := range cfg.Trials {
		if err := ctx.Err(); err != nil {
			return res, errors.New("simulation interrupted")
		}
		tr := simTrial(cfg, t, names, index)
		res.Trials = append(res.Trials, tr)
		if tr.FullAt >= 0 {
			fullSum += float64(tr.FullAt)
			res.FullTrials++
		}
		residueSum += float64(cfg.Nodes-tr.Reached) / float64(cfg.Nodes)
		msgSum += float64(tr.Messages) / float64(cfg.Nodes)
	}
	if res.FullTrials > 0 {
		res.MeanFullRounds = fullSum / float64(res.FullTrials)
	}
	res.Residue = residueSum / float64(cfg.Trials)
	res.MessagesPerNode = msgSum / float64(cfg.Trials)
	return res, nil
}

func simTrial(cfg SimConfig, trial int, names []string, index map[string]int) SimTrial {
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(trial)*0x9e3779b97f4a7c15+1))
	round := 0
	now := func() int64 { return int64(round) * 1e6 }
	engines := make([]*Engine, cfg.Nodes)
	for i, n := range names {
		ec := Config{Self: n, Peers: names, Rumor: true, Fanout: cfg.Fanout, K: cfg.K, Buckets: 1}
		engines[i] = newEngine(ec, rand.New(rand.NewPCG(rng.Uint64(), uint64(i))), now)
	}
	start := rng.IntN(cfg.Nodes)
	engines[start].Put("update", "1", false)
	has := make([]bool, cfg.Nodes)
	has[start] = true
	tr := SimTrial{FullAt: -1, Reached: 1}
	hot := []int{start}
	for round = 1; round <= cfg.MaxRounds && len(hot) > 0; round++ {
		var pushes []Msg
		for _, i := range hot {
			pushes = append(pushes, engines[i].Tick()...)
		}
		rng.Shuffle(len(pushes), func(i, j int) { pushes[i], pushes[j] = pushes[j], pushes[i] })
		var feedback []Msg
		for _, m := range pushes {
			to := index[m.To]
			feedback = append(feedback, engines[to].Step(m)...)
			if !has[to] {
				has[to] = true
				tr.Reached++
				hot = append(hot, to)
			}
		}
		for _, m := range feedback {
			engines[index[m.To]].Step(m)
		}
		tr.Messages += int64(len(pushes) + len(feedback))
		tr.Rounds = round
		if tr.Reached == cfg.Nodes && tr.FullAt < 0 {
			tr.FullAt = round
			if cfg.K == 0 {
				break
			}
		}
		live := hot[:0]
		for _, i := range hot {
			if engines[i].Hot() > 0 {
				live = append(live, i)
			}
		}
		hot = live
	}
	return tr
}
