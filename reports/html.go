package reports

import (
	"bufio"
	"fmt"
	"html/template"
	"io"
)

// RenderHTML writes the self-contained HTML report of r to w.
func RenderHTML(w io.Writer, r *Run) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	if err := reportTemplate.Execute(bw, buildPage(r)); err != nil {
		return fmt.Errorf("render %s: %w", HTMLFile, err)
	}
	return bw.Flush()
}

// The page sets a Content-Security-Policy that forbids every fetch: should a
// value ever slip past escaping, it still could not load or run anything.
var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2329; background: #fafbfc; }
main { max-width: 1180px; margin: 0 auto; padding: 0 16px 48px; }
header.verdict { padding: 18px 24px; color: #fff; }
header.verdict h1 { margin: 0 0 4px; font-size: 24px; }
header.valid { background: #1e7b34; } header.invalid { background: #b42318; } header.unknown { background: #a15c07; }
header.verdict a { color: #fff; }
header .sub { opacity: .92; margin: 0; }
ul.verdicts { list-style: none; padding: 0; margin: 8px 0 0; }
ul.verdicts li { margin: 2px 0; }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-weight: 600; font-size: 12px; color: #fff; }
.badge.valid { background: #1e7b34; } .badge.invalid { background: #b42318; } .badge.unknown { background: #a15c07; }
header .badge { border: 1px solid rgba(255,255,255,.7); }
code, pre { font: 12.5px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f0f2f4; padding: 8px; border-radius: 4px; max-height: 420px; overflow: auto; }
.rerun { background: rgba(0,0,0,.25); padding: 6px 10px; border-radius: 4px; margin: 10px 0 0; overflow-wrap: anywhere; }
p, li, td, th, h1, h3, h4 { overflow-wrap: anywhere; }
h2 { margin: 28px 0 8px; font-size: 19px; border-bottom: 1px solid #d8dde3; padding-bottom: 4px; }
h3 { margin: 18px 0 6px; font-size: 16px; }
table { border-collapse: collapse; margin: 6px 0; }
td, th { border: 1px solid #d8dde3; padding: 3px 7px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: #eef1f4; font-weight: 600; }
table.ops { width: 100%; table-layout: fixed; }
table.ops td:nth-child(1) { width: 5em; } table.ops td:nth-child(2), table.ops td:nth-child(3) { width: 5em; }
tr.ok td:nth-child(3) { color: #1e7b34; } tr.fail td:nth-child(3) { color: #b42318; } tr.info td:nth-child(3) { color: #a15c07; }
.problems { background: #fff4e5; border: 1px solid #f0b429; padding: 8px 14px; border-radius: 4px; }
.never, .never-applied { color: #a61b1b; font-weight: bold; }
.anomaly { background: #fff; border: 1px solid #e3c3c0; border-left: 5px solid #b42318; border-radius: 4px; padding: 8px 12px; margin: 10px 0; }
.anomaly:target { outline: 3px solid #1565c0; }
.anomaly .label { background: #b42318; color: #fff; border-radius: 3px; padding: 0 6px; margin-right: 6px; }
.anomaly .message { font-size: 15px; }
.fault { color: #5b2c83; }
.note { color: #57606a; font-size: 12.5px; }
.legend span.key { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin: 0 4px 0 12px; vertical-align: -2px; }
svg { display: block; width: 100%; height: auto; background: #fff; border: 1px solid #e1e4e8; }
svg text { font: 10px system-ui, sans-serif; fill: #444; }
svg text.row { text-anchor: end; }
svg text.tl { text-anchor: middle; fill: #666; }
svg line.tick { stroke: #eef0f2; }
svg line.base { stroke: #bbb; }
.ok { fill: #4caf50; } .fail { fill: #e5534b; } .info { fill: #f0b429; }
span.key.ok { background: #4caf50; } span.key.fail { background: #e5534b; } span.key.info { background: #f0b429; }
span.key.witness { background: #fff; border: 2px solid #111; width: 9px; height: 9px; }
rect.witness { stroke: #111; stroke-width: 1.5; }
rect:target { stroke: #1565c0; stroke-width: 4; }
rect.shade { opacity: .13; } rect.s-down { fill: #b42318; } rect.s-paused { fill: #555; } rect.s-partition { fill: #6f42c1; } rect.s-degraded { fill: #c77c02; }
rect.s-clock { fill: #1565c0; opacity: .06; } rect.s-strobe { fill: #1565c0; opacity: .18; }
rect.down { fill: #b42318; } rect.paused { fill: #777; } rect.partition { fill: #6f42c1; } rect.degraded { fill: #e0a030; } rect.clock { fill: #9cc3f0; }
rect.strobe { fill: #1565c0; opacity: .6; } rect.strobe.node0 { fill: #1565c0; } rect.strobe.node1 { fill: #e36209; } rect.strobe.node2 { fill: #2e7d32; } rect.strobe.node3 { fill: #6f42c1; } rect.strobe.node4 { fill: #b42318; } rect.strobe.node5 { fill: #00838f; } rect.strobe.node6 { fill: #795548; } rect.strobe.node7 { fill: #ad1457; } rect.action { fill: #333; } rect.maybe { opacity: .45; }
span.key.down { background: #b42318; } span.key.paused { background: #777; } span.key.partition { background: #6f42c1; } span.key.degraded { background: #e0a030; }
span.key.clock { background: #9cc3f0; } span.key.strobe { background: #1565c0; } span.key.action { background: #333; }
line.marker { stroke: #b42318; stroke-dasharray: 3 2; stroke-width: 1.2; }
text.marker { fill: #b42318; font-weight: 700; }
svg polyline, svg polyline.rate, svg polyline.step { fill: none; stroke-width: 1.5; }
polyline.rate.ok { stroke: #4caf50; } polyline.rate.fail { stroke: #e5534b; } polyline.rate.info { stroke: #f0b429; }
.node0 { stroke: #1565c0; } .node1 { stroke: #e36209; } .node2 { stroke: #2e7d32; } .node3 { stroke: #6f42c1; }
.node4 { stroke: #b42318; } .node5 { stroke: #00838f; } .node6 { stroke: #795548; } .node7 { stroke: #ad1457; }
span.key.node0 { background: #1565c0; } span.key.node1 { background: #e36209; } span.key.node2 { background: #2e7d32; } span.key.node3 { background: #6f42c1; }
span.key.node4 { background: #b42318; } span.key.node5 { background: #00838f; } span.key.node6 { background: #795548; } span.key.node7 { background: #ad1457; }
rect.dot { opacity: .75; }
rect.hold { fill: #1565c0; opacity: .16; } rect.hold.past { fill: #b42318; opacity: .3; } rect.hold.rest { fill: #1565c0; opacity: .7; } rect.lease { fill: #111; }
rect.late { stroke: #b42318; stroke-width: 2; stroke-dasharray: 2 1; }
span.key.hold { background: rgba(21,101,192,.25); } span.key.lease { background: #111; width: 3px; } span.key.hold.past { background: rgba(180,35,24,.4); }
line.marker.leader { stroke-dasharray: none; stroke-width: .8; }
input.colour-by { margin: 0 4px 0 12px; vertical-align: -2px; }
.legend.by-node { display: none; }
#colour-node:checked ~ #chart-timeline .legend.by-node { display: block; }
#colour-node:checked ~ #chart-timeline .legend.by-outcome { display: none; }
#colour-node:checked ~ #chart-timeline rect.op.nd0 { fill: #1565c0; } #colour-node:checked ~ #chart-timeline rect.op.nd1 { fill: #e36209; }
#colour-node:checked ~ #chart-timeline rect.op.nd2 { fill: #2e7d32; } #colour-node:checked ~ #chart-timeline rect.op.nd3 { fill: #6f42c1; }
#colour-node:checked ~ #chart-timeline rect.op.nd4 { fill: #b42318; } #colour-node:checked ~ #chart-timeline rect.op.nd5 { fill: #00838f; }
#colour-node:checked ~ #chart-timeline rect.op.nd6 { fill: #795548; } #colour-node:checked ~ #chart-timeline rect.op.nd7 { fill: #ad1457; }
#colour-node:checked ~ #chart-timeline rect.op.mixed, #colour-node:checked ~ #chart-timeline rect.op.nonode { fill: #999; }
#colour-node:checked ~ #chart-timeline rect.op.fail { opacity: .45; }
</style>
</head>
<body>
<header class="verdict {{.Verdict.Class}}" id="verdict">
<h1>{{.Verdict.Word}}: {{.Verdict.Sentence}}</h1>
{{- if .Headline}}<p class="headline" id="headline">{{.Headline}}</p>{{end}}
{{- with .Scenario}}<p class="scenario" id="scenario" data-matched="{{if .Known}}{{.Matched}}{{end}}">Scenario <b>{{.Name}}</b>, {{.Role}} (expects {{.Expect}}): {{if not .Known}}not judged{{else if .Matched}}matched{{else}}<b>did not match</b>{{end}}.</p>{{end}}
<p class="sub">{{.Target}} / {{.Workload}} · seed <b id="seed">{{.Seed}}</b> · started {{.Start}} · run {{.RunID}}</p>
<ul class="verdicts">
{{- range $i, $c := .Checkers}}
<li><span class="badge {{$c.Verdict.Class}}">{{$c.Verdict.Word}}</span> <a href="#checker-{{$i}}"><b>{{$c.Name}}</b></a>: {{$c.Summary}}</li>
{{- end}}
</ul>
<p class="rerun">Rerun: <code id="rerun">{{.Rerun}}</code></p>
</header>
<main>
{{- if or .Problems .Warnings}}
<div class="problems">
{{- range .Problems}}<p>{{.}}</p>{{end}}
{{- range .Warnings}}<p>Warning: {{.}}</p>{{end}}
</div>
{{- end}}

<h2>Run</h2>
<table class="counts"><tr>{{range .Counts}}<th>{{.K}}</th>{{end}}</tr><tr>{{range .Counts}}<td>{{.V}}</td>{{end}}</tr></table>
{{- if .Faults}}
<table class="counts faults" id="fault-tally"><tr><th>fault kind</th><th>planned</th><th>applied</th><th>failed</th><th>unknown</th><th>heals</th></tr>
{{- range .Faults}}<tr data-kind="{{.Kind}}"{{if .Never}} class="never"{{end}}><td>{{.Kind}}</td><td>{{.Planned}}</td><td>{{.Applied}}</td><td>{{.Failed}}</td><td>{{.Unknown}}</td><td>{{.Heal}}</td></tr>{{end}}
</table>
{{- range .Faults}}{{if .Never}}<p class="never-applied">No {{.Kind}} fault was applied: this run says nothing about {{.Kind}} faults.</p>{{end}}{{end}}
{{- end}}

<h2>Timeline</h2>
<p class="note">One time axis for every plot: seconds since the run started. Shaded bands are fault periods; red dashed lines mark anomalies (click to jump to the explanation). Hover a mark for its details.</p>
{{- if .NodeToggle}}
<input type="radio" name="colour-by" id="colour-outcome" class="colour-by" checked><label for="colour-outcome">Colour operations by outcome</label>
<input type="radio" name="colour-by" id="colour-node" class="colour-by"><label for="colour-node">by the node they went to</label>
{{- end}}
{{range .Charts}}{{template "chart" .}}{{end}}

<h2 id="anomalies">Verdicts and anomalies</h2>
{{- if not .Checkers}}<p>No checker results.</p>{{end}}
{{- range $i, $c := .Checkers}}
<section class="checker" id="checker-{{$i}}">
<h3><span class="badge {{$c.Verdict.Class}}">{{$c.Verdict.Word}}</span> {{$c.Name}}</h3>
<p>{{$c.Summary}}</p>
{{- if $c.Error}}<p>{{$c.ErrorIntro}}</p><pre class="error">{{$c.Error}}</pre>{{end}}
{{- if $c.Counts}}<table><tr>{{range $c.Counts}}<th>{{.K}}</th>{{end}}</tr><tr>{{range $c.Counts}}<td>{{.V}}</td>{{end}}</tr></table>{{end}}
{{- if $c.AnomalyCounts}}<p>Anomalies by kind: {{range $j, $a := $c.AnomalyCounts}}{{if $j}}, {{end}}{{$a.K}} × {{$a.V}}{{end}}</p>{{end}}
{{- range $c.Anomalies}}
<div class="anomaly" id="{{.ID}}">
<h4><span class="label">{{.Label}}</span>{{.Kind}}</h4>
<p class="message">{{.Message}}</p>
{{- if .Processes}}<p>Processes: {{.Processes}}{{if .Nodes}} · nodes: {{.Nodes}}{{end}}</p>{{else if .Nodes}}<p>Nodes: {{.Nodes}}</p>{{end}}
{{- if .Fault}}<p class="fault">Last fault before it: {{.Fault}}</p>{{end}}
{{- if .Ops}}
<table class="ops"><tr><th>record</th><th>process</th><th>type</th><th>f</th><th>key</th><th>value</th><th>error</th><th>time</th><th>node</th></tr>
{{- range .Ops}}
<tr class="{{.Class}}"><td>{{if .Href}}<a href="{{.Href}}" title="show on the timeline">#{{.Index}}</a>{{else}}#{{.Index}}{{end}}</td><td>{{.Process}}</td><td>{{.Type}}</td><td>{{.F}}</td><td>{{.Key}}</td><td><code>{{.Value}}</code></td><td>{{.Error}}</td><td>{{.Time}}</td><td>{{.Node}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- if .Visual}}<p><a class="visual" href="./{{.Visual}}">Open the checker's visualization of this anomaly</a> ({{.Visual}})</p>{{end}}
{{- if .Data}}<details><summary>Checker detail</summary><pre>{{.Data}}</pre></details>{{end}}
</div>
{{- end}}
{{- if $c.Unlisted}}<p class="note">… and {{$c.Unlisted}} more anomalies, counted but not listed.</p>{{end}}
</section>
{{- end}}

<h2>Files</h2>
<ul>
<li><a href="history.jsonl">history.jsonl</a>: every operation, one JSON record per line</li>
<li><a href="results.json">results.json</a>: the checkers' verdicts · <a href="config.json">config.json</a>: the run's configuration · <a href="junit.xml">junit.xml</a></li>
{{- range .Visuals}}<li><a href="./{{.}}">{{.}}</a>: checker visualization</li>{{end}}
{{- if .NodeLogs}}<li>Node logs: {{range $i, $l := .NodeLogs}}{{if $i}} · {{end}}<a href="./{{$l}}">{{$l}}</a>{{end}}</li>{{end}}
</ul>

<h2>Settings</h2>
<table>{{range .Settings}}<tr><th>{{.K}}</th><td>{{.V}}</td></tr>{{end}}</table>
{{- if .Params}}
<h3>Parameters</h3>
<table>{{range .Params}}<tr><th>--{{.K}}</th><td>{{.V}}</td></tr>{{end}}</table>
{{- end}}
</main>
</body>
</html>
{{define "chart"}}
<section class="chart" id="chart-{{.ID}}">
<h3>{{.Title}}</h3>
{{- if .Empty}}<p class="note">{{.Empty}}</p>{{else}}
<p class="legend by-outcome">{{range .Legend}}<span class="key {{.Class}}"></span>{{.Text}}{{end}}</p>
{{- if .NodeLegend}}<p class="legend by-node">Colour by node: {{range .NodeLegend}}<span class="key {{.Class}}"></span>{{.Text}}{{end}}</p>{{end}}
{{- if .Note}}<p class="note">{{.Note}}</p>{{end}}
<svg viewBox="0 0 1100 {{.H}}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{{.Title}}">
{{- range .Ticks}}<line class="tick" x1="{{.X}}" x2="{{.X}}" y1="{{$.GridTop}}" y2="{{$.GridBot}}"/><text class="tl" x="{{.X}}" y="{{$.TickY}}">{{.Label}}</text>{{end}}
<line class="base" x1="100" x2="1090" y1="{{.GridBot}}" y2="{{.GridBot}}"/>
{{- range .Bands}}<rect class="{{.Class}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect>{{end}}
{{- range .YTicks}}<line class="tick" x1="100" x2="1090" y1="{{.}}" y2="{{.}}"/>{{end}}
{{- range .Holds}}<rect class="{{.Class}}" data-lane="{{.Lane}}" data-kind="{{.Kind}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect>{{end}}
{{- range .Labels}}<text class="row" x="{{.X}}" y="{{.Y}}">{{.Text}}</text>{{end}}
{{- range .YLabels}}<text class="row" x="{{.X}}" y="{{.Y}}">{{.Text}}</text>{{end}}
{{- range .Lines}}<polyline class="{{.Class}}" points="{{.Points}}"><title>{{.Title}}</title></polyline>{{end}}
{{- range .Rects}}
{{if .Href}}<a href="{{.Href}}">{{end}}<rect{{if .ID}} id="{{.ID}}"{{end}} class="{{.Class}}"{{if .Lane}} data-lane="{{.Lane}}"{{end}}{{if .Kind}} data-kind="{{.Kind}}"{{end}} x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}">{{if .Title}}<title>{{.Title}}</title>{{end}}</rect>{{if .Href}}</a>{{end}}
{{- end}}
{{- range .Markers}}<a href="{{.Href}}" class="anomaly-mark"><line class="marker" x1="{{.X}}" x2="{{.X}}" y1="{{.Top}}" y2="{{$.GridBot}}"/>{{if .Lead}}<line class="marker leader" x1="{{.X}}" x2="{{.LX}}" y1="{{.Top}}" y2="{{.Top}}"/>{{end}}<text class="marker" x="{{.LX}}" y="{{.LY}}" data-row="{{.Row}}">{{.Label}}</text><title>{{.Title}}</title></a>{{end}}
</svg>
{{- end}}
</section>
{{end}}`))
