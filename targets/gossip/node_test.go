package gossip

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/core"
)

func TestNodeKeepsAcknowledgedWritesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	o, err := parseNodeFlags([]string{"--name=n1", "--data=" + dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	clock := core.NewNodeClockAt(time.Now)
	n, err := StartNode(ctx, o, clock)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + n.APIAddr()
	if _, err := doJSON[Entry](ctx, http.DefaultClient, http.MethodPut, base+"/kv?key=a", "7"); err != nil {
		t.Fatal(err)
	}
	first, _ := doJSON[Entry](ctx, http.DefaultClient, http.MethodPut, base+"/kv?key=b", "8")
	// A torn last line, as a kill in mid-write leaves it.
	n.Close()
	f, _ := os.OpenFile(filepath.Join(dir, dataFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"key":"c","val`)
	f.Close()

	n, err = StartNode(ctx, o, clock)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	base = "http://" + n.APIAddr()
	r, err := getJSON[GetResponse](ctx, http.DefaultClient, base+"/kv?key=a")
	if err != nil || !r.Found || r.Entry.Value != "7" {
		t.Fatalf("after restart a = %+v, %v", r, err)
	}
	// The clock never goes below what was saved.
	e, _ := doJSON[Entry](ctx, http.DefaultClient, http.MethodPut, base+"/kv?key=b", "9")
	if e.HLC <= first.HLC {
		t.Fatalf("HLC %d after restart, saved %d", e.HLC, first.HLC)
	}
	d, _ := getJSON[Dump](ctx, http.DefaultClient, base+"/dump")
	if len(d.Log["b"]) != 2 || d.Log["b"][0].Value != "8" {
		t.Fatalf("log after restart: %+v", d.Log["b"])
	}
}

func TestBadFlagsAreOneLine(t *testing.T) {
	for _, args := range [][]string{{}, {"--name=n1", "--peers=n2"}, {"--name=n1", "--rumor-interval=0s"}, {"--bogus"}} {
		_, err := parseNodeFlags(args)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v", args, err)
		}
	}
}
