package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
)

func newCleanCmd(env *cliEnv) *cobra.Command {
	var opts core.CleanOptions
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Remove the containers, networks and host files that crashed runs left behind",
		Long: `clean asks every runtime that can leave something behind (the docker
runtime: containers and networks carrying its labels) to remove what runs
whose harness process is gone left, for example a run killed with SIGKILL. Runs whose harness still lives on this host
are spared unless --force is given, and clean still exits 0 when all it left
alone is such a run. --images also removes the cached node images, which the
next docker run builds again. It also removes the libfaketime shared-memory
files (/dev/shm/faketime_shm_<pid>, sem.faketime_sem_<pid>) of local nodes
whose harness was killed, for recorded pids of ours that are gone.`,
		Example: `  chaos clean
  chaos clean --dry-run
  chaos clean --images`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("run") {
				if err := checkRunID(opts.Run); err != nil {
					return err
				}
			}
			rep, err := cleanAll(env, opts)
			verb := "removed"
			if opts.DryRun {
				verb = "would remove"
			}
			for _, x := range []struct {
				what  string
				names []string
			}{{"container", rep.Containers}, {"network", rep.Networks}, {"image", rep.Images}} {
				for _, n := range x.names {
					fmt.Fprintf(env.stdout, "%s %s %s\n", verb, x.what, n)
				}
			}
			files, ferr := local.CleanHostFiles(opts.DryRun)
			for _, f := range files {
				fmt.Fprintf(env.stdout, "%s host file %s\n", verb, f)
			}
			err = errors.Join(err, ferr)
			// Sparing a live run is what clean is for, not a failure.
			for _, r := range rep.Spared {
				fmt.Fprintf(env.stdout, "left alone run %s: its harness is still running (--force removes it anyway)\n", r)
			}
			if n := len(rep.Containers) + len(rep.Networks) + len(rep.Images) + len(files); n == 0 && err == nil {
				if opts.Run != "" && len(rep.Spared) == 0 {
					fmt.Fprintf(env.stdout, "nothing to clean for run %s (nothing of it is left; the run id is as in store/<target>/<timestamp>)\n", opts.Run)
				} else if len(rep.Spared) > 0 {
					fmt.Fprintln(env.stdout, "nothing else to clean")
				} else {
					fmt.Fprintln(env.stdout, "nothing to clean")
				}
			}
			if err != nil {
				return fmt.Errorf("clean: %w", err)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&opts.Force, "force", false, "also remove runs whose harness is still alive")
	fs.BoolVar(&opts.Images, "images", false, "also remove the cached node images")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "only print what would be removed")
	fs.StringVar(&opts.Run, "run", "", "only this run (target/timestamp, as in the run directory)")
	return cmd
}

// checkRunID refuses a --run that cannot name a run: a run id is
// <target>/<timestamp>, the last two parts of a run directory.
func checkRunID(id string) error {
	target, stamp, ok := strings.Cut(id, "/")
	if !ok || target == "" || stamp == "" || strings.ContainsAny(stamp, "/\\") || strings.TrimSpace(id) != id ||
		strings.ContainsFunc(id, func(r rune) bool { return r < ' ' || r == ' ' }) || target == "." || target == ".." || stamp == "." || stamp == ".." {
		return fmt.Errorf("--run %q: not a run id; give <target>/<timestamp> as in the run directory (store/snowflake/20260101T120000.000Z is snowflake/20260101T120000.000Z), or leave --run out to clean every dead run", id)
	}
	return nil
}

// cleanAll runs every registered runtime's Clean and merges the reports.
func cleanAll(env *cliEnv, opts core.CleanOptions) (core.CleanReport, error) {
	var all core.CleanReport
	var errs []error
	for _, rt := range env.reg.Runtimes() {
		if rt.Clean == nil {
			continue
		}
		rep, err := rt.Clean(env.ctx, opts)
		all.Containers = append(all.Containers, rep.Containers...)
		all.Networks = append(all.Networks, rep.Networks...)
		all.Images = append(all.Images, rep.Images...)
		all.Spared = append(all.Spared, rep.Spared...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s runtime: %w", rt.Name, err))
		}
	}
	return all, errors.Join(errs...)
}
