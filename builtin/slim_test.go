package builtin_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxModules bounds the module graph of the chaos module: a user module
// that imports chaostest or cli gets about this many modules (the root
// module's requirements and theirs), so it must stay small.
const maxModules = 25

// heavy lists module path prefixes that belong in the nested modules
// (targets/etcd, targets/redis, runtime/docker) and never in the chaos
// module's own graph.
var heavy = []string{"go.etcd.io/", "github.com/redis/", "github.com/go-redsync/", "github.com/moby/",
	"github.com/docker/", "github.com/testcontainers/", "google.golang.org/grpc", "go.opentelemetry.io/",
	"github.com/prometheus/"}

// goCmd runs the go command in the chaos module alone, without the
// workspace, as a user module sees it.
func goCmd(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the go command is not on PATH: %v", err)
		}
		t.Skipf("SKIPPING: no go command on PATH (%v)", err)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("GOWORK=off go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestModuleGraphStaysSlim keeps the promise of package builtin: the chaos
// module does not require etcd, Redis or Docker modules, and its graph stays
// within maxModules. A new dependency of a target or runtime that is a
// module of its own goes into that module's go.mod.
func TestModuleGraphStaysSlim(t *testing.T) {
	if _, err := os.Stat(filepath.Join("..", "go.mod")); err != nil {
		t.Fatal(err)
	}
	mods := strings.Fields(goCmd(t, "list", "-m", "-f", "{{.Path}}", "all"))
	for _, m := range mods {
		for _, h := range heavy {
			if strings.HasPrefix(m, h) {
				t.Errorf("the chaos module's graph holds %s: move the package that needs it into a nested module (see ARCHITECTURE.md)", m)
			}
		}
	}
	if len(mods) > maxModules {
		t.Errorf("the chaos module's graph has %d modules, more than %d:\n%s", len(mods), maxModules, strings.Join(mods, "\n"))
	}
}

// TestNoImportOfNestedModules fails when a package of the chaos module, or
// one of its tests, imports a package of a nested module (catalog, the etcd
// or Redis target, the Docker runtime): inside the workspace that builds,
// but it would put the nested module, and everything it requires, into
// every user's graph.
func TestNoImportOfNestedModules(t *testing.T) {
	goCmd(t, "list", "-e=false", "-deps", "-test", "./...")
}
