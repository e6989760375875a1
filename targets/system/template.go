package system

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// A placeholder is {name} or {name:arg} (or {name:arg1:arg2}); {{ and }}
// stand for literal braces.
type placeholder struct {
	name string
	// args is the number of ':'-separated arguments; a port argument comes
	// last and must be one of the node's ports.
	args int
	port bool
	doc  string
}

// nodeVars are what a node's command line may use.
var nodeVars = []placeholder{
	{name: "name", doc: "the node's name (n1, n2, ...)"},
	{name: "index", doc: "the node's number, from 1"},
	{name: "nodes", doc: "every node's name, comma-separated"},
	{name: "listen", args: 1, port: true, doc: "host:port this node binds for PORT"},
	{name: "port", args: 1, port: true, doc: "the port number of PORT alone"},
	{name: "peers", args: 1, port: true, doc: "host:port of PORT on every other node, comma-separated, through the fault layer"},
	{name: "peer-map", args: 1, port: true, doc: "NAME=host:port of PORT on every other node, comma-separated, through the fault layer"},
	{name: "peer", args: 2, port: true, doc: "host:port of PORT on node NODE, through the fault layer"},
	{name: "data", doc: "the node's data directory (kept across restarts)"},
	{name: "dir", doc: "the system file's directory"},
	{name: "bin", doc: "the build's output directory"},
}

// clientVars are what a client command and its environment may use.
var clientVars = []placeholder{
	{name: "node", doc: "the node this client talks to"},
	{name: "nodes", doc: "every node's name, comma-separated"},
	{name: "addr", args: 1, port: true, doc: "host:port of PORT on the client's node, through the fault layer"},
	{name: "endpoint", doc: "the client's endpoint in the fault layer (c0, c1, ...)"},
	{name: "workload", doc: "the workload's name"},
	{name: "dir", doc: "the system file's directory"},
	{name: "bin", doc: "the build's output directory"},
}

// envVars are what a node's environment may use: the environment is fixed
// before the runtime hands out addresses, so addresses go on the command line.
var envVars = []placeholder{
	{name: "name", doc: "the node's name (n1, n2, ...)"},
	{name: "index", doc: "the node's number, from 1"},
	{name: "nodes", doc: "every node's name, comma-separated"},
	{name: "dir", doc: "the system file's directory"},
	{name: "bin", doc: "the build's output directory"},
}

// buildVars are what the build command and a node's program may use.
var buildVars = []placeholder{
	{name: "dir", doc: "the system file's directory"},
	{name: "bin", doc: "the build's output directory"},
}

// segment is a literal (name empty) or a placeholder with its arguments.
type segment struct {
	lit  string
	name string
	args []string
}

func parseTemplate(s string) ([]segment, error) {
	var out []segment
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '}':
			return nil, errors.New("a lone '}' (write }} for a literal brace)")
		case c == '{':
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				return nil, errors.New("a '{' without its '}' (write {{ for a literal brace)")
			}
			if lit.Len() > 0 {
				out = append(out, segment{lit: lit.String()})
				lit.Reset()
			}
			parts := strings.Split(s[i+1:i+j], ":")
			out = append(out, segment{name: parts[0], args: parts[1:]})
			i += j
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		out = append(out, segment{lit: lit.String()})
	}
	return out, nil
}

// checkTemplate reports an unknown placeholder, a wrong number of
// arguments or a port that the nodes do not declare.
func checkTemplate(s string, vars []placeholder, ports []string) error {
	segs, err := parseTemplate(s)
	if err != nil {
		return err
	}
	for _, sg := range segs {
		if sg.name == "" && sg.lit != "" {
			continue
		}
		var v *placeholder
		for i := range vars {
			if vars[i].name == sg.name {
				v = &vars[i]
			}
		}
		if v == nil {
			return fmt.Errorf("unknown placeholder {%s} (known here: %s)", strings.Join(append([]string{sg.name}, sg.args...), ":"), knownVars(vars))
		}
		if len(sg.args) != v.args {
			return fmt.Errorf("{%s} takes %s", sg.name, usage(*v))
		}
		if v.port && !slices.Contains(ports, sg.args[len(sg.args)-1]) {
			return fmt.Errorf("{%s}: port %q is not one of nodes.ports (%s)", strings.Join(append([]string{sg.name}, sg.args...), ":"), sg.args[len(sg.args)-1], strings.Join(ports, ", "))
		}
	}
	return nil
}

func usage(v placeholder) string {
	switch v.args {
	case 0:
		return "no argument"
	case 1:
		return "one argument: {" + v.name + ":PORT}"
	}
	return "two arguments: {" + v.name + ":NODE:PORT}"
}

func knownVars(vars []placeholder) string {
	var ks []string
	for _, v := range vars {
		k := v.name
		switch v.args {
		case 1:
			k += ":PORT"
		case 2:
			k += ":NODE:PORT"
		}
		ks = append(ks, "{"+k+"}")
	}
	return strings.Join(ks, " ")
}

// expand fills a checked template in. lookup returns a placeholder's value.
func expand(s string, lookup func(name string, args []string) (string, error)) (string, error) {
	segs, err := parseTemplate(s)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, sg := range segs {
		if sg.name == "" {
			b.WriteString(sg.lit)
			continue
		}
		v, err := lookup(sg.name, sg.args)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	return b.String(), nil
}
