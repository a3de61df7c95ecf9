// Package config holds cri-shim's settings: the built-in defaults, the one
// TOML file that overrides them (DefaultPath), the command-line flags that
// override the file, validation that names the offending TOML key, the
// commented default file printed by `cri-shim config`, and what a SIGHUP
// reload may change at runtime (log_level and [registries]).
package config

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// DefaultPath is where the daemon looks for its config file when none is named.
const DefaultPath = "/etc/cri-shim/config.toml"

// Duration is a time.Duration written in TOML as a Go duration string ("30s", "5m").
type Duration struct{ time.Duration }

// String gives the duration in its shortest Go form: "30m" rather than "30m0s".
func (d Duration) String() string {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalText writes the duration as String does.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// UnmarshalText parses a Go duration string such as "10s" or "1h30m".
func (d *Duration) UnmarshalText(text []byte) error {
	s := string(text)
	v, err := time.ParseDuration(s)
	if err != nil {
		if s != "" && strings.Trim(s, "0123456789.") == "" {
			return fmt.Errorf("invalid duration %q (missing unit, e.g. \"%ss\")", s, s)
		}
		return fmt.Errorf("invalid duration %q", s)
	}
	d.Duration = v
	return nil
}

// Config is the daemon's complete configuration. Default gives every field a
// value; the TOML key of each field is in its tag.
type Config struct {
	// Socket is the unix socket the CRI gRPC server listens on.
	Socket string `toml:"socket" json:"socket"`
	// RootDir holds persistent data (images, container metadata).
	RootDir string `toml:"root_dir" json:"root_dir"`
	// StateDir holds runtime state that does not survive a reboot.
	StateDir string `toml:"state_dir" json:"state_dir"`
	// LogLevel is the klog verbosity 0..10: 0 errors and lifecycle, 2 every
	// RPC, 4 details, 6 trace. Reloadable.
	LogLevel int `toml:"log_level" json:"log_level"`
	// ShutdownTimeout bounds how long in-flight calls may run at SIGTERM.
	ShutdownTimeout Duration `toml:"shutdown_timeout" json:"shutdown_timeout"`
	// CgroupDriver is "" (detect), "cgroupfs" or "systemd".
	CgroupDriver string `toml:"cgroup_driver" json:"cgroup_driver"`
	// CgroupParent is the parent cgroup for pods whose request names none.
	CgroupParent string `toml:"cgroup_parent" json:"cgroup_parent"`
	// MetricsAddress is the ip:port the Prometheus metrics are served on
	// (at /metrics); "" serves none.
	MetricsAddress string `toml:"metrics_address" json:"metrics_address"`
	// SpareMonitors is how many container monitors, their create command
	// already started, are kept ready for the next CreateContainer while
	// containers are being created (from the first CreateContainer until a
	// minute passes without one); 0 starts each on demand.
	SpareMonitors int `toml:"spare_monitors" json:"spare_monitors"`
	// Stream configures the exec/attach/port-forward streaming server.
	Stream StreamConfig `toml:"stream" json:"stream"`
	// CNI configures pod networking.
	CNI CNIConfig `toml:"cni" json:"cni"`
	// Image configures image pulls and unpacking limits.
	Image ImageConfig `toml:"image" json:"image"`
	// Registries holds per-registry settings keyed by registry host[:port]
	// ("docker.io", "registry.k8s.io", "localhost:5000"). Reloadable.
	Registries map[string]RegistryConfig `toml:"registries" json:"registries"`
	// NRI configures Node Resource Interface plugins.
	NRI NRIConfig `toml:"nri" json:"nri"`
}

// NRIConfig configures the Node Resource Interface: the socket NRI plugins
// connect to and the plugins the daemon launches itself. The keys are
// containerd's.
type NRIConfig struct {
	// Enable turns NRI on; off, no socket is made and no plugin is called.
	Enable bool `toml:"enable" json:"enable"`
	// SocketPath is the unix socket external plugins connect to.
	SocketPath string `toml:"socket_path" json:"socket_path"`
	// PluginPath holds plugins the daemon starts itself ("NN-name" executables).
	PluginPath string `toml:"plugin_path" json:"plugin_path"`
	// PluginConfigPath holds the configuration of those plugins.
	PluginConfigPath string `toml:"plugin_config_path" json:"plugin_config_path"`
	// PluginRegistrationTimeout bounds a plugin's registration.
	PluginRegistrationTimeout Duration `toml:"plugin_registration_timeout" json:"plugin_registration_timeout"`
	// PluginRequestTimeout bounds a plugin's handling of one event.
	PluginRequestTimeout Duration `toml:"plugin_request_timeout" json:"plugin_request_timeout"`
	// DisableConnections refuses externally started plugins (no socket).
	DisableConnections bool `toml:"disable_connections" json:"disable_connections"`
}

// StreamConfig configures the streaming server.
type StreamConfig struct {
	// Address is the IP address the streaming server listens on.
	Address string `toml:"address" json:"address"`
	// Port is the streaming server's TCP port; 0 picks a free port.
	Port int `toml:"port" json:"port"`
}

// CNIConfig configures pod networking.
type CNIConfig struct {
	// ConfDir is where CNI network configurations are read from.
	ConfDir string `toml:"conf_dir" json:"conf_dir"`
	// BinDirs are searched in order for CNI plugin binaries.
	BinDirs []string `toml:"bin_dirs" json:"bin_dirs"`
	// CacheDir is the CNI result cache; "" means <root_dir>/cni-cache (see CNICacheDir).
	CacheDir string `toml:"cache_dir" json:"cache_dir"`
	// BridgeName is the bridge of the built-in network used when ConfDir has no config.
	BridgeName string `toml:"bridge_name" json:"bridge_name"`
	// Subnet is the pod subnet (CIDR) of the built-in network.
	Subnet string `toml:"subnet" json:"subnet"`
	// PluginTimeout bounds one CNI plugin invocation.
	PluginTimeout Duration `toml:"plugin_timeout" json:"plugin_timeout"`
}

// ImageConfig configures image pulls.
type ImageConfig struct {
	// PullTimeout bounds a whole image pull.
	PullTimeout Duration `toml:"pull_timeout" json:"pull_timeout"`
	// PullProgressTimeout cancels a pull that receives no data for this long.
	PullProgressTimeout Duration `toml:"pull_progress_timeout" json:"pull_progress_timeout"`
	// MaxConcurrentDownloads is how many layers of one pull download at once.
	MaxConcurrentDownloads int `toml:"max_concurrent_downloads" json:"max_concurrent_downloads"`
	// MaxLayerBytes bounds the uncompressed size of one layer.
	MaxLayerBytes int64 `toml:"max_layer_bytes" json:"max_layer_bytes"`
	// MaxLayerEntries bounds the number of files in one layer.
	MaxLayerEntries int64 `toml:"max_layer_entries" json:"max_layer_entries"`
}

// RegistryConfig holds the settings of one registry.
type RegistryConfig struct {
	// Mirrors are endpoints tried in order before the registry itself:
	// "https://mirror.example.com", "http://127.0.0.1:5000" (plain http only
	// when written http://; a bare host[:port] means https); a path prefix is allowed.
	Mirrors []string `toml:"mirrors" json:"mirrors"`
	// Insecure reaches the registry host itself over plain http (and accepts unverified TLS).
	Insecure bool `toml:"insecure" json:"insecure"`
}

// Default returns the built-in configuration; the daemon runs on it with no file.
func Default() *Config {
	return &Config{
		Socket:          "/run/cri-shim/cri-shim.sock",
		RootDir:         "/var/lib/cri-shim",
		StateDir:        "/run/cri-shim",
		LogLevel:        2,
		ShutdownTimeout: Duration{10 * time.Second},
		CgroupDriver:    "",
		CgroupParent:    "/cri-shim",
		MetricsAddress:  "",
		SpareMonitors:   1,
		Stream: StreamConfig{
			Address: "127.0.0.1",
			Port:    0,
		},
		CNI: CNIConfig{
			ConfDir:       "/etc/cni/net.d",
			BinDirs:       []string{"/opt/cni/bin"},
			CacheDir:      "",
			BridgeName:    "crishim0",
			Subnet:        "10.217.0.0/16",
			PluginTimeout: Duration{30 * time.Second},
		},
		Image: ImageConfig{
			PullTimeout:            Duration{30 * time.Minute},
			PullProgressTimeout:    Duration{5 * time.Minute},
			MaxConcurrentDownloads: 3,
			MaxLayerBytes:          8 << 30,
			MaxLayerEntries:        1_000_000,
		},
		Registries: map[string]RegistryConfig{},
		NRI: NRIConfig{
			Enable:                    true,
			SocketPath:                "/var/run/nri/nri.sock",
			PluginPath:                "/opt/nri/plugins",
			PluginConfigPath:          "/etc/nri/conf.d",
			PluginRegistrationTimeout: Duration{5 * time.Second},
			PluginRequestTimeout:      Duration{2 * time.Second},
		},
	}
}

// CNICacheDir returns the CNI cache directory, resolving "" to <root_dir>/cni-cache.
func (c *Config) CNICacheDir() string {
	if c.CNI.CacheDir != "" {
		return c.CNI.CacheDir
	}
	return filepath.Join(c.RootDir, "cni-cache")
}

// Clone returns a deep copy of c, sharing no slices or maps with it.
func (c *Config) Clone() *Config {
	if c == nil {
		return nil
	}
	n := *c
	n.CNI.BinDirs = slices.Clone(c.CNI.BinDirs)
	n.Registries = cloneRegistries(c.Registries)
	return &n
}

func cloneRegistries(m map[string]RegistryConfig) map[string]RegistryConfig {
	out := make(map[string]RegistryConfig, len(m))
	for k, v := range maps.All(m) {
		v.Mirrors = slices.Clone(v.Mirrors)
		out[k] = v
	}
	return out
}
