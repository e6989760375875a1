package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
)

// libfaketime keeps its shared state in two POSIX shared-memory objects per
// process, named after the pid, and removes them in its exit handler. A
// node killed with SIGKILL never runs it, so the runtime removes them for
// the nodes it started: when their process has been reaped, and, for nodes
// whose harness itself was killed, in `chaos clean` through a marker per
// pid in markerDir.
const (
	shmDir       = "/dev/shm"
	faketimeShm  = "faketime_shm_%d"
	faketimeSem  = "sem.faketime_sem_%d"
	markerSubdir = "chaos-faketime-pids"
)

// markerDir is where the pids of running faketime nodes are recorded (one
// empty file per pid), so that only our own nodes' files are ever removed.
func markerDir() string { return filepath.Join(os.TempDir(), markerSubdir) }

// markFaketime records pid as a faketime node of ours.
func markFaketime(pid int) {
	d := markerDir()
	if os.MkdirAll(d, 0o700) == nil {
		_ = os.WriteFile(filepath.Join(d, strconv.Itoa(pid)), nil, 0o600)
	}
}

// removeFaketimeFiles removes the shared-memory files of pid, a faketime
// node of ours that has exited, and its marker. It returns the files it
// removed.
func removeFaketimeFiles(pid int) []string {
	var out []string
	for _, f := range []string{faketimeShm, faketimeSem} {
		p := filepath.Join(shmDir, fmt.Sprintf(f, pid))
		if err := os.Remove(p); err == nil {
			out = append(out, p)
		}
	}
	_ = os.Remove(filepath.Join(markerDir(), strconv.Itoa(pid)))
	return out
}

// CleanHostFiles removes what faketime nodes of the local runtime left on
// the host when nobody reaped them (their harness was killed): the
// libfaketime shared-memory files of every recorded pid whose process is
// gone. A pid that is alive is left alone. With dryRun it only lists them.
func CleanHostFiles(dryRun bool) ([]string, error) {
	ents, err := os.ReadDir(markerDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", markerDir(), err)
	}
	var out []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 || alive(pid) {
			continue
		}
		if dryRun {
			for _, f := range []string{faketimeShm, faketimeSem} {
				p := filepath.Join(shmDir, fmt.Sprintf(f, pid))
				if _, err := os.Stat(p); err == nil {
					out = append(out, p)
				}
			}
			continue
		}
		out = append(out, removeFaketimeFiles(pid)...)
	}
	sort.Strings(out)
	return out, nil
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
