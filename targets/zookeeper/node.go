package zookeeper

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Debian's zookeeper package puts the server's jar here; its manifest names
// every library it needs. slf4j-simple (from libslf4j-java, a dependency of
// the package) makes the server log to standard error, which the runtime
// keeps as the node's log.
const (
	defaultServerJar = "/usr/share/java/zookeeper.jar"
	defaultLogJar    = "/usr/share/java/slf4j-simple.jar"
	mainClass        = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
)

// installHint says how to get ZooKeeper when it is missing.
const installHint = "install Debian's zookeeper package (apt-get install zookeeper, or bash .ci/setup.d/zookeeper.sh), or name the jars with --zk-classpath"

// FindJava returns the java program, with an error that says how to get one.
func FindJava() (string, error) {
	p, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("no java on PATH: %s", installHint)
	}
	return p, nil
}

// Classpath returns the server's class path: cp when given (each entry must
// exist), otherwise Debian's jars, with an error that says how to install
// them when they are missing.
func Classpath(cp string) (string, error) {
	if cp == "" {
		if _, err := os.Stat(defaultServerJar); err != nil {
			return "", fmt.Errorf("ZooKeeper is not installed: no %s (%s)", defaultServerJar, installHint)
		}
		cp = defaultServerJar
		if _, err := os.Stat(defaultLogJar); err == nil {
			cp += ":" + defaultLogJar
		}
		return cp, nil
	}
	for _, e := range strings.Split(cp, ":") {
		if _, err := os.Stat(e); err != nil {
			return "", fmt.Errorf("--zk-classpath: %s does not exist", e)
		}
	}
	return cp, nil
}

// nodeFlags are the flags of `chaos node zookeeper`.
type nodeFlags struct {
	id        int
	dataDir   string
	client    string
	servers   string // 1=host:quorum:election,2=...
	tick      time.Duration
	heap      string
	java      string
	classpath string
	logLevel  string
	print     bool
}

func parseNodeFlags(args []string) (nodeFlags, error) {
	var f nodeFlags
	fs := flag.NewFlagSet("chaos node zookeeper", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&f.id, "id", 0, "this server's id (myid), 1..255")
	fs.StringVar(&f.dataDir, "data-dir", "", "the node's directory: zoo.cfg, myid and the server's data go here")
	fs.StringVar(&f.client, "client", "", "host:port the server serves clients on")
	fs.StringVar(&f.servers, "servers", "", "id=host:quorumPort:electionPort,... : every server as this one reaches it (its own entry: where it listens)")
	fs.DurationVar(&f.tick, "tick", 250*time.Millisecond, "the server's tickTime")
	fs.StringVar(&f.heap, "heap", "96m", "the JVM's maximum heap (-Xmx)")
	fs.StringVar(&f.java, "java", "", "java program (default: java on PATH)")
	fs.StringVar(&f.classpath, "classpath", "", "class path of the server (default: Debian's jars)")
	fs.StringVar(&f.logLevel, "log-level", "info", "server log level (slf4j-simple: trace, debug, info, warn, error)")
	fs.BoolVar(&f.print, "print-config", false, "write zoo.cfg and myid, print the java command and exit")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.id < 1 || f.id > 255 {
		return f, fmt.Errorf("--id %d: want 1..255", f.id)
	}
	if f.dataDir == "" || f.client == "" || f.servers == "" {
		return f, errors.New("--data-dir, --client and --servers are required")
	}
	if f.tick < 10*time.Millisecond {
		return f, fmt.Errorf("--tick %s: at least 10ms", f.tick)
	}
	return f, nil
}

// server is one entry of the ensemble.
type server struct {
	id                     int
	host                   string
	quorumPort, electionPt string
}

