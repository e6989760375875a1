package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// The figures of the docker runtime: image build time cold and cached, and
// container start time per node. Run them with
//
//	go test -run '^$' -bench . -benchtime 5x ./runtime/docker
//
// The node binary is this test binary; its size is reported as MB.

func benchImage(b *testing.B) (imageSpec, float64) {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	spec, err := ownImage(exe)
	if err != nil {
		b.Fatal(err)
	}
	var mb float64
	if st, err := os.Stat(exe); err == nil {
		mb = float64(st.Size()) / 1e6
	}
	return spec, mb
}

// BenchmarkImageBuildCold builds an image nobody built before: the content
// hash changes every time through one extra small file.
func BenchmarkImageBuildCold(b *testing.B) {
	needDockerB(b)
	ctx := context.Background()
	cli, err := Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	spec, mb := benchImage(b)
	defer func() { b.ReportMetric(mb, "MB") }()
	nonce := filepath.Join(b.TempDir(), "nonce")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if err := os.WriteFile(nonce, []byte(fmt.Sprint(time.Now().UnixNano(), i)), 0o644); err != nil {
			b.Fatal(err)
		}
		s := spec
		s.Files = append(append([]imageFile(nil), spec.Files...), imageFile{Path: "/etc/nonce", Source: nonce, Mode: 0o644})
		b.StartTimer()
		tag, built, err := ensureImage(ctx, cli, s, map[string]string{LabelManaged: "image"})
		if err != nil || !built {
			b.Fatalf("built=%v: %v", built, err)
		}
		b.StopTimer()
		_, _ = cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		b.StartTimer()
	}
}

// BenchmarkImageBuildCached prepares an image that exists: hashing the
// files and asking the engine.
func BenchmarkImageBuildCached(b *testing.B) {
	needDockerB(b)
	ctx := context.Background()
	cli, err := Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	spec, mb := benchImage(b)
	defer func() { b.ReportMetric(mb, "MB") }()
	if _, _, err := ensureImage(ctx, cli, spec, map[string]string{LabelManaged: "image"}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, built, err := ensureImage(ctx, cli, spec, nil); err != nil || built {
			b.Fatalf("built=%v: %v", built, err)
		}
	}
}

// BenchmarkNodeStart is one node's first start: container create and start
// through testcontainers, rules written, until the node answers its
// readiness probe. The image exists already.
func BenchmarkNodeStart(b *testing.B) {
	needDockerB(b)
	ctx := context.Background()
	warm, err := New(ctx)
	if err != nil {
		b.Fatal(err)
	}
	n := &node{spec: probeSpecs("n1")[0]}
	if _, _, _, err := warm.prepare(ctx, n); err != nil {
		b.Fatal(err)
	}
	warm.cli.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		rt, err := New(ctx)
		if err != nil {
			b.Fatal(err)
		}
		dir := filepath.Join(b.TempDir(), "bench", fmt.Sprint(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := rt.Setup(ctx, dir, probeSpecs("n1")); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		err = rt.Start(ctx, "n1")
		b.StopTimer()
		if terr := rt.Teardown(ctx); err == nil {
			err = terr
		}
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkNodeRestart is the kill nemesis's restart: SIGKILL through the
// Docker API, start of the same container, rules written again, until the
// node answers.
func BenchmarkNodeRestart(b *testing.B) {
	needDockerB(b)
	ctx := context.Background()
	rt, err := New(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Teardown(ctx)
	dir := filepath.Join(b.TempDir(), "bench", "restart")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := rt.Setup(ctx, dir, probeSpecs("n1")); err != nil {
		b.Fatal(err)
	}
	if err := rt.Start(ctx, "n1"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := rt.Kill(ctx, "n1"); err != nil {
			b.Fatal(err)
		}
		if err := rt.Start(ctx, "n1"); err != nil {
			b.Fatal(err)
		}
	}
}

func needDockerB(b *testing.B) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := Connect(ctx)
	if err != nil || os.Geteuid() != 0 {
		b.Skipf("SKIPPING DOCKER BENCHMARK: no usable Docker engine or not root (%v)", err)
	}
	cli.Close()
}
