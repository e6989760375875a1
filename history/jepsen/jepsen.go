// Package jepsen imports histories that Jepsen wrote, so that they can be
// judged by this tool's checkers: history.edn files (one op map per line, or
// one vector of maps), and the "INFO jepsen.util - <process> :<type> :<f>
// <value>" log lines of older Jepsen tests, the form porcupine's own test
// data uses.
//
// Records keep Jepsen's meaning: invoke, ok, fail (did not happen) and info
// (indeterminate). Log lines carry no time, so a record's time is its line
// number; history.edn keeps its :time.
package jepsen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/chaostest/chaos/history"
)

// Options adjust an import.
type Options struct {
	// Independent unwraps jepsen.independent tuples: a value [k v] becomes
	// key k and value v, so a multi-key history can be checked per key.
	Independent bool
	// Source names the file in errors.
	Source string
}

func header(source, workload string) history.Header {
	return history.Header{Format: history.Format, Target: "jepsen", Workload: workload, RunID: source,
		Params: map[string]string{"source": source}}
}

// logLine matches "INFO  jepsen.util - 3	:invoke	:cas	[1 2]".
var logLine = regexp.MustCompile(`^\s*INFO\s+jepsen\.util\s+-\s+(\S+)\s+:(invoke|ok|fail|info)\s+:(\S+)\s*(.*?)\s*$`)

// maxLine bounds one line, so a corrupt file cannot exhaust memory.
const maxLine = 1 << 20

// ReadLog parses Jepsen log lines. Lines that are not operation records
// (other loggers, stack traces) are skipped; an operation line that cannot
// be understood is an error naming the line.
func ReadLog(r io.Reader, o Options) (*history.File, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	hf := &history.File{Header: header(o.Source, "jepsen-log")}
	// Times are line numbers; the linearizable checker says so in witnesses.
	hf.Header.Params["time-unit"] = "line"
	open := map[int]int{} // process -> index of its open invocation
	nem := map[string]int{}
	lineNo := 0
	for sc.Scan() {
		lineNo++
		m := logLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		op := history.Op{Index: int64(len(hf.Ops)), Type: history.Type(m[2]), F: m[3], Time: int64(lineNo)}
		if m[1] == ":nemesis" {
			op.Process = history.NemesisProcess
		} else {
			p, err := strconv.Atoi(m[1])
			if err != nil || p < 0 {
				return nil, fmt.Errorf("%s line %d: process %q is neither a number nor :nemesis", o.Source, lineNo, m[1])
			}
			op.Process = p
		}
		v, err := parseEDN(m[4])
		if err != nil {
			return nil, fmt.Errorf("%s line %d: value %q: %w", o.Source, lineNo, m[4], err)
		}
		if err := setValue(&op, v, o.Independent, hf.Ops, open); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", o.Source, lineNo, err)
		}
		track(open, nem, &op)
		hf.Ops = append(hf.Ops, op)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s line %d: %w", o.Source, lineNo+1, err)
	}
	return hf, nil
}

// track remembers each process's open invocation, so a completion whose
// value is an error keyword can take the invocation's value.
//
// Jepsen logs both halves of a nemesis operation as :info. A nemesis
// completion with no open nemesis operation of its :f is such a first half,
// and becomes the invocation, so faults pair as chaos records them (nem
// counts the open nemesis operations of each :f).
func track(open map[int]int, nem map[string]int, op *history.Op) {
	if op.Process == history.NemesisProcess {
		if op.Type != history.Invoke && nem[op.F] == 0 {
			op.Type = history.Invoke
		}
		if op.Type == history.Invoke {
			nem[op.F]++
		} else {
			nem[op.F]--
		}
		return
	}
	if op.Type == history.Invoke {
		open[op.Process] = int(op.Index)
	} else {
		delete(open, op.Process)
	}
}

// setValue stores a Jepsen value in op. A completion that carries a keyword
// where the invocation had a value (":timed-out") keeps the invocation's
// value and takes the keyword as its error.
func setValue(op *history.Op, v any, independent bool, ops []history.Op, open map[int]int) error {
	if independent && op.Process != history.NemesisProcess {
		if t, ok := v.([]any); ok && len(t) == 2 {
			op.Key = fmt.Sprint(jsonable(t[0]))
			v = t[1]
		} else if op.Type == history.Invoke {
			return fmt.Errorf("value %v is not an independent [key value] tuple", v)
		}
	}
	if kw, ok := v.(keyword); ok && op.Type != history.Invoke {
		op.Error = string(kw)
		if i, ok := open[op.Process]; ok {
			inv := ops[i]
			op.Value = inv.Value
			if op.Key == "" {
				op.Key = inv.Key
			}
			return nil
		}
		v = nil
	}
	if v == nil {
		return nil
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return fmt.Errorf("value %v: %w", v, err)
	}
	op.Value = b
	return nil
}

