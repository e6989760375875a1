package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/chaostest/chaos/core"
)

// binParam is --postgres-bin, shared by every target of this package.
var binParam = core.Param{Name: "postgres-bin", Default: "", Usage: "postgres: directory of initdb, postgres and pg_basebackup; empty: the newest under /usr/lib/postgresql"}

// serverSpec is one PostgreSQL server that replicates nothing and follows
// nobody, ready once setup (idempotent: it runs after every start) has
// succeeded on it. It carries HostFiles(bin), so that the Docker runtime
// ships the server's programs into its image.
func serverSpec(name, bin string, setup func(ctx context.Context, c *pgx.Conn) error) core.NodeSpec {
	return core.NodeSpec{
		Name: name, Kind: Name, Ports: []string{Port}, HostFiles: HostFiles(bin),
		Args: func(env core.NodeEnv) []string {
			return []string{"--bin", bin, "--listen", env.Listen(Port), "--data-dir", env.DataDir, "--sync", "off", "--standbys", "0"}
		},
		Ready: func(ctx context.Context, addr func(string) (string, error)) error {
			a, err := addr(Port)
			if err != nil {
				return err
			}
			c, err := connect(ctx, a)
			if err != nil {
				return err
			}
			defer c.Close(context.WithoutCancel(ctx))
			return setup(ctx, c)
		},
	}
}

// execAll runs statements in order.
func execAll(ctx context.Context, c *pgx.Conn, stmts ...string) error {
	for _, s := range stmts {
		if _, err := c.Exec(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// certainlyNotApplied reports whether a statement that ended in err
// certainly had no effect: the server refused it, or nothing of it was
// sent. Anything else (a connection lost after sending, a timeout) leaves
// the outcome unknown.
func certainlyNotApplied(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) || pgconn.SafeToRetry(err)
}
