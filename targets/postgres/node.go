package postgres

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nodeFlags are the flags of `chaos node postgres`.
type nodeFlags struct {
	bin      string
	listen   string
	dataDir  string
	primary  string
	sync     string
	standbys int
	prepared int
}

func parseNodeFlags(args []string) (nodeFlags, error) {
	var f nodeFlags
	fs := flag.NewFlagSet("chaos node postgres", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.bin, "bin", "", "directory of PostgreSQL's programs (initdb, postgres, pg_basebackup); empty: the newest under /usr/lib/postgresql")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:5432", "address to serve on")
	fs.StringVar(&f.dataDir, "data-dir", ".", "the node's directory; the cluster lives in its pgdata")
	fs.StringVar(&f.primary, "primary", "", "address of the primary: this node is a streaming standby of it")
	fs.StringVar(&f.sync, "sync", "off", "off: asynchronous standbys; on or remote_apply: a commit waits for one standby")
	fs.IntVar(&f.standbys, "standbys", 0, "how many standbys follow this primary")
	fs.IntVar(&f.prepared, "max-prepared-transactions", 0, "max_prepared_transactions: how many two-phase transactions may be prepared at once (0: PREPARE TRANSACTION is refused)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return f, nil
}

// FindBin returns the directory of PostgreSQL's server programs: dir when
// given, otherwise the newest version under /usr/lib/postgresql (Debian's
// layout), with an error that says how to install it when there is none.
func FindBin(dir string) (string, error) {
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err != nil {
			return "", fmt.Errorf("--postgres-bin %s: no postgres program there", dir)
		}
		return dir, nil
	}
	ms, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(ms) == 0 {
		return "", errors.New("PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/postgres (apt-get install postgresql, or bash .ci/setup.d/postgres.sh; or name the directory with --postgres-bin)")
	}
	sort.Slice(ms, func(i, j int) bool { return versionOf(ms[i]) < versionOf(ms[j]) })
	return filepath.Dir(ms[len(ms)-1]), nil
}

func versionOf(p string) int {
	var v int
	fmt.Sscanf(filepath.Base(filepath.Dir(filepath.Dir(p))), "%d", &v)
	return v
}

