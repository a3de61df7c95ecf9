package config

import (
	"fmt"
	"io"
	"strings"
)

// WriteDefault writes the complete default config file: every setting at
// its Default() value with a comment line saying what it does, and a
// commented-out example of a [registries."registry.k8s.io"] table. The
// output parses back to exactly Default().
func WriteDefault(w io.Writer) error {
	d := Default()
	var b strings.Builder
	line := func(s string) { b.WriteString(s + "\n") }
	set := func(comment, key string, value any) {
		line("# " + comment)
		line(key + " = " + tomlValue(value))
	}

	line("# cri-shim configuration file; the daemon reads " + DefaultPath + " by default.")
	line("# Each setting below is shown at its built-in default; a missing file, table or key")
	line("# means the default. Command-line flags override this file. On SIGHUP the daemon")
	line("# re-reads it and applies log_level and [registries]; other changes need a restart.")
	line("")
	set("Unix socket the CRI gRPC server listens on (--socket).", "socket", d.Socket)
	set("Persistent data: images, containers, sandboxes (--root).", "root_dir", d.RootDir)
	set("Runtime state, gone after a reboot (--state).", "state_dir", d.StateDir)
	set("Log verbosity 0..10: 0 errors and lifecycle, 2 every RPC, 4 details, 6 trace (--log-level; reloadable).",
		"log_level", d.LogLevel)
	set("How long in-flight calls may run at SIGTERM before the daemon stops anyway.", "shutdown_timeout", d.ShutdownTimeout)
	set(`Cgroup driver: "" to detect, "cgroupfs" or "systemd".`, "cgroup_driver", d.CgroupDriver)
	set(`Parent cgroup of pods whose request names none: an absolute path, or a "name.slice" for systemd (--cgroup-parent).`,
		"cgroup_parent", d.CgroupParent)
	set(`Prometheus metrics at http://ADDRESS/metrics, e.g. "127.0.0.1:9090"; "" serves none.`, "metrics_address", d.MetricsAddress)
	set("Container monitors kept started ahead, their create helper up, from the first CreateContainer until a minute without one (0: none).",
		"spare_monitors", d.SpareMonitors)
	line("")
	line("[stream]")
	set("IP address of the exec/attach/port-forward streaming server (--stream-address).", "address", d.Stream.Address)
	set("TCP port of the streaming server; 0 picks a free port (--stream-port).", "port", d.Stream.Port)
	line("")
	line("[cni]")
	set("Directory of CNI network configurations (--cni-conf-dir).", "conf_dir", d.CNI.ConfDir)
	set("Directories searched in order for CNI plugins (--cni-bin-dir, comma-separated).", "bin_dirs", d.CNI.BinDirs)
	set(`CNI result cache; "" means <root_dir>/cni-cache.`, "cache_dir", d.CNI.CacheDir)
	set("Bridge of the built-in network, used when conf_dir has no configuration.", "bridge_name", d.CNI.BridgeName)
	set("Pod subnet of the built-in network.", "subnet", d.CNI.Subnet)
	set("Time limit of one CNI plugin call.", "plugin_timeout", d.CNI.PluginTimeout)
	line("")
	line("[image]")
	set("Time limit of a whole image pull.", "pull_timeout", d.Image.PullTimeout)
	set("A pull that receives no data for this long is cancelled.", "pull_progress_timeout", d.Image.PullProgressTimeout)
	set("Layers of one image downloaded at once.", "max_concurrent_downloads", d.Image.MaxConcurrentDownloads)
	set("Largest uncompressed layer accepted, in bytes (8 GiB).", "max_layer_bytes", d.Image.MaxLayerBytes)
	set("Most files and directories accepted in one layer.", "max_layer_entries", d.Image.MaxLayerEntries)
	line("")
	line("[nri]")
	set("Node Resource Interface: call NRI plugins at pod and container lifecycle points.", "enable", d.NRI.Enable)
	set("Unix socket externally started NRI plugins connect to.", "socket_path", d.NRI.SocketPath)
	set(`Directory of NRI plugins the daemon starts itself (executables named "NN-name").`, "plugin_path", d.NRI.PluginPath)
	set("Directory of the configuration of those plugins.", "plugin_config_path", d.NRI.PluginConfigPath)
	set("Time limit of a plugin's registration.", "plugin_registration_timeout", d.NRI.PluginRegistrationTimeout)
	set("Time limit of a plugin's handling of one event.", "plugin_request_timeout", d.NRI.PluginRequestTimeout)
	set("Refuse externally started plugins (no socket).", "disable_connections", d.NRI.DisableConnections)
	line("")
	line(`# Per-registry settings, one table per registry host[:port] as written in image`)
	line(`# names ("docker.io" also matches "registry-1.docker.io"); reloadable. Example:`)
	line("#")
	line(`# [registries."registry.k8s.io"]`)
	line(`# # Tried in order before the registry itself; https unless written http://, path prefix allowed.`)
	line(`# mirrors = ["https://mirror.example.com", "http://127.0.0.1:5000/k8s"]`)
	line(`# # Reach the registry itself over plain http and accept an unverified TLS certificate.`)
	line(`# insecure = false`)

	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write default config: %w", err)
	}
	return nil
}

// tomlValue writes a default value in TOML syntax.
func tomlValue(v any) string {
	switch v := v.(type) {
	case string:
		return tomlString(v)
	case Duration:
		return tomlString(v.String())
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = tomlString(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	default:
		return fmt.Sprint(v)
	}
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
