package local

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// A node's processes are its process group and every process below the
// node's pid. Most programs keep their children in the group, but some move
// them into sessions of their own: PostgreSQL's backends call setsid, so a
// SIGSTOP to the postmaster's group leaves every open connection answering,
// and a SIGKILL leaves the backends alive for a moment, still holding the
// data directory. A fault on the node must reach all of them.

// procStat is what this package reads of /proc/<pid>/stat.
type procStat struct {
	state   byte
	ppid    int
	pgrp    int
	session int
}

// readStat reads /proc/<pid>/stat.
func readStat(pid int) (procStat, bool) {
	return readStatFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
}

// readStatFile parses a stat file of /proc (a process's, or a thread's
// under task/). The command name is in parentheses and may itself hold
// spaces or parentheses, so fields are counted from the last closing
// parenthesis.
func readStatFile(path string) (procStat, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procStat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, false
	}
	f := bytes.Fields(b[i+2:])
	if len(f) < 4 {
		return procStat{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	sid, err3 := strconv.Atoi(string(f[3]))
	if err1 != nil || err2 != nil || err3 != nil || len(f[0]) == 0 {
		return procStat{}, false
	}
	return procStat{state: f[0][0], ppid: ppid, pgrp: pgrp, session: sid}, true
}

// descendants returns every live process below root, as /proc tells now.
func descendants(root int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok && st.state != 'Z' && st.state != 'X' {
			children[st.ppid] = append(children[st.ppid], pid)
		}
	}
	var out []int
	queue := []int{root}
	seen := map[int]bool{root: true}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	return out
}

// signalTree sends sig to the process group of pid and to every descendant
// that left it. It returns the descendants outside the group, which a
// caller may wait for.
func signalTree(pid int, sig syscall.Signal) ([]int, error) {
	// The tree is read before the group is signalled: a killed parent's
	// children are handed to init at once and are no longer found below
	// it. It is read again afterwards for a child forked in between.
	before := descendants(pid)
	err := syscall.Kill(-pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		err = nil
	}
	var strays []int
	seen := map[int]bool{}
	for _, d := range append(before, descendants(pid)...) {
		if seen[d] {
			continue
		}
		seen[d] = true
		st, ok := readStat(d)
		if !ok || st.pgrp == pid {
			continue
		}
		strays = append(strays, d)
		_ = syscall.Kill(d, sig)
	}
	return strays, err
}

// allStopped reports whether every thread of every process in pids is in
// the stopped state (or the process is gone).
func allStopped(pids []int) bool {
	for _, p := range pids {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(p))); err != nil {
			continue
		}
		if !stopped(p) {
			if st, ok := readStat(p); ok && (st.state == 'Z' || st.state == 'X') {
				continue
			}
			return false
		}
	}
	return true
}

// gone reports whether none of pids is alive (a zombie counts as gone: it
// holds no file, port or lock).
func gone(pids []int) bool {
	for _, p := range pids {
		if st, ok := readStat(p); ok && st.state != 'Z' && st.state != 'X' {
			return false
		}
	}
	return true
}
