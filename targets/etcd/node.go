package etcd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/storage/wal"
)

// peerHostSuffix makes a member's advertised peer host. The name never
// resolves: peer requests reach it only through the member's own forward
// proxy, which maps it to the runtime's address for that link.
const peerHostSuffix = ".chaos.invalid"

// peerURLPort is the port written into every advertised peer URL. It is only
// a label (the proxy routes by host name), fixed so that membership and
// member IDs are the same on every member and across restarts.
const peerURLPort = "2380"

// clusterToken seeds etcd's member and cluster IDs.
const clusterToken = "chaos-etcd"

// PeerURL is the peer URL a member advertises.
func PeerURL(name string) string {
	return "http://" + name + peerHostSuffix + ":" + peerURLPort
}

// nodeFlags are the command-line flags of `chaos node etcd`.
type nodeFlags struct {
	name        string
	dataDir     string
	listenCli   string
	listenPeer  string
	members     string // n1,n2,n3
	routes      string // n1=127.0.0.1:p1,n2=...
	tickMs      uint
	electionMs  uint
	fsync       bool
	logLevel    string
	startupWait time.Duration
	walSegment  int64
}

// DefaultWALSegmentBytes is the WAL segment size of a test member. etcd's
// own 64 MB is preallocated, and a member keeps a second segment
// preallocated beside it: about 125 MB per member and 245 MB per run of
// three, for a few megabytes of test data. 4 MB segments keep a run at a
// few tens of megabytes; a longer run cuts more segments, which etcd purges
// past its snapshots as usual.
const DefaultWALSegmentBytes = 4 << 20

func parseNodeFlags(args []string) (*nodeFlags, error) {
	f := &nodeFlags{}
	fs := flag.NewFlagSet("chaos node etcd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.name, "name", "", "member name (n1, n2, ...)")
	fs.StringVar(&f.dataDir, "data-dir", "", "etcd data directory")
	fs.StringVar(&f.listenCli, "listen-client", "", "host:port for clients")
	fs.StringVar(&f.listenPeer, "listen-peer", "", "host:port for peers")
	fs.StringVar(&f.members, "members", "", "comma-separated member names of the initial cluster")
	fs.StringVar(&f.routes, "peer-routes", "", "name=host:port,... : the address at which this member reaches each peer")
	fs.UintVar(&f.tickMs, "heartbeat-ms", 100, "raft heartbeat interval in milliseconds")
	fs.UintVar(&f.electionMs, "election-ms", 1000, "raft election timeout in milliseconds")
	fs.BoolVar(&f.fsync, "fsync", false, "fsync the WAL (killing a process does not lose the page cache, so off by default)")
	fs.StringVar(&f.logLevel, "log-level", "warn", "etcd log level")
	fs.DurationVar(&f.startupWait, "startup-timeout", time.Minute, "how long to wait for the member to join its cluster")
	fs.Int64Var(&f.walSegment, "wal-segment-bytes", DefaultWALSegmentBytes, "size of each preallocated WAL segment")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("chaos node etcd: %w", err)
	}
	if f.name == "" || f.dataDir == "" || f.listenCli == "" || f.listenPeer == "" || f.members == "" {
		return nil, errors.New("chaos node etcd: --name, --data-dir, --listen-client, --listen-peer and --members are required")
	}
	if f.walSegment < 64<<10 {
		return nil, fmt.Errorf("chaos node etcd: --wal-segment-bytes %d: must be at least 65536", f.walSegment)
	}
	return f, nil
}

// parseRoutes reads "n1=addr,n2=addr".
func parseRoutes(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("--peer-routes entry %q: want name=host:port", kv)
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			return nil, fmt.Errorf("--peer-routes entry %q: %w", kv, err)
		}
		out[k] = v
	}
	return out, nil
}

// formatRoutes writes routes in sorted order, so a member's command line is
// the same on every start.
func formatRoutes(routes map[string]string) string {
	names := make([]string, 0, len(routes))
	for n := range routes {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + routes[n]
	}
	return strings.Join(parts, ",")
}

func initialCluster(members []string) string {
	parts := make([]string, len(members))
	for i, m := range members {
		parts[i] = m + "=" + PeerURL(m)
	}
	return strings.Join(parts, ",")
}