// ReadEDN parses a Jepsen history.edn: op maps one after another, or one
// vector of them.
func ReadEDN(r io.Reader, o Options) (*history.File, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4<<30))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Source, err)
	}
	hf := &history.File{Header: header(o.Source, "jepsen-edn")}
	p := &ednParser{src: b}
	open := map[int]int{}
	nem := map[string]int{}
	var start int64 = -1
	adjusted := 0
	add := func(v any) error {
		m, ok := v.(ednMap)
		if !ok {
			return fmt.Errorf("expected an op map {:type ... :f ...}, found %s", describe(v))
		}
		op, err := ednOp(m, int64(len(hf.Ops)), o.Independent, hf.Ops, open)
		if err != nil {
			return err
		}
		if start < 0 {
			start = op.Time
		}
		op.Time -= start
		// Knossos judges by history order, and so does the linearizable
		// checker (record order). A :time that runs backwards is moved to
		// just after the record before it, never onto it: times that tie
		// would read as concurrent to anything judging by time. The header
		// counts the records moved.
		if n := len(hf.Ops); n > 0 && op.Time < hf.Ops[n-1].Time {
			op.Time = hf.Ops[n-1].Time + 1
			adjusted++
		}
		track(open, nem, &op)
		hf.Ops = append(hf.Ops, op)
		return nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.src) {
			break
		}
		at := p.line()
		v, err := p.value()
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", o.Source, p.line(), err)
		}
		if vec, ok := v.([]any); ok {
			for i, x := range vec {
				if err := add(x); err != nil {
					return nil, fmt.Errorf("%s: op %d of the vector starting on line %d: %w", o.Source, i, at, err)
				}
			}
			continue
		}
		if err := add(v); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", o.Source, at, err)
		}
	}
	if len(hf.Ops) == 0 {
		return nil, fmt.Errorf("%s: no operations found (is it a Jepsen history.edn?)", o.Source)
	}
	hf.Header.Start = time.Unix(0, 0).UTC()
	if adjusted > 0 {
		hf.Header.Params[TimeAdjustedParam] = strconv.Itoa(adjusted)
	}
	return hf, nil
}

// TimeAdjustedParam is the header parameter that counts the records whose
// :time ran backwards and was moved to just after the record before them.
const TimeAdjustedParam = "time-adjusted"

func ednOp(m ednMap, index int64, independent bool, ops []history.Op, open map[int]int) (history.Op, error) {
	op := history.Op{Index: index, Time: index}
	typ, _ := m.get("type").(keyword)
	op.Type = history.Type(typ)
	if !op.Type.Valid() {
		return op, fmt.Errorf(":type %s is not one of :invoke, :ok, :fail, :info", describe(m.get("type")))
	}
	switch f := m.get("f").(type) {
	case keyword:
		op.F = string(f)
	case string:
		op.F = f
	default:
		return op, fmt.Errorf(":f %s is not a keyword", describe(m.get("f")))
	}
	switch p := m.get("process").(type) {
	case int64:
		if p < 0 || p > 1<<31 {
			return op, fmt.Errorf(":process %d out of range", p)
		}
		op.Process = int(p)
	case keyword:
		op.Process = history.NemesisProcess
	default:
		return op, fmt.Errorf(":process %s is neither a number nor :nemesis", describe(m.get("process")))
	}
	if t, ok := m.get("time").(int64); ok {
		op.Time = t
	}
	if e := m.get("error"); e != nil {
		op.Error = fmt.Sprint(jsonable(e))
	}
	if err := setValue(&op, m.get("value"), independent, ops, open); err != nil {
		return op, err
	}
	return op, nil
}

// The EDN values the parser produces: nil, bool, int64, float64, string,
// keyword, symbol, []any (vectors, lists, sets), ednMap, tagged.
type (
	keyword string
	symbol  string
	ednMap  []kv
	kv      struct{ k, v any }
	tagged  struct {
		tag string
		v   any
	}
)

func (m ednMap) get(name string) any {
	for _, e := range m {
		if k, ok := e.k.(keyword); ok && string(k) == name {
			return e.v
		}
	}
	return nil
}

// jsonable turns an EDN value into one encoding/json writes faithfully.
func jsonable(v any) any {
	switch x := v.(type) {
	case keyword:
		return string(x)
	case symbol:
		return string(x)
	case tagged:
		return jsonable(x.v)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonable(e)
		}
		return out
	case ednMap:
		out := make(map[string]any, len(x))
		for _, e := range x {
			out[fmt.Sprint(jsonable(e.k))] = jsonable(e.v)
		}
		return out
	}
	return v
}

