package matrix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Paths are the files Write leaves.
type Paths struct {
	HTML, Markdown, JSON string
}

// Write writes the page to html, and the Markdown table and the JSON beside
// it (the same name with .md and .json). Links to the cells' reports are
// relative to the page's directory, so the page and the store move
// together.
func Write(r *Result, html string) (Paths, error) {
	base := strings.TrimSuffix(html, filepath.Ext(html))
	p := Paths{HTML: html, Markdown: base + ".md", JSON: base + ".json"}
	if err := os.MkdirAll(filepath.Dir(html), 0o755); err != nil {
		return p, fmt.Errorf("matrix page: %w", err)
	}
	var page, md bytes.Buffer
	if err := RenderHTML(&page, r, filepath.Dir(html)); err != nil {
		return p, err
	}
	RenderMarkdown(&md, r)
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return p, fmt.Errorf("matrix json: %w", err)
	}
	for path, b := range map[string][]byte{p.HTML: page.Bytes(), p.Markdown: md.Bytes(), p.JSON: append(js, '\n')} {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return p, fmt.Errorf("matrix page: %w", err)
		}
	}
	return p, nil
}

// title is the matrix's heading.
func title(r *Result) string {
	switch r.Matrix {
	case "locks":
		return "Distributed locks under faults"
	case "ids":
		return "ID generators under faults"
	}
	return "Matrix " + r.Matrix
}

// offRuntime is the short text of a cell whose row cannot run on the
// runtime at all.
const offRuntime = "not on this runtime"

// mark is a cell's short text: the verdict and the anomaly kinds.
func mark(c Cell) string {
	if c.OffRuntime {
		return offRuntime
	}
	s := c.Verdict
	if len(c.Kinds) > 0 {
		s += " (" + strings.Join(c.Kinds, ", ") + ")"
	}
	return s
}