func parseServers(s string) ([]server, error) {
	var out []server
	for _, e := range strings.Split(s, ",") {
		id, addr, ok := strings.Cut(strings.TrimSpace(e), "=")
		n, err := strconv.Atoi(id)
		parts := strings.Split(addr, ":")
		if !ok || err != nil || len(parts) != 3 {
			return nil, fmt.Errorf("--servers entry %q: want id=host:quorumPort:electionPort", e)
		}
		out = append(out, server{id: n, host: parts[0], quorumPort: parts[1], electionPt: parts[2]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// zooCfg renders the server's configuration. Every server gets its own file:
// its own entry is where it listens, the others' are the runtime's addresses
// for its links to them, so cutting a link cuts exactly that server-to-server
// path. Without dynamic reconfiguration every server keeps its own view.
func zooCfg(f nodeFlags, servers []server, dataDir string) (string, error) {
	host, port, ok := strings.Cut(f.client, ":")
	if !ok {
		return "", fmt.Errorf("--client %q: want host:port", f.client)
	}
	tick := f.tick.Milliseconds()
	lines := []string{
		"# written by chaos node zookeeper",
		"tickTime=" + strconv.FormatInt(tick, 10),
		// A follower has 40 ticks to load and sync with a new leader and
		// 12 to answer it afterwards: JVMs on a loaded two-core machine are
		// slow, and a slow follower is not the fault under test.
		"initLimit=40",
		"syncLimit=12",
		"dataDir=" + dataDir,
		"clientPort=" + port,
		"clientPortAddress=" + host,
		// Sessions between two ticks and a minute are granted as asked, so
		// a client knows its session timeout without asking.
		"minSessionTimeout=" + strconv.FormatInt(2*tick, 10),
		"maxSessionTimeout=60000",
		"maxClientCnxns=0",
		// No admin server (it would take port 8080), and only the
		// harmless four-letter words.
		"admin.enableServer=false",
		"4lw.commands.whitelist=ruok,srvr",
		"standaloneEnabled=false",
		"reconfigEnabled=false",
		// A killed process keeps the page cache: fsync buys nothing here.
		"forceSync=no",
		"autopurge.purgeInterval=0",
	}
	// A server binds its quorum and election ports on the wildcard
	// address (IPv4 only, see NodeMain) at the ports of its own entry, and
	// advertises that entry to the servers it dials for an election. The
	// entry's host is advertisedHost, which every server's SOCKS relay
	// turns into its link to this server (see callback.go).
	lines = append(lines, "quorumListenOnAllIPs=true")
	for _, s := range servers {
		host := s.host
		if s.id == f.id {
			host = advertisedHost(s.id)
		}
		lines = append(lines, fmt.Sprintf("server.%d=%s:%s:%s", s.id, host, s.quorumPort, s.electionPt))
	}
	return strings.Join(lines, "\n") + "\n", nil
}

// NodeMain writes the node's zoo.cfg and myid, starts the ZooKeeper server's
// JVM with every connection it opens going through this process's SOCKS
// relay (see callback.go), and exits with the JVM's status when it exits.
// The JVM is in the node's process group, so the runtime's kill, stop and
// pause signals reach it directly, and it dies with this process.
func NodeMain(ctx context.Context, args []string) error {
	f, err := parseNodeFlags(args)
	if err != nil {
		return err
	}
	java := f.java
	if java == "" {
		if java, err = FindJava(); err != nil {
			return err
		}
	}
	cp, err := Classpath(f.classpath)
	if err != nil {
		return err
	}
	servers, err := parseServers(f.servers)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(f.dataDir)
	if err != nil {
		return err
	}
	data := filepath.Join(dir, "data")
	tmp := filepath.Join(dir, "tmp")
	for _, d := range []string{data, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	cfg, err := zooCfg(f, servers, data)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(data, "myid"), []byte(strconv.Itoa(f.id)+"\n"), 0o644); err != nil {
		return err
	}
	// The relay listens before the JVM starts, so no connection of the
	// JVM finds it missing.
	relay, err := newSOCKSRelay(servers, f.id, os.Stderr)
	if err != nil {
		return err
	}
	defer relay.Close()
	argv := []string{java,
		"-Xmx" + f.heap, "-Xss512k", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		// Nothing outside the node's directory: no hsperfdata in /tmp, a
		// private temporary directory, crash files next to the data.
		"-XX:-UsePerfData", "-Djava.io.tmpdir=" + tmp, "-XX:ErrorFile=" + filepath.Join(dir, "hs_err_%p.log"),
		// Transaction logs are preallocated in 64 MB steps by default.
		"-Dzookeeper.preAllocSize=1024",
		"-Djava.net.preferIPv4Stack=true",
		// Every connection the JVM opens goes through the node's relay
		// (see callback.go). Loopback destinations bypass a SOCKS proxy
		// unless socksNonProxyHosts is empty: any other value has the
		// defaults (127.* among them) added to it.
		"-DsocksProxyHost=127.0.0.1", "-DsocksProxyPort=" + strconv.Itoa(relay.port()),
		"-DsocksNonProxyHosts=",
		"-Dzookeeper.admin.enableServer=false",
		// A server that finds no quorum backs off between election rounds
		// up to a minute by default; two seconds lets a healed or
		// restarted server rejoin within a short run.
		"-Dzookeeper.fastleader.maxNotificationInterval=2000",
		"-Dzookeeper.jmx.log4j.disable=true",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=" + f.logLevel,
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
		"-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
		"-cp", cp, mainClass, cfgPath,
	}
	if f.print {
		fmt.Println(strings.Join(argv, " "))
		return nil
	}
	cmd := exec.Command(java, argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// The JVM stays in this process group (the runtime signals the
	// group) and is killed if this process dies first. The parent-death
	// signal follows the thread that started the child, so that thread
	// must live as long as the process: this one stays locked.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	goruntime.LockOSThread()
	// A stop signal for this process is the JVM's: it is passed on, and
	// this process exits when the JVM has.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", java, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			_ = cmd.Process.Signal(sig)
		case err := <-exited:
			relay.Close()
			if err == nil {
				return nil
			}
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					os.Exit(128 + int(ws.Signal()))
				}
				os.Exit(ee.ExitCode())
			}
			return fmt.Errorf("java: %w", err)
		}
	}
}
