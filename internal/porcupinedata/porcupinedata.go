// Package porcupinedata finds the Jepsen etcd histories that porcupine ships
// in its module (test_data/jepsen/etcd_*.log) and the verdicts porcupine's
// own tests expect for them, so our checker is tested against histories that
// a real system produced, judged as porcupine judges them. It is for tests
// and benchmarks.
package porcupinedata

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
)

// Module is porcupine's module path.
const Module = "github.com/anishathalye/porcupine"

// Dir returns porcupine's module directory at the version this module
// requires, downloading it into the module cache through the Go toolchain
// when it is not there yet. It must run inside this module (tests do).
func Dir() (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", Module).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w", Module, err)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("go mod download %s: %w", Module, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: %s", Module, info.Error)
	}
	return info.Dir, nil
}

// Log is one Jepsen etcd history and porcupine's expected verdict.
type Log struct {
	Num          int
	Path         string
	Linearizable bool
}

var expect = regexp.MustCompile(`checkJepsen\(t,\s*(\d+),\s*(true|false)\)`)

// EtcdLogs lists the histories porcupine's tests judge, with the verdicts
// read from porcupine_test.go, in order.
func EtcdLogs() ([]Log, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(filepath.Join(dir, "porcupine_test.go"))
	if err != nil {
		return nil, err
	}
	var logs []Log
	for _, m := range expect.FindAllStringSubmatch(string(src), -1) {
		n, _ := strconv.Atoi(m[1])
		logs = append(logs, Log{Num: n, Path: filepath.Join(dir, "test_data", "jepsen", fmt.Sprintf("etcd_%03d.log", n)),
			Linearizable: m[2] == "true"})
	}
	if len(logs) == 0 {
		return nil, fmt.Errorf("no checkJepsen expectations found in %s", filepath.Join(dir, "porcupine_test.go"))
	}
	sort.Slice(logs, func(i, j int) bool { return logs[i].Num < logs[j].Num })
	return logs, nil
}
