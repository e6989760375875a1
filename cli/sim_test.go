package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestSimGossip(t *testing.T) {
	var out, errb bytes.Buffer
	code := execute(context.Background(), []string{"sim", "gossip", "--nodes", "200", "--k", "0", "--trials", "3"}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "rounds to full spread") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	for _, args := range [][]string{{"sim", "gossip", "--nodes", "1"}, {"sim", "raft"}, {"sim", "gossip", "--fanout", "x"}} {
		out.Reset()
		errb.Reset()
		if code := execute(context.Background(), args, &out, &errb); code != 2 || strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q: want exit 2 and one line", args, code, errb.String())
		}
	}
}
