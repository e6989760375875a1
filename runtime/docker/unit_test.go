package docker

import (
	"archive/tar"
	"context"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/linkproxy"
)

func TestRulesFor(t *testing.T) {
	ip := netip.MustParseAddr
	a := addressing{
		node:    map[string]netip.Addr{"n1": ip("10.0.0.2"), "n2": ip("10.0.0.3"), "n3": ip("10.0.0.4")},
		gateway: ip("10.0.0.1"),
		alias: map[[2]string]netip.Addr{
			{"c0", "n1"}: ip("10.0.0.10"), {"c0", "n2"}: ip("10.0.0.11"), {"c1", "n2"}: ip("10.0.0.12"),
		},
	}
	cut := map[core.Link]bool{
		{From: "n1", To: "n2"}: true, {From: "n3", To: "n2"}: true, {From: "n2", To: "n1"}: false,
		{From: "c0", To: "n2"}: true, {From: "n2", To: "c1"}: true, {From: "n1", To: "c0"}: true,
	}
	tests := []struct {
		node string
		want []string
	}{
		// n2 receives from n1 and n3 no more, and neither c0's requests
		// nor its own answers to c1 get through.
		{"n2", []string{"prerouting daddr 10.0.0.11 drop", "input saddr 10.0.0.2 drop",
			"postrouting saddr 10.0.0.12 drop", "input saddr 10.0.0.4 drop"}},
		// n1→c0: n1's answers to c0 are dropped as they leave; n2→n1 is
		// not cut (false in the map).
		{"n1", []string{"postrouting saddr 10.0.0.10 drop"}},
		{"n3", nil},
	}
	for _, tc := range tests {
		var got []string
		for _, r := range rulesFor(tc.node, a, cut) {
			got = append(got, r.String())
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("rulesFor(%s) = %q, want %q", tc.node, got, tc.want)
		}
	}
	// "c*" cuts every client address of the node, in both directions.
	all := map[core.Link]bool{{From: AllClients, To: "n2"}: true, {From: "n2", To: AllClients}: true}
	var got []string
	for _, r := range rulesFor("n2", a, all) {
		got = append(got, r.String())
	}
	want := []string{"prerouting daddr 10.0.0.11 drop", "prerouting daddr 10.0.0.12 drop",
		"postrouting saddr 10.0.0.11 drop", "postrouting saddr 10.0.0.12 drop"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rulesFor(n2, c*) = %q, want %q", got, want)
	}
	// Lossy links get rules of their own after the cuts; a link both cut
	// and lossy is simply cut.
	loss := map[core.Link]float64{{From: "n1", To: "n3"}: 0.2, {From: "n1", To: "n2"}: 0.5}
	got = nil
	for _, r := range rulesWithLoss("n3", a, nil, loss) {
		got = append(got, r.String())
	}
	if want := []string{"input saddr 10.0.0.2 numgen random mod 1000 < 200 drop"}; !reflect.DeepEqual(got, want) {
		t.Errorf("lossy rules of n3 = %q, want %q", got, want)
	}
	got = nil
	for _, r := range rulesWithLoss("n2", a, map[core.Link]bool{{From: "n1", To: "n2"}: true}, loss) {
		got = append(got, r.String())
	}
	if want := []string{"input saddr 10.0.0.2 drop"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cut and lossy rules of n2 = %q, want %q", got, want)
	}
	// Shaped links: loss as drops, then the delay as a queue per distinct
	// shape; a cut link is only cut; the queue's shape has no loss.
	slow := linkproxy.Shape{Latency: 100 * time.Millisecond, Loss: 0.1}
	slower := linkproxy.Shape{Latency: time.Second}
	rs, qs := rulesWithShapes("n2", a, map[core.Link]bool{{From: "n3", To: "n2"}: true},
		map[core.Link]linkproxy.Shape{{From: "n1", To: "n2"}: slow, {From: "n3", To: "n2"}: slow,
			{From: AllClients, To: "n2"}: slower, {From: "n2", To: "n1"}: slower})
	got = nil
	for _, r := range rs {
		got = append(got, r.String())
	}
	want = []string{"input saddr 10.0.0.4 drop",
		"input saddr 10.0.0.2 numgen random mod 1000 < 100 drop", "input saddr 10.0.0.2 queue num 0 bypass",
		"prerouting daddr 10.0.0.11 queue num 1 bypass", "prerouting daddr 10.0.0.12 queue num 1 bypass"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("shaped rules of n2 = %q, want %q", got, want)
	}
	if wantQ := []queueSpec{{0, linkproxy.Shape{Latency: 100 * time.Millisecond}}, {1, slower}}; !reflect.DeepEqual(qs, wantQ) {
		t.Errorf("queues of n2 = %+v, want %+v", qs, wantQ)
	}
	// A client without an address of the node yet has nothing to cut.
	if rs := rulesFor("n3", a, map[core.Link]bool{{From: "c5", To: "n3"}: true}); len(rs) != 0 {
		t.Errorf("rules for a client without an address: %v", rs)
	}
}

