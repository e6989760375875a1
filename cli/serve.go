package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaostest/chaos/reports"
)

func newServeCmd(env *cliEnv) *cobra.Command {
	var store, addr string
	cmd := &cobra.Command{
		Use:   "serve [--store DIR] [--addr 127.0.0.1:8080]",
		Short: "Serve the runs of a store and their reports over HTTP",
		Long: `serve lists the runs of a store (target, start time, seed and verdict, newest
first) and serves each run's report and files. It only reads; a run without
report.html gets one rendered on the fly. It listens on the loopback
interface unless --addr says otherwise: a history can hold anything your
system returned, so think before serving it to a network.`,
		Example: `  chaos serve --store store --addr 127.0.0.1:8080`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(store) == "" {
				return fmt.Errorf("--store %q: must name a directory (leave it out for \"store\")", store)
			}
			if _, _, err := net.SplitHostPort(addr); err != nil || strings.TrimSpace(addr) == "" {
				return fmt.Errorf("--addr %q: want host:port, such as 127.0.0.1:8080 (loopback) or 127.0.0.1:0 (any free port)", addr)
			}
			h, err := reports.Handler(store)
			if err != nil {
				return fmt.Errorf("%w (give the directory that `chaos run --store` wrote to)", err)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("--addr %s: %w", addr, err)
			}
			if host, _, err := net.SplitHostPort(ln.Addr().String()); err == nil {
				if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
					fmt.Fprintf(env.stderr, "chaos: warning: serving %s on %s, which is reachable from other machines\n", store, ln.Addr())
				}
			}
			fmt.Fprintf(env.stdout, "serving %s at http://%s/ (Ctrl-C stops)\n", store, ln.Addr())
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			select {
			case err := <-done:
				return err
			case <-env.ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.WithoutCancel(env.ctx), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return err
			}
			if err := <-done; !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&store, "store", "store", "directory that keeps the runs")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on (loopback by default)")
	return cmd
}