func describe(v any) string {
	if v == nil {
		return "nil (missing)"
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil || len(b) > 80 {
		return fmt.Sprintf("%T", v)
	}
	return string(b)
}

func parseEDN(s string) (any, error) {
	p := &ednParser{src: []byte(s)}
	p.skipSpace()
	if p.pos >= len(p.src) {
		return nil, nil
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.src) {
		return nil, fmt.Errorf("unexpected %q after the value", p.src[p.pos:])
	}
	return v, nil
}

// ednParser reads the subset of EDN that Jepsen histories use.
type ednParser struct {
	src   []byte
	pos   int
	depth int
}

const maxDepth = 200

func (p *ednParser) line() int { return bytes.Count(p.src[:p.pos], []byte{'\n'}) + 1 }

func (p *ednParser) skipSpace() {
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			p.pos++
		case c == ';':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

var errEOF = errors.New("unexpected end of input")

func (p *ednParser) value() (any, error) {
	p.skipSpace()
	if p.pos >= len(p.src) {
		return nil, errEOF
	}
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, errors.New("nested too deeply")
	}
	switch c := p.src[p.pos]; c {
	case '[':
		p.pos++
		return p.seq(']')
	case '(':
		p.pos++
		return p.seq(')')
	case '{':
		p.pos++
		items, err := p.seq('}')
		if err != nil {
			return nil, err
		}
		if len(items)%2 != 0 {
			return nil, errors.New("map with an odd number of forms")
		}
		m := make(ednMap, 0, len(items)/2)
		for i := 0; i < len(items); i += 2 {
			m = append(m, kv{items[i], items[i+1]})
		}
		return m, nil
	case '"':
		return p.str()
	case ':':
		p.pos++
		t := p.token()
		if t == "" {
			return nil, errors.New("empty keyword")
		}
		return keyword(t), nil
	case '#':
		p.pos++
		if p.pos < len(p.src) && p.src[p.pos] == '{' {
			p.pos++
			return p.seq('}')
		}
		if p.pos < len(p.src) && p.src[p.pos] == '_' {
			p.pos++
			if _, err := p.value(); err != nil {
				return nil, err
			}
			return p.value()
		}
		tag := p.token()
		if tag == "" {
			return nil, errors.New("# without a tag")
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		return tagged{tag, v}, nil
	case ']', ')', '}':
		return nil, fmt.Errorf("unexpected %q", c)
	case '\\':
		p.pos++
		t := p.token()
		if t == "" && p.pos < len(p.src) {
			t = string(p.src[p.pos])
			p.pos++
		}
		return t, nil
	}
	t := p.token()
	if t == "" {
		return nil, fmt.Errorf("unexpected %q", p.src[p.pos])
	}
	switch t {
	case "nil":
		return nil, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	if c := t[0]; c >= '0' && c <= '9' || (c == '-' || c == '+') && len(t) > 1 && t[1] >= '0' && t[1] <= '9' {
		num := strings.TrimSuffix(strings.TrimSuffix(t, "N"), "M")
		if n, err := strconv.ParseInt(num, 10, 64); err == nil {
			return n, nil
		}
		if f, err := strconv.ParseFloat(num, 64); err == nil {
			return f, nil
		}
		if strings.Contains(num, "/") {
			return t, nil // a ratio; kept as text
		}
		return nil, fmt.Errorf("bad number %q", t)
	}
	return symbol(t), nil
}

func (p *ednParser) seq(end byte) ([]any, error) {
	var out []any
	for {
		p.skipSpace()
		if p.pos >= len(p.src) {
			return nil, fmt.Errorf("missing closing %q", end)
		}
		if p.src[p.pos] == end {
			p.pos++
			return out, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

func (p *ednParser) token() string {
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == '[' || c == ']' || c == '(' ||
			c == ')' || c == '{' || c == '}' || c == '"' || c == ';' {
			break
		}
		p.pos++
	}
	return string(p.src[start:p.pos])
}

func (p *ednParser) str() (string, error) {
	p.pos++ // opening quote
	var sb strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		p.pos++
		switch c {
		case '"':
			return sb.String(), nil
		case '\\':
			if p.pos >= len(p.src) {
				return "", errEOF
			}
			e := p.src[p.pos]
			p.pos++
			switch e {
			case 'n':
				sb.WriteByte('\n')
			case 't':
				sb.WriteByte('\t')
			case 'r':
				sb.WriteByte('\r')
			default:
				sb.WriteByte(e)
			}
		default:
			sb.WriteByte(c)
		}
	}
	return "", errors.New("unterminated string")
}
