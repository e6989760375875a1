package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// FlushInterval bounds how stale the file on disk may be while a run goes.
const FlushInterval = 100 * time.Millisecond

// Writer streams records to a history file as they happen, so that a harness
// killed at any moment leaves a readable prefix. It is safe for concurrent use.
type Writer struct {
	mu   sync.Mutex // guards buf, next, err, closed
	buf  []byte
	next int64
	err  error

	flushMu sync.Mutex // serialises file writes so records stay in order
	spare   []byte
	f       *os.File

	closed bool
	stop   chan struct{}
	done   chan struct{}
}

// Create makes a new history file at path, writes the header and starts the
// background flusher. It refuses to overwrite an existing file: a stored run
// is never destroyed.
func Create(path string, h Header) (*Writer, error) {
	h.Format = Format
	if err := checkHeaderNames(&h); err != nil {
		return nil, fmt.Errorf("create history: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create history: %w", err)
	}
	line, err := json.Marshal(headerLine{Header: &h})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("encode history header: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return nil, fmt.Errorf("write history header: %w", err)
	}
	w := &Writer{f: f, buf: make([]byte, 0, 64<<10), spare: make([]byte, 0, 64<<10),
		stop: make(chan struct{}), done: make(chan struct{})}
	go w.flushLoop()
	return w, nil
}

func (w *Writer) flushLoop() {
	defer close(w.done)
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			_ = w.Flush()
		}
	}
}

// Append assigns the next index to op, buffers it, and returns it as recorded.
// Nemesis records are flushed at once: a fault is the thing a reader of a
// crashed run most needs to see.
func (w *Writer) Append(op Op) (Op, error) {
	return w.AppendAt(op, nil)
}

// AppendAt is Append that stamps op.Time with now() under the writer's lock,
// so record order and time order agree even with many writers: checkers
// that sweep the history in order rely on it.
func (w *Writer) AppendAt(op Op, now func() int64) (Op, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return op, errors.New("history: append after close")
	}
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return op, err
	}
	if err := checkOpNames(&op); err != nil {
		w.mu.Unlock()
		return op, err
	}
	op.Index = w.next
	w.next++
	if now != nil {
		op.Time = now()
	}
	w.buf = AppendJSON(w.buf, &op)
	w.buf = append(w.buf, '\n')
	big := len(w.buf) >= 1<<20
	w.mu.Unlock()
	if op.IsNemesis() || big {
		if err := w.Flush(); err != nil {
			return op, err
		}
	}
	return op, nil
}

// Len returns the number of records appended so far.
func (w *Writer) Len() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next
}

// Flush writes every buffered record to the file.
func (w *Writer) Flush() error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	b := w.buf
	w.buf = w.spare[:0]
	w.mu.Unlock()
	if len(b) == 0 {
		w.spare = b
		return nil
	}
	_, err := w.f.Write(b)
	w.spare = b[:0]
	if err != nil {
		err = fmt.Errorf("write history: %w", err)
		w.mu.Lock()
		if w.err == nil {
			w.err = err
		}
		w.mu.Unlock()
	}
	return err
}

// Close flushes, syncs and closes the file. It is idempotent.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	err := w.Flush()
	if serr := w.f.Sync(); err == nil && serr != nil {
		err = fmt.Errorf("sync history: %w", serr)
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close history: %w", cerr)
	}
	return err
}

// File is a history read back from disk.
type File struct {
	Header Header
	Ops    []Op
	// ArtifactDir is where checkers may write files of their own (such as
	// visualizations); empty means nowhere.
	ArtifactDir string
	// Warnings lists what the reader tolerated, such as a torn last line.
	Warnings []string
}

// Default bounds of the readers; see MaxRecordSize and MaxInputSize.
const (
	DefaultMaxRecordSize int64 = 64 << 20
	DefaultMaxInputSize  int64 = 4 << 30
)

// ReadOption configures ReadFile and Read.
type ReadOption func(*readConfig)

type readConfig struct {
	maxRecord, maxInput int64
}

// MaxRecordSize bounds one line of the history (default 64 MiB): a history
// without line breaks, such as /dev/zero, must not take the machine's
// memory. A bound of 0 or less keeps the default.
func MaxRecordSize(n int64) ReadOption {
	return func(c *readConfig) {
		if n > 0 {
			c.maxRecord = n
		}
	}
}