func TestImageTagFollowsContent(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "chaos")
	write := func(s string) {
		if err := os.WriteFile(bin, []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	spec := imageSpec{Entrypoint: []string{"/chaos"}, Files: []imageFile{
		{Path: "/tmp", Mode: 0o1777}, {Path: "/chaos", Source: bin, Mode: 0o755}}}
	t1, err := spec.tag()
	if err != nil {
		t.Fatal(err)
	}
	// Order of files does not matter; content does.
	rev := imageSpec{Entrypoint: spec.Entrypoint, Files: []imageFile{spec.Files[1], spec.Files[0]}}
	if t2, _ := rev.tag(); t2 != t1 {
		t.Errorf("tag depends on file order: %s vs %s", t1, t2)
	}
	write("two")
	if t3, _ := spec.tag(); t3 == t1 {
		t.Errorf("tag did not change with the binary: %s", t3)
	}
	if !strings.HasPrefix(t1, ImageRepo+":") {
		t.Errorf("tag %s", t1)
	}
	// The build context holds the Dockerfile and the files under rootfs/.
	bc, err := spec.buildContext()
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bc)
	got := map[string]int64{}
	var dockerfile string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h.Mode
		if h.Name == "Dockerfile" {
			b, _ := io.ReadAll(tr)
			dockerfile = string(b)
		}
	}
	if got["rootfs/chaos"] != 0o755 || got["rootfs/tmp/"] != 0o1777 {
		t.Errorf("build context entries: %v", got)
	}
	if !strings.Contains(dockerfile, "FROM scratch") || !strings.Contains(dockerfile, `ENTRYPOINT ["/chaos"]`) {
		t.Errorf("Dockerfile:\n%s", dockerfile)
	}
}

func TestForeignImageCarriesLibraries(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	static, err := isStatic(exe)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := foreignImage(exe, nil)
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	for _, f := range spec.Files {
		paths[f.Path] = true
	}
	if !paths[exe] || !paths["/tmp"] {
		t.Errorf("image lacks the program or /tmp: %v", paths)
	}
	if static {
		return
	}
	interp, needed, _, err := elfDeps(exe)
	if err != nil {
		t.Fatal(err)
	}
	if !paths[interp] {
		t.Errorf("image lacks the loader %s: %v", interp, paths)
	}
	for _, lib := range needed {
		found := false
		for p := range paths {
			found = found || filepath.Base(p) == lib
		}
		if !found {
			t.Errorf("image lacks %s: %v", lib, paths)
		}
	}
	if _, err := foreignImage(filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("no error for a missing program")
	}
}

func TestPreloads(t *testing.T) {
	got := preloads([]string{"A=1", "LD_PRELOAD=/x/libfaketime.so.1:/y/lib.so /z.so"})
	want := []string{"/x/libfaketime.so.1", "/y/lib.so", "/z.so"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("preloads = %v, want %v", got, want)
	}
}

func TestOwnerAlive(t *testing.T) {
	host, _ := os.Hostname()
	me := host + "/" + strconv.Itoa(os.Getpid())
	if !ownerAlive(me, host) {
		t.Errorf("this process is not alive: %s", me)
	}
	for _, o := range []string{"", "x", host + "/0", host + "/abc", "elsewhere/1", host + "/999999999"} {
		if ownerAlive(o, host) {
			t.Errorf("ownerAlive(%q) = true", o)
		}
	}
}

