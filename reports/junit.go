package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// JUnit's shape as CI systems (GitHub, GitLab, Jenkins) read it: one suite
// per run, one test case per checker. An invalid verdict is a failure; an
// unknown one is an error, because unknown is never a pass.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure"`
	Error     *junitProblem `xml:"error"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// maxJUnitAnomalies bounds the witnesses written per test case; the report
// has them all.
const maxJUnitAnomalies = 20

// RenderJUnit writes junit.xml for r to w.
func RenderJUnit(w io.Writer, r *Run) error {
	h := &r.History.Header
	elapsed := strconv.FormatFloat(time.Duration(history.EndTime(r.History.Ops)).Seconds(), 'f', 3, 64)
	class := "chaos." + clean(h.Target, 100) + "." + clean(h.Workload, 100)
	s := junitSuite{Name: class, Time: elapsed, Timestamp: h.Start.UTC().Format("2006-01-02T15:04:05"),
		Properties: []junitProperty{
			{"run", clean(h.RunID, 200)}, {"seed", strconv.FormatInt(h.Seed, 10)},
			{"rerun", Rerun(h, r.Config)}, {"report", HTMLFile},
		}}
	if r.Results == nil {
		s.Cases = append(s.Cases, junitCase{Name: "verdict", ClassName: class, Time: elapsed,
			Error: &junitProblem{Type: "unknown", Message: "the run was never judged",
				Text: strings.Join(r.Problems, "\n")}})
	} else {
		for _, name := range r.Results.Names() {
			s.Cases = append(s.Cases, junitCaseFor(class, name, r.Results.Checkers[name], elapsed))
		}
		if len(s.Cases) == 0 {
			s.Cases = append(s.Cases, junitCase{Name: "verdict", ClassName: class, Time: elapsed,
				Error: &junitProblem{Type: "unknown", Message: "no checker ran, so nothing was shown"}})
		}
	}
	for _, c := range s.Cases {
		s.Tests++
		if c.Failure != nil {
			s.Failures++
		}
		if c.Error != nil {
			s.Errors++
		}
	}
	doc := junitSuites{Name: "chaos", Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Time: elapsed, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write %s: %w", JUnitFile, err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("render %s: %w", JUnitFile, err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func junitCaseFor(class, name string, res checkers.Result, elapsed string) junitCase {
	c := junitCase{Name: clean(name, 200), ClassName: class, Time: elapsed, SystemOut: clean(res.Summary, maxCell)}
	switch res.Valid {
	case checkers.Valid:
	case checkers.Invalid:
		var b strings.Builder
		fmt.Fprintf(&b, "%s\n", clean(res.Summary, maxCell))
		for i := range res.Anomalies {
			if i == maxJUnitAnomalies {
				fmt.Fprintf(&b, "... %d more listed in %s\n", len(res.Anomalies)-i, HTMLFile)
				break
			}
			an := &res.Anomalies[i]
			fmt.Fprintf(&b, "\n[%s] %s\n", clean(an.Kind, 200), clean(an.Message, maxCell))
			for j := range an.Ops {
				fmt.Fprintf(&b, "  %s\n", clean(an.Ops[j].String(), maxCell))
			}
			if an.Fault != nil {
				fmt.Fprintf(&b, "  last fault before it: %s\n", describeFault(an.Fault))
			}
		}
		c.Failure = &junitProblem{Type: "invalid", Message: clean(res.Summary, 500), Text: b.String()}
	default:
		c.Error = &junitProblem{Type: "unknown", Message: clean("unknown: "+res.Summary, 500), Text: clean(res.Error, 20000)}
	}
	return c
}