// MaxInputSize bounds the whole history (default 4 GiB, about 40 million
// records). A bound of 0 or less keeps the default.
func MaxInputSize(n int64) ReadOption {
	return func(c *readConfig) {
		if n > 0 {
			c.maxInput = n
		}
	}
}

// LimitError says a history exceeded one of the readers' bounds.
type LimitError struct {
	// What is "record" or "history".
	What  string
	Limit int64
	// Line is the line being read when the bound was reached.
	Line int
}

func (e *LimitError) Error() string {
	if e.What == "record" {
		return fmt.Sprintf("line %d: a record longer than the %s limit on one record; if the history is genuine, raise it with --max-record-size (chaos check) or history.MaxRecordSize",
			e.Line, byteSize(e.Limit))
	}
	return fmt.Sprintf("line %d: the history is larger than the %s limit on a history; if it is genuine, raise it with --max-history-size (chaos check) or history.MaxInputSize",
		e.Line, byteSize(e.Limit))
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ReadFile reads a history file. A torn last line (a harness killed
// mid-write: the last line has no line break) is dropped with a warning;
// any other malformed line is an error naming the file and line.
func ReadFile(path string, opts ...ReadOption) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hf, err := Read(f, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return hf, nil
}

// errInputTooLarge is what boundedReader returns past its bound.
var errInputTooLarge = errors.New("input too large")

// boundedReader reads at most left bytes and then fails, instead of
// stopping quietly as io.LimitReader would, if anything follows.
type boundedReader struct {
	r    io.Reader
	left int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			return 0, errInputTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// openOp is an invocation awaiting its completion, for the time check.
type openOp struct{ time, index int64 }

// openTimes remembers each process's open invocation; processes are small
// numbers, so a slice serves all but unusual ones.
type openTimes struct {
	small []openOp // by process+1 (the nemesis is -1); index -1 when none
	large map[int]openOp
}

func (o *openTimes) slot(p int) *openOp {
	if p >= -1 && p < 1<<16 {
		for p+1 >= len(o.small) {
			o.small = append(o.small, openOp{index: -1})
		}
		return &o.small[p+1]
	}
	if o.large == nil {
		o.large = map[int]openOp{}
	}
	return nil
}

// check records op and refuses a completion earlier than its invocation.
func (o *openTimes) check(op *Op) error {
	s := o.slot(op.Process)
	var prev openOp
	var found bool
	if s != nil {
		prev, found = *s, s.index >= 0
	} else {
		prev, found = o.large[op.Process]
	}
	var next openOp
	if op.Type == Invoke {
		next = openOp{time: op.Time, index: op.Index}
	} else {
		next = openOp{index: -1}
		if found && op.Time < prev.time {
			return fmt.Errorf("record %d: the %s of %q at %d ns is earlier than its invocation (record %d at %d ns); a history's clock never runs backwards",
				op.Index, op.Type, op.F, op.Time, prev.index, prev.time)
		}
	}
	switch {
	case s != nil:
		*s = next
	case next.index < 0:
		delete(o.large, op.Process)
	default:
		o.large[op.Process] = next
	}
	return nil
}

// Read parses a history from r; see ReadFile.
func Read(r io.Reader, opts ...ReadOption) (*File, error) {
	cfg := readConfig{maxRecord: DefaultMaxRecordSize, maxInput: DefaultMaxInputSize}
	for _, o := range opts {
		o(&cfg)
	}
	br := bufio.NewReaderSize(&boundedReader{r: r, left: cfg.maxInput}, 1<<20)
	hf := &File{}
	var ops chunks
	defer func() { hf.Ops = ops.join() }()
	intern := map[string]string{}
	var values arena
	var open openTimes
	lineNo := 0
	sawHeader := false
	for {
		line, err := readLine(br, cfg.maxRecord)
		if len(line) == 0 && err == io.EOF {
			break
		}
		switch {
		case errors.Is(err, errInputTooLarge):
			return nil, &LimitError{What: "history", Limit: cfg.maxInput, Line: lineNo + 1}
		case errors.Is(err, errRecordTooLarge):
			return nil, &LimitError{What: "record", Limit: cfg.maxRecord, Line: lineNo + 1}
		case err != nil && err != io.EOF:
			return nil, fmt.Errorf("read line %d: %w", lineNo+1, err)
		}
		lineNo++
		complete := err == nil
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) == 0 {
			if !complete {
				break
			}
			continue
		}
		if !sawHeader {
			sawHeader = true
			var hl headerLine
			if herr := json.Unmarshal(trimmed, &hl); herr != nil || hl.Header == nil {
				if !complete {
					return nil, fmt.Errorf("line 1: the header is incomplete (the run was killed before it was written)")
				}
				return nil, fmt.Errorf(`line 1: not a chaos history header (want {"header":{"format":%q,...}})`, Format)
			}
			if terr := checkText(trimmed); terr != nil {
				return nil, fmt.Errorf("line 1: the header's %v; names must be valid UTF-8, or distinct names would merge", terr)
			}
			if hl.Header.Format != Format {
				return nil, fmt.Errorf("line 1: history format %q is not supported (want %q)", hl.Header.Format, Format)
			}
			hf.Header = *hl.Header
			continue
		}
		op, perr := parseOp(trimmed, intern)
		if perr == nil && len(op.Value) > 0 {
			// The line lives in the reader's buffer; keep only the value.
			op.Value = values.keep(op.Value)
		}
		if perr != nil {
			// Only a last line without its line break is torn: the writer
			// puts a record and its newline in one write. A complete
			// line that does not parse is a damaged history.
			if !complete {
				hf.Warnings = append(hf.Warnings, fmt.Sprintf("line %d: torn last record ignored (the run was probably killed while writing it): %v", lineNo, perr))
				break
			}
			return nil, fmt.Errorf("line %d: %w", lineNo, perr)
		}
		if op.Index != int64(ops.n) {
			return nil, fmt.Errorf("line %d: record index %d out of sequence (want %d)", lineNo, op.Index, ops.n)
		}
		if terr := open.check(&op); terr != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, terr)
		}
		ops.add(op)
		if !complete {
			break
		}
	}
	if !sawHeader {
		return nil, errors.New("empty history: no header line")
	}
	return hf, nil
}