func TestCleanRemovesLeftovers(t *testing.T) {
	needDocker(t)
	ctx := context.Background()
	rt, err := New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "probe", "crashed")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := rt.Setup(ctx, dir, probeSpecs("n1")); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx, "n1"); err != nil {
		_ = rt.Teardown(ctx)
		t.Fatal(err)
	}
	// The harness "crashed": no teardown. While it lives, clean spares it.
	rep, err := Clean(ctx, CleanOptions{Run: rt.run})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range rep.Spared {
		found = found || s == rt.run
	}
	if !found || len(ourLeftovers(t, rt.run)) != 2 {
		t.Fatalf("clean did not spare a live run: %+v, left %v", rep, ourLeftovers(t, rt.run))
	}
	rep, err = Clean(ctx, CleanOptions{Force: true, Run: rt.run})
	if err != nil {
		t.Fatal(err)
	}
	if left := ourLeftovers(t, rt.run); len(left) > 0 {
		t.Fatalf("clean --force left %v (report %+v)", left, rep)
	}
	// Teardown after clean is harmless.
	if err := rt.Teardown(ctx); err != nil {
		t.Logf("teardown after clean: %v", err)
	}
}

// FuzzOwnerAlive reads owner labels as the engine returns them: any text,
// never a panic, and only a live process of this host counts.
func FuzzOwnerAlive(f *testing.F) {
	host, _ := os.Hostname()
	f.Add(host + "/1")
	f.Add("x/y/z")
	f.Add("/")
	f.Add(host + "/-5")
	f.Fuzz(func(t *testing.T, owner string) {
		if ownerAlive(owner, host) {
			_, p, _ := strings.Cut(owner, "/")
			if pid, err := strconv.Atoi(p); err != nil || pid <= 0 {
				t.Fatalf("ownerAlive(%q) with no valid pid", owner)
			}
		}
	})
}

// Rules meant for a container must never land in the harness's namespace,
// for example through the reused pid of a container that died.
func TestHostNamespaceRefused(t *testing.T) {
	if _, err := openNetns(os.Getpid()); err == nil {
		t.Fatal("openNetns accepted the harness's own namespace")
	}
	self, err := os.Open("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	if _, err := dialIn(context.Background(), &netns{f: self}, "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "host") {
		t.Fatalf("dialIn into the harness's own namespace: %v", err)
	}
}

// A node's host files go in at their paths: directories whole, links as
// links plus what they name, and a dynamic program's loader and libraries.
func TestHostFilesCarried(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "share", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "share", "sub", "data.txt"), []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "target"), []byte("y"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../target", filepath.Join(dir, "share", "link")); err != nil {
		t.Fatal(err)
	}
	sh, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Skip("no /bin/sh")
	}
	spec, err := withHostFiles(imageSpec{Files: []imageFile{{Path: "/chaos", Source: "/dev/null", Mode: 0o755}}},
		[]string{filepath.Join(dir, "share"), "/bin/sh"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]imageFile{}
	for _, f := range spec.Files {
		got[f.Path] = f
	}
	for _, p := range []string{"/chaos", filepath.Join(dir, "share", "sub", "data.txt"), filepath.Join(dir, "target"), sh} {
		if got[p].Source == "" {
			t.Errorf("image lacks file %s", p)
		}
	}
	if got[filepath.Join(dir, "share", "sub", "data.txt")].Mode != 0o640 {
		t.Errorf("mode not kept: %o", got[filepath.Join(dir, "share", "sub", "data.txt")].Mode)
	}
	if l := got[filepath.Join(dir, "share", "link")].Link; l != "../target" {
		t.Errorf("link %q", l)
	}
	if got["/bin/sh"].Link == "" {
		t.Errorf("/bin/sh is not kept as the link it is")
	}
	if interp, _, _, _ := elfDeps(sh); interp != "" {
		if _, ok := got[interp]; !ok {
			t.Errorf("image lacks the shell's loader %s", interp)
		}
	}
	if _, err := withHostFiles(imageSpec{}, []string{"relative/path"}); err == nil {
		t.Error("no error for a relative host path")
	}
}