// RenderMarkdown writes one table per runtime: rows = implementations,
// columns = faults, each cell the verdict and the anomaly kinds; then each
// row's line of explanation.
func RenderMarkdown(w io.Writer, r *Result) {
	fmt.Fprintf(w, "## %s: `chaos matrix %s`\n\n", title(r), r.Matrix)
	if len(r.Command) > 0 {
		fmt.Fprintf(w, "    %s\n\n", strings.Join(r.Command, " "))
	}
	fmt.Fprintf(w, "%d cells, %s wall time, %d at a time", len(r.Cells), (time.Duration(r.ElapsedS * float64(time.Second))).Round(time.Second), r.Parallel)
	if r.LoadStart != "" {
		fmt.Fprintf(w, ", load average %s at the start, %s at the end", r.LoadStart, r.LoadEnd)
	}
	fmt.Fprintf(w, " (%s).\n\n", r.Started.UTC().Format("2006-01-02 15:04 UTC"))
	for _, rt := range r.Runtimes {
		if len(r.Runtimes) > 1 {
			fmt.Fprintf(w, "Runtime `%s`:\n\n", rt)
		}
		fmt.Fprintf(w, "| %s |", r.Matrix)
		for _, f := range r.Faults {
			fmt.Fprintf(w, " %s |", f)
		}
		fmt.Fprint(w, "\n|---|")
		for range r.Faults {
			fmt.Fprint(w, "---|")
		}
		fmt.Fprintln(w)
		for _, row := range r.Rows {
			fmt.Fprintf(w, "| %s |", row.Name)
			for _, f := range r.Faults {
				c, _ := r.Cell(row.Name, f, rt)
				s := mark(c)
				if c.Verdict == "invalid" {
					s = "**" + s + "**"
				}
				fmt.Fprintf(w, " %s |", strings.ReplaceAll(s, "|", `\|`))
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
		// Why a row is not on this runtime, once per row.
		var off bool
		for _, row := range r.Rows {
			for _, f := range r.Faults {
				if c, _ := r.Cell(row.Name, f, rt); c.OffRuntime {
					fmt.Fprintf(w, "- `%s` %s\n", row.Name, strings.ReplaceAll(c.Witness, "|", `\|`))
					off = true
					break
				}
			}
		}
		if off {
			fmt.Fprintln(w)
		}
	}
	for _, row := range r.Rows {
		fmt.Fprintf(w, "- `%s`: %s\n", row.Name, row.Doc)
	}
	fmt.Fprintln(w)
}

// RenderHTML writes the self-contained page; dir is the page's directory,
// against which report links are made relative.
func RenderHTML(w io.Writer, r *Result, dir string) error {
	type cellView struct {
		Cell
		Link  string
		Class string
		Mark  string
	}
	type rowView struct {
		Row
		Cells []cellView
	}
	type table struct {
		Runtime string
		Rows    []rowView
	}
	var tables []table
	for _, rt := range r.Runtimes {
		t := table{Runtime: rt}
		for _, row := range r.Rows {
			rv := rowView{Row: row}
			for _, f := range r.Faults {
				c, _ := r.Cell(row.Name, f, rt)
				cv := cellView{Cell: c, Class: strings.ReplaceAll(c.Verdict, "/", ""), Mark: c.Verdict}
				if c.OffRuntime {
					cv.Mark = offRuntime
				}
				if c.Report != "" {
					if rel, err := filepath.Rel(dir, c.Report); err == nil {
						cv.Link = filepath.ToSlash(rel)
					} else {
						cv.Link = filepath.ToSlash(c.Report)
					}
				}
				rv.Cells = append(rv.Cells, cv)
			}
			t.Rows = append(t.Rows, rv)
		}
		tables = append(tables, t)
	}
	data := struct {
		*Result
		Title   string
		Tables  []table
		Elapsed string
		Started string
		Cmd     string
	}{r, title(r), tables, (time.Duration(r.ElapsedS * float64(time.Second))).Round(time.Second).String(),
		r.Started.UTC().Format("2006-01-02 15:04:05 UTC"), strings.Join(r.Command, " ")}
	return pageTemplate.Execute(w, data)
}

var pageTemplate = template.Must(template.New("matrix").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}: chaos matrix {{.Matrix}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:.4em .6em;vertical-align:top;max-width:22em}
th{background:#f4f4f4;text-align:left}
td.valid{background:#e6f4ea}td.invalid{background:#fde7e7}td.unknown{background:#fff4d6}
td.na{background:#f4f4f4;color:#888}td.error{background:#f0e0f8}
.v{font-weight:600}.w{font-size:12px;color:#444;display:block;margin-top:.2em;overflow-wrap:anywhere}
.doc{font-size:12px;color:#555;font-weight:normal}
code{background:#f4f4f4;padding:0 .2em}
</style></head><body>
<h1>{{.Title}}</h1>
<p><code>{{.Cmd}}</code></p>
<p>{{len .Cells}} cells, {{.Elapsed}} wall time, {{.Parallel}} at a time, started {{.Started}}{{if .LoadStart}}; load average {{.LoadStart}} at the start, {{.LoadEnd}} at the end{{end}}.{{if .Interrupted}} <strong>Interrupted: cells not run are marked error.</strong>{{end}}</p>
<p>Each cell is one short stored run with a fixed seed; the link opens its report. The matrix is a measurement: <em>invalid</em> is a finding about that implementation under that fault, <em>unknown</em> means the run could not decide (never counted as valid), <em>n/a</em> that the fault does not apply there.</p>
{{range .Tables}}<h2>Runtime <code>{{.Runtime}}</code></h2>
<table><thead><tr><th>implementation</th>{{range $.Faults}}<th>{{.}}</th>{{end}}</tr></thead><tbody>
{{range .Rows}}<tr><th>{{.Name}}<br><span class="doc">{{.Doc}}</span></th>{{range .Cells}}<td class="{{.Class}}" data-verdict="{{.Verdict}}" data-fault="{{.Fault}}">{{if .Link}}<a class="v" href="{{.Link}}">{{.Mark}}</a>{{else}}<span class="v">{{.Mark}}</span>{{end}}{{if .Witness}}<span class="w">{{.Witness}}</span>{{end}}</td>{{end}}</tr>
{{end}}</tbody></table>
{{end}}</body></html>
`))
