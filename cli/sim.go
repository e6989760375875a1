package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/chaostest/chaos/targets/gossip"
)

func newSimCmd(env *cliEnv) *cobra.Command {
	var cfg gossip.SimConfig
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "sim gossip",
		Short: "Simulate gossip dissemination in virtual time with the store's own code",
		Long: `sim runs the gossip store's dissemination engine in process, in synchronous
rounds of virtual time, and sets what it measures against the theory: rounds
until every node has an update (push spreading: log2 N + ln N, Pittel 1987;
use --k 0) and the residue, the share of nodes rumor mongering never reaches
(s = e^(-(k+1)(1-s)), Demers et al. 1987).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 || args[0] != "gossip" {
				return fmt.Errorf("sim: want `chaos sim gossip [flags]` (gossip is the only simulated system)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := gossip.Simulate(env.ctx, cfg)
			if err != nil {
				return exitError{exitOther, err}
			}
			if asJSON {
				enc := json.NewEncoder(env.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "nodes\t%d\tfanout %d, k %d, %d trials, seed %d\n", cfg.Nodes, cfg.Fanout, cfg.K, cfg.Trials, cfg.Seed)
			if res.FullTrials > 0 {
				fmt.Fprintf(w, "rounds to full spread\t%.2f\t(%d of %d trials reached every node; log2 N + ln N = %.2f, ratio %.2f)\n",
					res.MeanFullRounds, res.FullTrials, cfg.Trials, res.TheoryRounds, res.MeanFullRounds/res.TheoryRounds)
			} else {
				fmt.Fprintf(w, "rounds to full spread\t-\t(no trial reached every node; log2 N + ln N = %.2f)\n", res.TheoryRounds)
			}
			if cfg.K > 0 {
				fmt.Fprintf(w, "residue\t%.4f\t(e^(-(k+1)(1-s)) gives %.4f, ratio %.2f)\n", res.Residue, res.TheoryResidue, res.Residue/res.TheoryResidue)
			} else {
				fmt.Fprintf(w, "residue\t%.4f\t(k 0 never loses interest)\n", res.Residue)
			}
			fmt.Fprintf(w, "messages per node\t%.2f\tper update\n", res.MessagesPerNode)
			return w.Flush()
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&cfg.Nodes, "nodes", 1000, "cluster size")
	fs.IntVar(&cfg.Fanout, "fanout", 1, "peers each rumor round pushes to")
	fs.IntVar(&cfg.K, "k", 2, "lose interest with probability 1/k after a push to a peer that knew; 0 never (pure push)")
	fs.IntVar(&cfg.Trials, "trials", 10, "independent updates to average over")
	fs.Int64Var(&cfg.Seed, "seed", 1, "random seed")
	fs.BoolVar(&asJSON, "json", false, "print the full result as JSON")
	return cmd
}
