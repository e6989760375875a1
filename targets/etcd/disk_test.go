package etcd_test

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// diskUsage is what du counts: allocated blocks, preallocation included.
func diskUsage(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// TestRunDirectoryStaysSmall: a three-member test cluster keeps a few tens
// of megabytes on disk, not etcd's 64 MB preallocated WAL segments (about
// 245 MB per run before).
func TestRunDirectoryStaysSmall(t *testing.T) {
	c := startCluster(t, 3)
	cli := c.client(t, "n1")
	for i := range 200 {
		putEventually(t, cli, fmt.Sprintf("k%d", i), "v")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.rt.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	const limit = 48 << 20
	if got := diskUsage(t, c.dir); got > limit {
		t.Fatalf("the run directory takes %d MB on disk, want at most %d MB", got>>20, limit>>20)
	}
}
