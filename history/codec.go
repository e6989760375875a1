package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Format names the on-disk layout; it is the first thing in every history file.
const Format = "chaos-history/1"

// Header is the first line of a history file. It carries what a checker needs
// to judge the history with no other file at hand: which target and workload
// produced it, with which parameters, on which nodes, from which seed.
type Header struct {
	Format   string    `json:"format"`
	RunID    string    `json:"run_id,omitempty"`
	Target   string    `json:"target"`
	Workload string    `json:"workload"`
	Runtime  string    `json:"runtime,omitempty"`
	Nodes    []string  `json:"nodes,omitempty"`
	Nemeses  []string  `json:"nemeses,omitempty"`
	Seed     int64     `json:"seed"`
	Start    time.Time `json:"start"`
	// Params holds the target's and workload's parameters (for example the
	// snowflake mode), as given on the command line.
	Params map[string]string `json:"params,omitempty"`
}

// StartUnixNano is the wall-clock time of Op.Time zero.
func (h *Header) StartUnixNano() int64 { return h.Start.UnixNano() }

type headerLine struct {
	Header *Header `json:"header"`
}

// AppendJSON appends the op's JSON Lines encoding, without the newline.
// It is hand-written because the writer is on the hot path of every run.
func AppendJSON(b []byte, o *Op) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, o.Index, 10)
	b = append(b, `,"process":`...)
	if o.Process == NemesisProcess {
		b = append(b, `"nemesis"`...)
	} else {
		b = strconv.AppendInt(b, int64(o.Process), 10)
	}
	b = append(b, `,"type":`...)
	b = appendString(b, string(o.Type))
	b = append(b, `,"f":`...)
	b = appendString(b, o.F)
	if o.Key != "" {
		b = append(b, `,"key":`...)
		b = appendString(b, o.Key)
	}
	if len(o.Value) > 0 {
		b = append(b, `,"value":`...)
		if json.Valid(o.Value) {
			b = appendCompact(b, o.Value)
		} else {
			// A value that is not JSON is kept as text rather than
			// corrupting the line.
			b = appendString(b, string(o.Value))
		}
	}
	if o.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, o.Error)
	}
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, o.Time, 10)
	if o.Node != "" {
		b = append(b, `,"node":`...)
		b = appendString(b, o.Node)
	}
	return append(b, '}')
}

// appendCompact keeps one record on one line even if a value was indented.
func appendCompact(b, v []byte) []byte {
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return append(b, v...)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		return appendString(b, string(v))
	}
	return append(b, buf.Bytes()...)
}

func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			enc, _ := json.Marshal(s) // strings always encode
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// wireOp is the decoding shape; process is either a number or "nemesis".
type wireOp struct {
	Index   *int64          `json:"index"`
	Process json.RawMessage `json:"process"`
	Type    Type            `json:"type"`
	F       string          `json:"f"`
	Key     string          `json:"key"`
	Value   json.RawMessage `json:"value"`
	Error   string          `json:"error"`
	Time    *int64          `json:"time"`
	Node    string          `json:"node"`
}

// ParseOp decodes one JSON Lines record. The op's Value may share memory
// with line.
func ParseOp(line []byte) (Op, error) {
	return parseOp(line, map[string]string{})
}

func parseOp(line []byte, intern map[string]string) (Op, error) {
	if intern != nil {
		if op, ok := fastParseOp(line, intern); ok {
			return op, nil
		}
	}
	return generalParse(line)
}

// generalParse decodes any well-formed record and explains what is wrong
// with the others.
func generalParse(line []byte) (Op, error) {
	if err := checkNames(line); err != nil {
		return Op{}, err
	}
	var w wireOp
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Op{}, fmt.Errorf("not a history record: %w", err)
	}
	if dec.More() {
		return Op{}, errors.New("trailing data after the record")
	}
	if w.Index == nil {
		return Op{}, errors.New(`missing "index"`)
	}
	if w.Time == nil {
		return Op{}, errors.New(`missing "time"`)
	}
	if !w.Type.Valid() {
		return Op{}, fmt.Errorf("type %q is not one of invoke, ok, fail, info", w.Type)
	}
	if w.F == "" {
		return Op{}, errors.New(`missing "f" (the operation name)`)
	}
	op := Op{Index: *w.Index, Type: w.Type, F: w.F, Key: w.Key, Error: w.Error, Time: *w.Time, Node: w.Node}
	if len(w.Value) > 0 && string(w.Value) != "null" {
		op.Value = w.Value
	}
	switch p := string(w.Process); {
	case p == `"nemesis"`:
		op.Process = NemesisProcess
	case p == "":
		return Op{}, errors.New(`missing "process"`)
	default:
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return Op{}, fmt.Errorf(`process %s is neither a non-negative number nor "nemesis"`, p)
		}
		op.Process = n
	}
	return op, nil
}
