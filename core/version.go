package core

import (
	"runtime"
	"runtime/debug"
)

// Versions records what built the harness.
type Versions struct {
	// Chaos is the module version of the binary: a release tag
	// (`go install .../cmd/chaos@v0.4.0`), the version given at link time,
	// or "(devel)" when neither is known.
	Chaos string `json:"chaos"`
	// Commit is the VCS revision the binary was built from, empty when
	// unknown; it ends in "-dirty" when the work tree had changes.
	Commit string `json:"commit,omitempty"`
	Go     string `json:"go"`
	OS     string `json:"os"`
}

// String is the one-line form --version prints:
// "v0.4.0, commit 3f2a9c1 (go1.26.8 linux/amd64)" or "(devel) (go1.26.8 linux/amd64)".
func (v Versions) String() string {
	s := v.Chaos
	if v.Commit != "" {
		s += ", commit " + v.Commit
	}
	return s + " (" + v.Go + " " + v.OS + ")"
}

// linkVersion and linkCommit are set at link time by a build that knows its
// source when the toolchain does not stamp it (a workspace build carries no
// VCS settings):
//
//	go build -ldflags "-X github.com/chaostest/chaos/core.linkVersion=v0.4.0 -X github.com/chaostest/chaos/core.linkCommit=$(git rev-parse HEAD)" ./cmd/chaos
//
// They are the only package variables of core; nothing writes them at run time.
var (
	linkVersion string
	linkCommit  string
)

// BuildVersions reads the harness version from the build info and the
// link-time values.
func BuildVersions() Versions {
	bi, _ := debug.ReadBuildInfo()
	v := versionsFrom(bi, linkVersion, linkCommit)
	v.Go, v.OS = runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH
	return v
}

// versionsFrom decides version and commit. The values given at link time
// win: whoever passed them meant them. Otherwise the build info's module
// version and vcs.revision are used, and "(devel)" says honestly that the
// version is unknown.
func versionsFrom(bi *debug.BuildInfo, linkVersion, linkCommit string) Versions {
	v := Versions{Chaos: "(devel)"}
	if bi != nil {
		if mv := bi.Main.Version; mv != "" {
			v.Chaos = mv
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if v.Commit != "" && modified {
			v.Commit += "-dirty"
		}
	}
	if linkVersion != "" {
		v.Chaos = linkVersion
	}
	if linkCommit != "" {
		v.Commit = linkCommit
	}
	return v
}
