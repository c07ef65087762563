package cli

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vswitchd/vswitchd/control"
)

// Topology files (vswitchctl lab up FILE): YAML, read here into the API's
// control.Topology with the line of every object and field (Lines), so an
// error names FILE:LINE. The schema is examples/topology.schema.json;
// unknown fields, wrong types and names given twice are errors here, the
// rest (references, addresses, overlaps, impairment values, conflicts
// with the running switch) the daemon's, which names the line too.

// readTopology reads and parses the topology file at path.
func readTopology(path string) (control.Topology, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return control.Topology{}, fmt.Errorf("read topology: %w", err)
	}
	return parseTopology(path, b)
}

// tparser walks a topology document.
type tparser struct {
	file  string
	lines map[string]int
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseTopology parses a topology file's contents; file names it in
// errors.
func parseTopology(file string, data []byte) (control.Topology, error) {
	p := &tparser{file: file, lines: map[string]int{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			return control.Topology{}, fmt.Errorf("%s:%s: %s", file, m[1], m[2])
		}
		return control.Topology{}, fmt.Errorf("%s: %s", file, msg)
	}
	if len(doc.Content) == 0 {
		return control.Topology{}, fmt.Errorf("%s: empty topology file (want at least name:)", file)
	}
	t := control.Topology{File: file, Lines: p.lines}
	root := doc.Content[0]
	err := p.mapping(root, "", "the topology", map[string]func(*yaml.Node, string) error{
		"name": func(n *yaml.Node, path string) error { return p.str(n, &t.Name) },
		"prefix": func(n *yaml.Node, path string) error {
			var s string
			if err := p.str(n, &s); err != nil {
				return err
			}
			t.Prefix = &s
			return nil
		},
		"networks": func(n *yaml.Node, path string) error {
			return p.named(n, path, "network", func(name string, v *yaml.Node, path string) error {
				net := control.LabNetwork{Name: name}
				err := p.mapping(v, path, "network "+strconv.Quote(name), map[string]func(*yaml.Node, string) error{
					"subnet":   func(n *yaml.Node, _ string) error { return p.str(n, &net.Subnet) },
					"gateway":  func(n *yaml.Node, _ string) error { return p.str(n, &net.Gateway) },
					"vlan":     func(n *yaml.Node, _ string) error { return p.integer(n, &net.VLAN) },
					"internal": func(n *yaml.Node, _ string) error { return p.boolean(n, &net.Internal) },
					"ip_range": func(n *yaml.Node, _ string) error { return p.str(n, &net.IPRange) },
					"mtu":      func(n *yaml.Node, _ string) error { return p.integer(n, &net.MTU) },
					"vxlan": func(n *yaml.Node, path string) error {
						vx := &control.LabVXLAN{}
						net.VXLAN = vx
						return p.mapping(n, path, "vxlan of network "+strconv.Quote(name), map[string]func(*yaml.Node, string) error{
							"vni":   func(n *yaml.Node, _ string) error { return p.integer(n, &vx.VNI) },
							"peers": func(n *yaml.Node, path string) error { return p.strList(n, path, &vx.Peers) },
							"port":  func(n *yaml.Node, _ string) error { return p.integer(n, &vx.Port) },
							"local": func(n *yaml.Node, _ string) error { return p.str(n, &vx.Local) },
						})
					},
					"icc": func(n *yaml.Node, _ string) error {
						var b bool
						err := p.boolean(n, &b)
						net.ICC = &b
						return err
					},
				})
				t.Networks = append(t.Networks, net)
				return err
			})
		},
		"endpoints": func(n *yaml.Node, path string) error {
			return p.named(n, path, "endpoint", func(name string, v *yaml.Node, path string) error {
				e, err := p.endpoint(name, v, path)
				t.Endpoints = append(t.Endpoints, e)
				return err
			})
		},
		"ports": func(n *yaml.Node, path string) error {
			return p.named(n, path, "port", func(name string, v *yaml.Node, path string) error {
				pt := control.LabPort{Interface: name}
				err := p.mapping(v, path, "port "+strconv.Quote(name), map[string]func(*yaml.Node, string) error{
					"mode":   func(n *yaml.Node, _ string) error { return p.str(n, &pt.Mode) },
					"vlan":   func(n *yaml.Node, _ string) error { return p.integer(n, &pt.VLAN) },
					"vlans":  func(n *yaml.Node, _ string) error { return p.vlanList(n, &pt.VLANs) },
					"native": func(n *yaml.Node, _ string) error { return p.integer(n, &pt.Native) },
				})
				t.Ports = append(t.Ports, pt)
				return err
			})
		},
		"uplink": func(n *yaml.Node, path string) error {
			u := &control.LabUplink{}
			t.Uplink = u
			return p.mapping(n, path, "the uplink", map[string]func(*yaml.Node, string) error{
				"interface": func(n *yaml.Node, _ string) error { return p.str(n, &u.Interface) },
				"address":   func(n *yaml.Node, _ string) error { return p.str(n, &u.Address) },
				"gateway":   func(n *yaml.Node, _ string) error { return p.str(n, &u.Gateway) },
			})
		},
		"links": func(n *yaml.Node, path string) error {
			return p.list(n, path, func(i int, v *yaml.Node, path string) error {
				l, err := p.link(v, path)
				t.Links = append(t.Links, l)
				return err
			})
		},
	})
	if err != nil {
		return control.Topology{}, err
	}
	if t.Name == "" {
		return control.Topology{}, p.errf(root, "the topology has no name: (the lab's name)")
	}
	return t, nil
}

func (p *tparser) endpoint(name string, v *yaml.Node, path string) (control.LabEndpoint, error) {
	e := control.LabEndpoint{Name: name}
	err := p.mapping(v, path, "endpoint "+strconv.Quote(name), map[string]func(*yaml.Node, string) error{
		"networks": func(n *yaml.Node, path string) error {
			return p.list(n, path, func(i int, v *yaml.Node, path string) error {
				var a control.LabAttachment
				if v.Kind == yaml.ScalarNode {
					err := p.str(v, &a.Network)
					e.Networks = append(e.Networks, a)
					return err
				}
				err := p.mapping(v, path, "a network of endpoint "+strconv.Quote(name), map[string]func(*yaml.Node, string) error{
					"network": func(n *yaml.Node, _ string) error { return p.str(n, &a.Network) },
					"ip":      func(n *yaml.Node, _ string) error { return p.str(n, &a.IP) },
					"aliases": func(n *yaml.Node, path string) error { return p.strList(n, path, &a.Aliases) },
				})
				if err == nil && a.Network == "" {
					err = p.errf(v, "a network of endpoint %q has no network:", name)
				}
				e.Networks = append(e.Networks, a)
				return err
			})
		},
		"publish":     func(n *yaml.Node, path string) error { return p.strList(n, path, &e.Publish) },
		"dns":         func(n *yaml.Node, path string) error { return p.strList(n, path, &e.DNS) },
		"extra_hosts": func(n *yaml.Node, path string) error { return p.strList(n, path, &e.ExtraHosts) },
		"hostname":    func(n *yaml.Node, _ string) error { return p.str(n, &e.Hostname) },
		"restart":     func(n *yaml.Node, _ string) error { return p.str(n, &e.Restart) },
		"cmd": func(n *yaml.Node, path string) error {
			if n.Kind == yaml.ScalarNode {
				var s string
				if err := p.str(n, &s); err != nil {
					return err
				}
				e.Cmd = []string{"sh", "-c", s}
				return nil
			}
			return p.strList(n, path, &e.Cmd)
		},
		"env": func(n *yaml.Node, path string) error {
			if n.Kind == yaml.SequenceNode {
				return p.strList(n, path, &e.Env)
			}
			return p.named(n, path, "variable", func(k string, v *yaml.Node, _ string) error {
				var s string
				err := p.str(v, &s)
				e.Env = append(e.Env, k+"="+s)
				return err
			})
		},
		"trunk": func(n *yaml.Node, path string) error {
			tr := &control.LabTrunk{}
			e.Trunk = tr
			return p.mapping(n, path, "the trunk of endpoint "+strconv.Quote(name), map[string]func(*yaml.Node, string) error{
				"vlans":  func(n *yaml.Node, _ string) error { return p.vlanList(n, &tr.VLANs) },
				"native": func(n *yaml.Node, _ string) error { return p.integer(n, &tr.Native) },
			})
		},
	})
	return e, err
}

// linkFields are the settings a link takes, besides what it names.
var linkFields = []string{"direction", "delay", "jitter", "distribution", "loss", "duplicate", "corrupt", "reorder", "gap", "rate", "burst", "limit", "seed"}

func (p *tparser) link(v *yaml.Node, path string) (control.LabLink, error) {
	var l control.LabLink
	fields := map[string]func(*yaml.Node, string) error{
		"endpoint": func(n *yaml.Node, _ string) error { return p.str(n, &l.Endpoint) },
		"network":  func(n *yaml.Node, _ string) error { return p.str(n, &l.Network) },
		"port":     func(n *yaml.Node, _ string) error { return p.str(n, &l.Port) },
	}
	set := map[string]**string{
		"delay": &l.Delay, "jitter": &l.Jitter, "distribution": &l.Distribution, "loss": &l.Loss,
		"duplicate": &l.Duplicate, "corrupt": &l.Corrupt, "reorder": &l.Reorder, "gap": &l.Gap,
		"rate": &l.Rate, "burst": &l.Burst, "limit": &l.Limit, "seed": &l.Seed,
	}
	for _, f := range linkFields {
		fields[f] = func(n *yaml.Node, _ string) error {
			var s string
			if err := p.str(n, &s); err != nil {
				return err
			}
			if f == "direction" {
				l.Direction = s
			} else {
				*set[f] = &s
			}
			return nil
		}
	}
	err := p.mapping(v, path, "a link", fields)
	return l, err
}

// errf returns "FILE:LINE: message" for node n.
func (p *tparser) errf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.file, n.Line, fmt.Sprintf(format, args...))
}