// NodeMain runs one PostgreSQL server until ctx ends: it creates the cluster
// on first start (initdb for a primary, pg_basebackup from the primary for a
// standby) and then runs postgres in the foreground.
//
// PostgreSQL refuses to run as root, and the harness often is root. The
// server therefore runs in a user namespace of its own that maps an
// unprivileged id onto the harness's: inside it is not root, outside its
// files belong to whoever runs the harness, and no system account or
// permission change is needed. A private IPC namespace takes its System V
// shared memory with it when it dies, even by SIGKILL.
func NodeMain(ctx context.Context, args []string) error {
	f, err := parseNodeFlags(args)
	if err != nil {
		return err
	}
	bin, err := FindBin(f.bin)
	if err != nil {
		return err
	}
	host, port, err := splitHostPort(f.listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", f.listen, err)
	}
	pgdata, err := filepath.Abs(filepath.Join(f.dataDir, "pgdata"))
	if err != nil {
		return err
	}
	unprivileged, err := unprivilegedRunner(ctx, bin, f.dataDir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(pgdata, "PG_VERSION")); err != nil {
		if err := create(ctx, unprivileged, bin, pgdata, f); err != nil {
			return err
		}
	}
	waitOldPostmaster(ctx, pgdata)
	conf := []string{
		"listen_addresses=" + host, "port=" + port,
		// No Unix socket (its path would be too long inside a run
		// directory) and no POSIX shared memory files in /dev/shm, which
		// a killed server would leave behind.
		"unix_socket_directories=", "dynamic_shared_memory_type=mmap",
		// A killed process, not a lost machine: the kernel keeps what was
		// written, so fsync buys nothing here and costs a lot on a busy disk.
		"fsync=off", "full_page_writes=off",
		"shared_buffers=16MB", "max_wal_size=64MB", "min_wal_size=32MB", "max_connections=100",
		"wal_level=replica", "max_wal_senders=10", "hot_standby=on", "wal_keep_size=64MB",
		// A standby told to promote waits this long between attempts to
		// fetch more WAL; the default 5 s would stall a failover.
		"wal_retrieve_retry_interval=100ms",
		"log_min_messages=warning", "log_line_prefix=%m [%p] ",
		// An image carries no LLVM (HostFiles leaves llvmjit out).
		"jit=off",
	}
	if f.prepared > 0 {
		conf = append(conf, "max_prepared_transactions="+strconv.Itoa(f.prepared))
	}
	if f.primary == "" && f.sync != "off" && f.standbys > 0 {
		conf = append(conf, "synchronous_standby_names=ANY 1 (*)", "synchronous_commit="+f.sync)
	}
	argv := []string{"-D", pgdata}
	for _, c := range conf {
		argv = append(argv, "-c", c)
	}
	cmd := unprivileged(ctx, filepath.Join(bin, "postgres"), argv...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// A fast shutdown when the harness stops the node gracefully.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 20 * time.Second
	if err := cmd.Run(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// create makes the node's cluster.
func create(ctx context.Context, unprivileged runner, bin, pgdata string, f nodeFlags) error {
	tmp := pgdata + ".new"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Dir(pgdata), 0o755); err != nil {
		return err
	}
	var cmd *exec.Cmd
	if f.primary == "" {
		cmd = unprivileged(ctx, filepath.Join(bin, "initdb"), "-D", tmp, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C")
	} else {
		h, p, err := splitHostPort(f.primary)
		if err != nil {
			return fmt.Errorf("--primary %q: %w", f.primary, err)
		}
		// The standby copies the primary, which may still be starting:
		// try until it answers or the node is stopped.
		for {
			cmd = unprivileged(ctx, filepath.Join(bin, "pg_basebackup"), "-h", h, "-p", p, "-U", "postgres", "-D", tmp, "-R", "-X", "stream", "--no-sync")
			out, err := cmd.CombinedOutput()
			if err == nil {
				break
			}
			os.RemoveAll(tmp)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(os.Stderr, "pg_basebackup from %s: %v: %s (retrying)\n", f.primary, err, strings.TrimSpace(string(out)))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
		return os.Rename(tmp, pgdata)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("initdb: %w: %s", err, strings.TrimSpace(string(out)))
	}
	// initdb trusts only loopback; in containers the harness and the
	// standbys come from other addresses. The server listens only where
	// the harness tells it to, on a network of the run's own.
	hba, err := os.OpenFile(filepath.Join(tmp, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = hba.WriteString("host all all all trust\nhost replication all all trust\n")
		if cerr := hba.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("initdb: pg_hba.conf: %w", err)
	}
	return os.Rename(tmp, pgdata)
}

// runner prepares a PostgreSQL program to run without root's rights.
type runner func(ctx context.Context, prog string, args ...string) *exec.Cmd

// pgUID is the id PostgreSQL runs as: inside its user namespace, or, in a
// container, directly.
const pgUID = 1000

// unprivilegedRunner says how PostgreSQL's programs run here. Where the
// kernel lets us create a user namespace (a host), each runs as uid 1000 of
// a new one mapped onto the caller's ids, in a new IPC namespace. Where it
// does not (a container: the engine's seccomp profile refuses new user
// namespaces) and we are root, each runs as uid 1000 directly; the
// container is its IPC namespace. An image built from scratch has no
// /etc/passwd, and initdb must find its user there, so one is written; the
// node's directory is handed to that user.
func unprivilegedRunner(ctx context.Context, bin, dataDir string) (runner, error) {
	probe := userNamespaced(ctx, filepath.Join(bin, "postgres"), "--version")
	probe.Stdout, probe.Stderr = io.Discard, io.Discard
	if err := probe.Run(); err == nil {
		return userNamespaced, nil
	} else if os.Getuid() != 0 {
		return nil, fmt.Errorf("PostgreSQL cannot run here: no user namespace for it (%v), and not root to drop to uid %d instead", err, pgUID)
	}
	if _, err := os.Stat("/etc/passwd"); errors.Is(err, os.ErrNotExist) {
		passwd := fmt.Sprintf("root:x:0:0:root:/:/bin/sh\npostgres:x:%d:%d:PostgreSQL:%s:/bin/sh\n", pgUID, pgUID, dataDir)
		group := fmt.Sprintf("root:x:0:\npostgres:x:%d:\n", pgUID)
		if err := os.WriteFile("/etc/passwd", []byte(passwd), 0o644); err != nil {
			return nil, fmt.Errorf("write /etc/passwd for PostgreSQL's user: %w", err)
		}
		if err := os.WriteFile("/etc/group", []byte(group), 0o644); err != nil {
			return nil, fmt.Errorf("write /etc/group for PostgreSQL's user: %w", err)
		}
	}
	if err := chownTree(dataDir, pgUID); err != nil {
		return nil, fmt.Errorf("hand %s to PostgreSQL's user: %w", dataDir, err)
	}
	return func(ctx context.Context, prog string, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, prog, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: pgUID, Gid: pgUID},
			Pdeathsig:  syscall.SIGKILL,
		}
		cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC", "HOME="+dataDir)
		return cmd
	}, nil
}

// chownTree gives dir and everything under it to uid (and the same gid).
func chownTree(dir string, uid int) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
}

// userNamespaced prepares a PostgreSQL program to run as uid and gid 1000
// of a new user namespace mapped onto the caller's ids, in a new IPC
// namespace.
func userNamespaced(ctx context.Context, prog string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWIPC,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: pgUID, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: pgUID, HostID: os.Getgid(), Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

func splitHostPort(a string) (string, string, error) {
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return "", "", errors.New("want host:port")
	}
	return a[:i], a[i+1:], nil
}

// waitOldPostmaster waits, up to 10 s, until the postmaster named in
// pgdata's postmaster.pid is gone. A node killed and started again at once
// finds its old postmaster still dying (killed with its parent, not yet
// reaped), and PostgreSQL refuses to start while that process exists
// ("lock file postmaster.pid already exists").
func waitOldPostmaster(ctx context.Context, pgdata string) {
	b, err := os.ReadFile(filepath.Join(pgdata, "postmaster.pid"))
	if err != nil {
		return
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
