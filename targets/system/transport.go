package system

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chaostest/chaos/core"
)

// health remembers the first contract break of a transport. A broken
// client ends the run (exit 2): its ops would otherwise all be info, and a
// history of nothing but indeterminate ops would be judged valid.
type health struct {
	mu  sync.Mutex
	err error
}

func (h *health) fault(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		h.err = err
	}
}

func (h *health) broken() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// infoBroken records a contract break and returns the op's completion:
// info, since the system may have acted on it.
func (h *health) infoBroken(err error) response {
	h.fault(err)
	return response{Type: "info", Error: err.Error()}
}

// decodeResponse reads a completion: a JSON object with type ok (the
// default), fail or info, a value and an error.
func decodeResponse(b []byte) (response, error) {
	var r response
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return response{Type: "ok"}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("not a completion object {\"type\":...,\"value\":...}: %v", err)
	}
	if dec.More() {
		return r, errors.New("more than one JSON value")
	}
	switch r.Type {
	case "":
		r.Type = "ok"
	case "ok", "fail", "info":
	default:
		return r, fmt.Errorf("type %q: must be ok, fail or info", r.Type)
	}
	return r, nil
}

func quote(b []byte) string {
	const max = 200
	s := string(bytes.TrimSpace(b))
	if len(s) > max {
		s = s[:max] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// httpTransport speaks the HTTP contract: POST <path>/<workload>/<f> with
// the invocation as a JSON body; the answer's body is the completion.
type httpTransport struct {
	health
	c        *http.Client
	base     string
	node     string
	endpoint string
}

func (t *httpTransport) call(ctx context.Context, req request) response {
	req.Endpoint = t.endpoint
	body, _ := json.Marshal(req)
	url := t.base + req.F
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return response{Type: "fail", Error: err.Error()}
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := t.c.Do(hr)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			// Nothing reached the node: it certainly did not happen.
			return response{Type: "fail", Error: err.Error()}
		}
		return response{Type: "info", Error: err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return response{Type: "info", Error: "reading the answer: " + err.Error()}
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		r, err := decodeResponse(b)
		if err != nil {
			return t.infoBroken(fmt.Errorf("node %s answered POST %s with %s: %v (see docs/bring-your-own.md)", t.node, hr.URL.Path, quote(b), err))
		}
		return r
	case resp.StatusCode == http.StatusConflict:
		return response{Type: "fail", Error: strings.TrimSpace(string(b))}
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed ||
		resp.StatusCode == http.StatusNotImplemented:
		return t.infoBroken(fmt.Errorf("node %s answered HTTP %d to POST %s: it does not implement this operation of the contract (see docs/bring-your-own.md)", t.node, resp.StatusCode, hr.URL.Path))
	}
	return response{Type: "info", Error: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))}
}

func (t *httpTransport) close() error { return nil }

// commandTransport runs the client command, one process for this worker
// and node, and speaks JSON lines with it: one invocation per line on its
// stdin, one completion per line on its stdout, matched by id. The first
// line is init, which the process answers once it is ready. An op that
// outlives its timeout is info and the process is replaced, since it may
// still be busy with it.
type commandTransport struct {
	health
	args  []string
	env   []string
	dir   string
	base  request // workload, node, addr of every invocation
	nodes []string

	proc   *proc
	nextID uint64
}

// proc is one running client process.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte
	readEr chan error // the reason stdout ended
	stderr *tail
	exited chan struct{}
}

func (t *Target) newCommand(workload string, cfg core.ClientConfig, addr string) (*commandTransport, error) {
	s := t.s
	lookup := func(name string, args []string) (string, error) {
		switch name {
		case "node":
			return cfg.Node, nil
		case "nodes":
			return strings.Join(cfg.Nodes, ","), nil
		case "addr":
			return cfg.Addr(cfg.Node, args[0])
		case "endpoint":
			return cfg.Endpoint, nil
		case "workload":
			return workload, nil
		}
		v, err := s.expandStatic([]string{"{" + name + "}"}, nil)
		if err != nil {
			return "", err
		}
		return v[0], nil
	}
	args := make([]string, len(s.Client.Command))
	for i, a := range s.Client.Command {
		v, err := expand(a, lookup)
		if err != nil {
			return nil, fmt.Errorf("%s: client.command: %w", s.Path, err)
		}
		args[i] = v
	}
	if strings.Contains(args[0], "/") && !filepath.IsAbs(args[0]) {
		args[0] = filepath.Join(s.Dir, args[0])
	}
	env := append(os.Environ(), "CHAOS_NODE="+cfg.Node, "CHAOS_ADDR="+addr, "CHAOS_CLIENT="+cfg.Endpoint,
		"CHAOS_WORKLOAD="+workload, "PYTHONUNBUFFERED=1")
	for _, k := range slices.Sorted(maps.Keys(s.Client.Env)) {
		v, err := expand(s.Client.Env[k], lookup)
		if err != nil {
			return nil, fmt.Errorf("%s: client.env.%s: %w", s.Path, k, err)
		}
		env = append(env, k+"="+v)
	}
	return &commandTransport{args: args, env: env, dir: s.Dir, nodes: cfg.Nodes,
		base: request{Workload: workload, Node: cfg.Node, Addr: addr, Endpoint: cfg.Endpoint}}, nil
}

// maxLine bounds one completion line.
const maxLine = 1 << 20