// errRecordTooLarge is what readLine returns for a line past its bound.
var errRecordTooLarge = errors.New("record too large")

// readLine returns the next line, valid until the next read. Lines longer
// than the reader's buffer are assembled in a fresh slice.
func readLine(br *bufio.Reader, limit int64) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		if int64(len(bytes.TrimRight(line, "\r\n"))) > limit {
			return nil, errRecordTooLarge
		}
		return line, err
	}
	long := append([]byte(nil), line...)
	for err == bufio.ErrBufferFull {
		if int64(len(long)) > limit {
			return nil, errRecordTooLarge
		}
		line, err = br.ReadSlice('\n')
		long = append(long, line...)
	}
	if int64(len(bytes.TrimRight(long, "\r\n"))) > limit {
		return nil, errRecordTooLarge
	}
	return long, err
}

// arena copies values into large shared blocks: one allocation per block
// instead of one per record keeps the garbage collector out of the way
// when reading millions of records.
type arena struct{ block []byte }

func (a *arena) keep(v []byte) []byte {
	if len(v) > 4096 {
		return append([]byte(nil), v...)
	}
	if len(a.block)+len(v) > cap(a.block) {
		a.block = make([]byte, 0, 1<<20)
	}
	start := len(a.block)
	a.block = append(a.block, v...)
	return a.block[start:len(a.block):len(a.block)]
}

// chunks collects ops in fixed-size blocks and joins them once at the end:
// growing one slice of millions of ops would copy it again and again.
type chunks struct {
	full [][]Op
	cur  []Op
	n    int
}

func (c *chunks) add(op Op) {
	if len(c.cur) == cap(c.cur) {
		if c.cur != nil {
			c.full = append(c.full, c.cur)
		}
		c.cur = make([]Op, 0, 1<<14)
	}
	c.cur = append(c.cur, op)
	c.n++
}

func (c *chunks) join() []Op {
	if len(c.full) == 0 {
		return c.cur
	}
	out := make([]Op, 0, c.n)
	for _, b := range c.full {
		out = append(out, b...)
	}
	return append(out, c.cur...)
}