// resolve follows an alias (*anchor).
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// mapping reads a mapping node whose keys must be among fields, calling
// each field's function with its value and path. A null value is an empty
// mapping.
func (p *tparser) mapping(n *yaml.Node, path, what string, fields map[string]func(*yaml.Node, string) error) error {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return p.errf(n, "%s: want a mapping of fields", what)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return p.errf(k, "%s: a field name must be a string", what)
		}
		f, ok := fields[k.Value]
		if !ok {
			names := make([]string, 0, len(fields))
			for name := range fields {
				names = append(names, name)
			}
			slices.Sort(names)
			return p.errf(k, "unknown field %q in %s (want %s)", k.Value, what, strings.Join(names, ", "))
		}
		if seen[k.Value] {
			return p.errf(k, "field %q given twice in %s", k.Value, what)
		}
		seen[k.Value] = true
		sub := join(path, k.Value)
		p.lines[sub] = k.Line
		if err := f(v, sub); err != nil {
			return err
		}
	}
	return nil
}

// named reads a mapping of names to objects (networks, endpoints, ports),
// refusing a name given twice.
func (p *tparser) named(n *yaml.Node, path, what string, f func(name string, v *yaml.Node, path string) error) error {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return p.errf(n, "%s: want a mapping of %s names to %ss", path, what, what)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return p.errf(k, "%s: a %s name must be a non-empty string", path, what)
		}
		if line, ok := seen[k.Value]; ok {
			return p.errf(k, "%s %q declared twice (first at line %d)", what, k.Value, line)
		}
		seen[k.Value] = k.Line
		sub := join(path, k.Value)
		p.lines[sub] = k.Line
		if err := f(k.Value, v, sub); err != nil {
			return err
		}
	}
	return nil
}