func (t *commandTransport) start() (*proc, error) {
	cmd := exec.Command(t.args[0], t.args[1:]...)
	cmd.Dir, cmd.Env = t.dir, t.env
	// Its own process group, so a replaced client takes its children along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, stdin: stdin, lines: make(chan []byte, 1), readEr: make(chan error, 1),
		stderr: &tail{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// One goroutine reads stdout to its end and only then waits for the
	// process: Wait closes the pipe, and must not race the last read.
	go func() {
		defer close(p.exited)
		r := bufio.NewReaderSize(stdout, 64<<10)
		for {
			line, err := readLine(r)
			if err != nil {
				p.readEr <- err
				close(p.lines)
				if err != io.EOF {
					_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				}
				_ = cmd.Wait()
				return
			}
			p.lines <- line
		}
	}()
	return p, nil
}

func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, more, err := r.ReadLine()
		if err != nil {
			return nil, err
		}
		line = append(line, chunk...)
		if len(line) > maxLine {
			return nil, fmt.Errorf("a line longer than %d bytes", maxLine)
		}
		if !more {
			return line, nil
		}
	}
}

// kill ends the process group at once and waits for the process.
func (p *proc) kill() {
	_ = p.stdin.Close()
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	// Drain what it printed last, so the reader reaches the end.
	for {
		select {
		case _, ok := <-p.lines:
			if ok {
				continue
			}
		case <-p.exited:
		case <-time.After(5 * time.Second):
			// A child outside its process group holds stdout open.
		}
		return
	}
}

// exitStatus describes how the process ended, with its last stderr lines.
func (p *proc) exitStatus() string {
	select {
	case <-p.exited:
	case <-time.After(2 * time.Second):
		return "stopped answering (its stdout closed)"
	}
	st := "it exited"
	if ps := p.cmd.ProcessState; ps != nil {
		st = ps.String()
	}
	if t := p.stderr.last(); t != "" {
		st += "; its stderr ends: " + t
	}
	return st
}

// InitTimeout bounds a client process's start: from exec to its answer to
// the init message. Starting an interpreter on a loaded machine takes
// seconds, which must not be charged to the first operation's timeout.
const InitTimeout = 30 * time.Second

// open starts a client process and waits for its answer to init, the first
// line it is sent. A process that cannot start or answer breaks the
// transport.
func (t *commandTransport) open(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, InitTimeout)
	defer cancel()
	p, err := t.start()
	if err != nil {
		err = fmt.Errorf("client command %s: %v", strings.Join(t.args, " "), err)
		t.fault(err)
		return err
	}
	t.proc = p
	t.nextID = 0
	init := t.base
	init.F = "init"
	init.Nodes = t.nodes
	r := t.exchange(ctx, init, "init")
	if r.Type == "info" && t.broken() == nil {
		t.fault(fmt.Errorf("client command %s did not answer init within %s: %s", t.args[0], InitTimeout, r.Error))
	} else if r.Type == "fail" {
		t.fault(fmt.Errorf("client command %s refused init: %s", t.args[0], r.Error))
	}
	return t.broken()
}

func (t *commandTransport) call(ctx context.Context, req request) response {
	if err := t.broken(); err != nil {
		return response{Type: "fail", Error: "not sent: the client command is broken: " + err.Error()}
	}
	if t.proc == nil {
		if err := t.open(context.WithoutCancel(ctx)); err != nil {
			// Nothing was sent; the run cannot go on without a client.
			return response{Type: "fail", Error: err.Error()}
		}
	}
	req.Workload, req.Node, req.Addr, req.Endpoint = t.base.Workload, t.base.Node, t.base.Addr, t.base.Endpoint
	return t.exchange(ctx, req, fmt.Sprintf("%s %s for %s", req.F, req.Key, req.Endpoint))
}

// exchange sends one line and waits for its answer.
func (t *commandTransport) exchange(ctx context.Context, req request, what string) response {
	p := t.proc
	t.nextID++
	req.ID = t.nextID
	line, _ := json.Marshal(req)
	if _, err := p.stdin.Write(append(line, '\n')); err != nil {
		t.proc = nil
		st := p.exitStatus()
		p.kill()
		if what == "init" {
			return t.infoBroken(fmt.Errorf("client command %s ended before it answered init: %s", t.args[0], st))
		}
		return t.infoBroken(fmt.Errorf("client command %s ended before it could take %s: %s", t.args[0], what, st))
	}
	select {
	case b, ok := <-p.lines:
		if !ok {
			err := <-p.readEr
			t.proc = nil
			st := p.exitStatus()
			p.kill()
			if err != io.EOF {
				st = err.Error()
			}
			if what == "init" {
				return t.infoBroken(fmt.Errorf("client command %s ended before it answered init: %s", t.args[0], st))
			}
			return t.infoBroken(fmt.Errorf("client command %s ended while performing %s: %s (a client must answer every invocation, with info when it cannot know)", t.args[0], what, st))
		}
		r, err := decodeResponse(b)
		switch {
		case err != nil:
		case r.ID == nil:
			err = errors.New("no id")
		case *r.ID != req.ID:
			err = fmt.Errorf("id %d where %d was expected", *r.ID, req.ID)
		}
		if err != nil {
			t.proc = nil
			p.kill()
			return t.infoBroken(fmt.Errorf("client command %s printed %s for %s: %v; a completion is one JSON line {\"id\":%d,\"type\":\"ok\",\"value\":...} (see docs/bring-your-own.md)", t.args[0], quote(b), what, err, req.ID))
		}
		return r
	case <-ctx.Done():
		// It may still act on the op: replace it.
		t.proc = nil
		p.kill()
		return response{Type: "info", Error: "no answer from the client command: " + ctx.Err().Error()}
	}
}

// close ends stdin, gives the process a moment to exit on its own, and
// kills it.
func (t *commandTransport) close() error {
	p := t.proc
	t.proc = nil
	if p == nil {
		return nil
	}
	_ = p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(500 * time.Millisecond):
	}
	p.kill()
	return nil
}

// tail keeps the last few KiB a process wrote to stderr.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(b), nil
}

// last returns the last non-empty stderr line.
func (t *tail) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.buf)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
