package etcd

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/chaostest/chaos/core"
)

func TestRoutesRoundTrip(t *testing.T) {
	in := map[string]string{"n2": "127.0.0.1:4002", "n1": "127.0.0.1:4001", "n3": "127.0.0.1:4003"}
	s := formatRoutes(in)
	if s != "n1=127.0.0.1:4001,n2=127.0.0.1:4002,n3=127.0.0.1:4003" {
		t.Fatalf("formatRoutes = %q, want sorted by name", s)
	}
	out, err := parseRoutes(s)
	if err != nil {
		t.Fatal(err)
	}
	if formatRoutes(out) != s {
		t.Fatalf("round trip gave %v", out)
	}
	for _, bad := range []string{"n1", "n1=", "=127.0.0.1:1", "n1=nohostport", "n1=127.0.0.1:1,,"} {
		if _, err := parseRoutes(bad); err == nil {
			t.Errorf("parseRoutes(%q) accepted bad input", bad)
		}
	}
}

func TestInitialClusterIsTheSameOnEveryMember(t *testing.T) {
	got := initialCluster([]string{"n1", "n2"})
	want := "n1=http://n1.chaos.invalid:2380,n2=http://n2.chaos.invalid:2380"
	if got != want {
		t.Fatalf("initialCluster = %q, want %q", got, want)
	}
}

func TestNodeFlagsNeedTheEssentials(t *testing.T) {
	if _, err := parseNodeFlags([]string{"--name", "n1"}); err == nil {
		t.Fatal("missing flags accepted")
	}
	if _, err := parseNodeFlags([]string{"--bogus"}); err == nil {
		t.Fatal("unknown flag accepted")
	}
	f, err := parseNodeFlags([]string{"--name", "n1", "--data-dir", "d", "--listen-client", "127.0.0.1:1",
		"--listen-peer", "127.0.0.1:2", "--members", "n1"})
	if err != nil || f.tickMs != 100 || f.electionMs != 1000 || f.fsync {
		t.Fatalf("parseNodeFlags = %+v, %v", f, err)
	}
}

// The peer proxy sends a request for a member's advertised host to the
// address of this member's link to it, and refuses hosts it does not know.
func TestPeerProxyRoutesByMemberName(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "n2 got "+r.URL.Path)
	}))
	defer backend.Close()
	p, err := startPeerProxy(map[string]string{"n2": strings.TrimPrefix(backend.URL, "http://")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pu, _ := url.Parse("http://" + p.Addr())
	cli := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	resp, err := cli.Get(PeerURL("n2") + "/raft/probing")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "n2 got /raft/probing" {
		t.Fatalf("through the proxy: %s %q", resp.Status, b)
	}
	resp, err = cli.Get(PeerURL("n9") + "/raft/probing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("unknown member: %s, want 502", resp.Status)
	}
}

func TestParseOptions(t *testing.T) {
	o, err := ParseOptions(core.Params{})
	if err != nil || o.LockSet != "harness" || o.SerializableReads {
		t.Fatalf("defaults = %+v, %v", o, err)
	}
	for _, p := range []core.Params{
		{"etcd-lock-set": "nowhere"},
		{"etcd-serializable-reads": "maybe"}, {"etcd-heartbeat": "100ms", "etcd-election": "200ms"},
	} {
		if _, err := ParseOptions(p); err == nil {
			t.Errorf("ParseOptions(%v) accepted bad input", p)
		}
	}
}

func FuzzParseRoutes(f *testing.F) {
	f.Add("n1=127.0.0.1:4001,n2=127.0.0.1:4002")
	f.Add("")
	f.Add("n1=[::1]:80")
	f.Add("=,=")
	f.Fuzz(func(t *testing.T, s string) {
		routes, err := parseRoutes(s)
		if err != nil {
			return
		}
		again, err := parseRoutes(formatRoutes(routes))
		if err != nil {
			t.Fatalf("formatted routes %q do not parse: %v", formatRoutes(routes), err)
		}
		if formatRoutes(again) != formatRoutes(routes) {
			t.Fatalf("round trip changed %q", s)
		}
	})
}

func TestWALSegmentSize(t *testing.T) {
	base := []string{"--name", "n1", "--data-dir", "d", "--listen-client", "127.0.0.1:1", "--listen-peer", "127.0.0.1:2", "--members", "n1"}
	f, err := parseNodeFlags(base)
	if err != nil || f.walSegment != DefaultWALSegmentBytes {
		t.Fatalf("default WAL segment = %d, %v; want %d", f.walSegment, err, DefaultWALSegmentBytes)
	}
	if _, err := parseNodeFlags(append(base, "--wal-segment-bytes", "100")); err == nil {
		t.Fatal("a 100-byte WAL segment accepted")
	}
}