// NodeMain runs one etcd member until ctx ends: `chaos node etcd --name n1
// --data-dir DIR --listen-client ADDR --listen-peer ADDR --members n1,n2,n3
// --peer-routes n2=ADDR,n3=ADDR`.
func NodeMain(ctx context.Context, args []string) error {
	f, err := parseNodeFlags(args)
	if err != nil {
		return err
	}
	routes, err := parseRoutes(f.routes)
	if err != nil {
		return err
	}
	proxy, err := startPeerProxy(routes)
	if err != nil {
		return err
	}
	defer proxy.Close()
	// etcd's peer transport takes its proxy from the environment
	// (http.ProxyFromEnvironment), read once per process. This process is
	// the member alone, so setting it here touches nothing else; loopback
	// addresses (the client URLs) are never proxied.
	os.Setenv("HTTP_PROXY", "http://"+proxy.Addr())
	os.Unsetenv("http_proxy")
	os.Unsetenv("NO_PROXY")
	os.Unsetenv("no_proxy")

	// The segment size is a package variable of etcd's WAL; this process
	// is the member alone, so setting it touches nothing else.
	wal.SegmentSizeBytes = f.walSegment

	cfg := embed.NewConfig()
	cfg.Name = f.name
	cfg.Dir = f.dataDir
	cfg.TickMs, cfg.ElectionMs = f.tickMs, f.electionMs
	cfg.UnsafeNoFsync = !f.fsync
	cfg.LogLevel = f.logLevel
	cfg.LogOutputs = []string{"stderr"}
	cfg.InitialClusterToken = clusterToken
	cfg.InitialCluster = initialCluster(strings.Split(f.members, ","))
	cfg.ClusterState = embed.ClusterStateFlagNew
	cli, err := url.Parse("http://" + f.listenCli)
	if err != nil {
		return fmt.Errorf("--listen-client %q: %w", f.listenCli, err)
	}
	peer, err := url.Parse("http://" + f.listenPeer)
	if err != nil {
		return fmt.Errorf("--listen-peer %q: %w", f.listenPeer, err)
	}
	apurl, _ := url.Parse(PeerURL(f.name))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cli}, []url.URL{*cli}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*apurl}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("start etcd member %s: %w", f.name, err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
		fmt.Fprintf(os.Stderr, "chaos node etcd: member %s ready (clients %s)\n", f.name, f.listenCli)
	case <-time.After(f.startupWait):
		return fmt.Errorf("member %s did not join its cluster within %s", f.name, f.startupWait)
	case err := <-e.Err():
		return fmt.Errorf("member %s: %w", f.name, err)
	case <-ctx.Done():
		return nil
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-e.Err():
		return fmt.Errorf("member %s: %w", f.name, err)
	case <-e.Server.StopNotify():
		return fmt.Errorf("member %s stopped on its own", f.name)
	}
}

// peerProxy is the forward proxy a member's peer requests go through. It
// maps a member's advertised host to the address the runtime gave this member
// for that link, so a cut link in the runtime's fault layer cuts exactly this
// member's traffic to that peer.
type peerProxy struct {
	ln     net.Listener
	srv    *http.Server
	routes map[string]string
}

func startPeerProxy(routes map[string]string) (*peerProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("peer proxy: %w", err)
	}
	p := &peerProxy{ln: ln, routes: routes}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = p.route(r.In.URL.Host)
			r.Out.Host = r.In.Host
		},
		Transport: tr,
		// Raft streams are long-lived responses: pass every write on at once.
		FlushInterval: -1,
		ErrorLog:      nil,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "peer unreachable: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Host == "" || p.route(r.URL.Host) == "" {
			http.Error(w, "unknown peer host "+r.URL.Host, http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(w, r)
	}), ErrorLog: nil}
	go p.srv.Serve(ln)
	return p, nil
}

// route maps "n2.chaos.invalid:2380" to n2's link address, "" when unknown.
func (p *peerProxy) route(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	name, ok := strings.CutSuffix(host, peerHostSuffix)
	if !ok {
		return ""
	}
	return p.routes[name]
}

func (p *peerProxy) Addr() string { return p.ln.Addr().String() }

func (p *peerProxy) Close() error { return p.srv.Close() }
