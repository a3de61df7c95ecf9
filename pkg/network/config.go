// Package network wires pod network namespaces to the node through CNI
// (libcni): it picks the network configuration, checks the plugins, and runs
// ADD, CHECK, DEL and GC with the runtime's own cache dir, every plugin run
// bounded by the plugin timeout.
package network

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

// BuiltinNetworkName is the name of the built-in network (used when the
// conf dir holds no configuration) on the default bridge. On any other bridge
// the network is named after it (see BuiltinName), so that two runtimes on
// one machine never share host-local address files, which a CNI GC of one
// would release under the other.
const BuiltinNetworkName = "cri-shim-default"

// DefaultBridge is the bridge of the built-in network in the default configuration.
const DefaultBridge = "crishim0"

// BuiltinName returns the name of the built-in network on bridge.
func BuiltinName(bridge string) string {
	if bridge == DefaultBridge {
		return BuiltinNetworkName
	}
	return "cri-shim-" + bridge
}

// Network is the pod network configuration in use.
type Network struct {
	// List is the parsed CNI network configuration list.
	List *libcni.NetworkConfigList
	// Source is the file it came from, or BuiltinSource.
	Source string

	// bridge and subnet of the built-in network.
	bridge, subnet string
	// moveGateway lets the bridge plugin replace the bridge's gateway
	// address when the subnet changed (the kubelet's pod CIDR).
	moveGateway bool
}

// BuiltinSource is the Source of the built-in network.
const BuiltinSource = "built-in"

// Load returns the operator's network from confDir (the first .conflist,
// .conf or .json file in lexical order, as the kubelet's other runtimes pick
// it) or, when there is none, the built-in bridge network on bridge and
// subnet.
func Load(confDir, bridge, subnet string) (*Network, error) {
	files, err := libcni.ConfFiles(confDir, []string{".conflist", ".conf", ".json"})
	if err != nil {
		return nil, fmt.Errorf("cni conf dir %s: %w", confDir, err)
	}
	if len(files) > 0 {
		sort.Strings(files)
		list, err := loadFile(files[0])
		if err != nil {
			return nil, fmt.Errorf("cni config %s: %w", files[0], err)
		}
		return &Network{List: list, Source: files[0]}, nil
	}
	list, err := libcni.NetworkConfFromBytes(BuiltinConfList(bridge, subnet))
	if err != nil {
		return nil, fmt.Errorf("built-in cni config: %w", err)
	}
	return &Network{List: list, Source: BuiltinSource, bridge: bridge, subnet: subnet}, nil
}

func loadFile(path string) (*libcni.NetworkConfigList, error) {
	if filepath.Ext(path) == ".conflist" {
		return libcni.NetworkConfFromFile(path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// A single-plugin file: wrap it as a list of one, as libcni's
	// deprecated ConfListFromConf did.
	var head struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, err
	}
	list, err := json.Marshal(map[string]any{
		"cniVersion": head.CNIVersion, "name": head.Name, "plugins": []json.RawMessage{raw},
	})
	if err != nil {
		return nil, err
	}
	return libcni.NetworkConfFromBytes(list)
}

// BuiltinConfList is the built-in network: a bridge with host-local
// addresses, port mappings and bandwidth limits.
func BuiltinConfList(bridge, subnet string) []byte {
	return builtinConfList(bridge, subnet, true, true, false)
}

// builtinConfList writes the built-in network, with the portmap and
// bandwidth plugins only when asked: a pod that maps no host port and has
// no bandwidth limit does not pay for two more plugin executions. subnet
// may be a comma list (one network per IP family): each gets a range and a
// default route. With moveGateway the bridge plugin replaces a gateway
// address of another subnet on the bridge (forceAddress).
func builtinConfList(bridge, subnet string, portmap, bandwidth, moveGateway bool) []byte {
	force := ""
	if moveGateway {
		force = `
      "forceAddress": true,`
	}
	var ranges, routes []string
	for s := range strings.SplitSeq(subnet, ",") {
		s = strings.TrimSpace(s)
		ranges = append(ranges, fmt.Sprintf(`[{"subnet": %q}]`, s))
		if strings.Contains(s, ":") {
			routes = append(routes, `{"dst": "::/0"}`)
		} else {
			routes = append(routes, `{"dst": "0.0.0.0/0"}`)
		}
	}
	b := fmt.Appendf(nil, `{
  "cniVersion": "1.1.0",
  "name": %q,
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,%s
      "ipam": {"type": "host-local", "ranges": [%s], "routes": [%s]}
    }`, BuiltinName(bridge), bridge, force, strings.Join(ranges, ", "), strings.Join(routes, ", "))
	if portmap {
		b = append(b, `,
    {"type": "portmap", "capabilities": {"portMappings": true}}`...)
	}
	if bandwidth {
		b = append(b, `,
    {"type": "bandwidth", "capabilities": {"bandwidth": true}}`...)
	}
	return append(b, "\n  ]\n}"...)
}

// ForPod returns the configuration list to attach a pod with caps. The
// operator's list is used as it is; the built-in one leaves out the
// plugins the pod has no use for.
func (n *Network) ForPod(caps Capabilities) (*libcni.NetworkConfigList, error) {
	if n.Source != BuiltinSource {
		return n.List, nil
	}
	ports, bw := len(caps.PortMappings) > 0, caps.Bandwidth != nil
	if ports && bw && !n.moveGateway {
		return n.List, nil
	}
	list, err := libcni.NetworkConfFromBytes(builtinConfList(n.bridge, n.subnet, ports, bw, n.moveGateway))
	if err != nil {
		return nil, fmt.Errorf("built-in cni config: %w", err)
	}
	return list, nil
}

// Plugins lists the plugin binaries the network needs. The runtime brings
// up lo in each pod itself, so the loopback plugin is not one of them.
func (n *Network) Plugins() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range n.List.Plugins {
		t := p.Network.Type
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
			if p.Network.IPAM.Type != "" && !seen[p.Network.IPAM.Type] {
				seen[p.Network.IPAM.Type] = true
				out = append(out, p.Network.IPAM.Type)
			}
		}
	}
	return out
}

// CheckPlugins reports the first plugin binary of the network not found as an
// executable file in binDirs.
func (n *Network) CheckPlugins(binDirs []string) error {
	for _, p := range n.Plugins() {
		if _, err := FindPlugin(p, binDirs); err != nil {
			return fmt.Errorf("network %s (%s): %w", n.List.Name, n.Source, err)
		}
	}
	return nil
}

// FindPlugin returns the path of the plugin binary name in the first of
// binDirs that has it.
func FindPlugin(name string, binDirs []string) (string, error) {
	for _, d := range binDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("cni plugin %q not found in %v", name, binDirs)
}
