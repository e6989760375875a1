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

// ReadFile reads a history file. A torn last line (a harness killed mid-write)
// is dropped with a warning; any other malformed line is an error naming the
// file and line.
func ReadFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hf, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return hf, nil
}

// Read parses a history from r; see ReadFile.
func Read(r io.Reader) (*File, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	hf := &File{}
	var ops chunks
	defer func() { hf.Ops = ops.join() }()
	intern := map[string]string{}
	var values arena
	lineNo := 0
	sawHeader := false
	for {
		line, err := readLine(br)
		if len(line) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
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
			if !complete || isLastLine(br) {
				hf.Warnings = append(hf.Warnings, fmt.Sprintf("line %d: torn last record ignored (the run was probably killed while writing it): %v", lineNo, perr))
				break
			}
			return nil, fmt.Errorf("line %d: %w", lineNo, perr)
		}
		if op.Index != int64(ops.n) {
			return nil, fmt.Errorf("line %d: record index %d out of sequence (want %d)", lineNo, op.Index, ops.n)
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

// readLine returns the next line, valid until the next read. Lines longer
// than the reader's buffer are assembled in a fresh slice.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	long := append([]byte(nil), line...)
	for err == bufio.ErrBufferFull {
		line, err = br.ReadSlice('\n')
		long = append(long, line...)
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

// isLastLine reports whether nothing but white space remains in br.
func isLastLine(br *bufio.Reader) bool {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return true
		}
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			_ = br.UnreadByte()
			return false
		}
	}
}