// list reads a sequence node.
func (p *tparser) list(n *yaml.Node, path string, f func(i int, v *yaml.Node, path string) error) error {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return p.errf(n, "%s: want a list", path)
	}
	for i, v := range n.Content {
		sub := join(path, strconv.Itoa(i))
		p.lines[sub] = v.Line
		if err := f(i, resolve(v), sub); err != nil {
			return err
		}
	}
	return nil
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// str reads a scalar as a string (numbers too: loss: 20 is "20").
func (p *tparser) str(n *yaml.Node, dst *string) error {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return p.errf(n, "want a string")
	}
	*dst = n.Value
	return nil
}

func (p *tparser) strList(n *yaml.Node, path string, dst *[]string) error {
	return p.list(n, path, func(i int, v *yaml.Node, _ string) error {
		var s string
		if err := p.str(v, &s); err != nil {
			return err
		}
		*dst = append(*dst, s)
		return nil
	})
}

func (p *tparser) integer(n *yaml.Node, dst *int) error {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return p.errf(n, "want a whole number, not %q", n.Value)
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		return p.errf(n, "want a whole number, not %q", n.Value)
	}
	*dst = v
	return nil
}

func (p *tparser) boolean(n *yaml.Node, dst *bool) error {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		return p.errf(n, "want true or false, not %q", n.Value)
	}
	return n.Decode(dst)
}

// vlanList reads VLANs as "10,20-30", a number, or a list of numbers and
// ranges, into the "10,20-30" form.
func (p *tparser) vlanList(n *yaml.Node, dst *string) error {
	n = resolve(n)
	if n.Kind == yaml.SequenceNode {
		var parts []string
		for _, v := range n.Content {
			var s string
			if err := p.str(v, &s); err != nil {
				return err
			}
			parts = append(parts, s)
		}
		*dst = strings.Join(parts, ",")
		return nil
	}
	return p.str(n, dst)
}
