package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// restartSettings are the settings a running daemon cannot change: a SIGHUP
// reports a change to them and keeps the running value.
var restartSettings = []struct {
	key string
	get func(*Config) any
}{
	{"socket", func(c *Config) any { return c.Socket }},
	{"root_dir", func(c *Config) any { return c.RootDir }},
	{"state_dir", func(c *Config) any { return c.StateDir }},
	{"shutdown_timeout", func(c *Config) any { return c.ShutdownTimeout }},
	{"cgroup_driver", func(c *Config) any { return c.CgroupDriver }},
	{"cgroup_parent", func(c *Config) any { return c.CgroupParent }},
	{"metrics_address", func(c *Config) any { return c.MetricsAddress }},
	{"spare_monitors", func(c *Config) any { return c.SpareMonitors }},
	{"stream.address", func(c *Config) any { return c.Stream.Address }},
	{"stream.port", func(c *Config) any { return c.Stream.Port }},
	{"cni.conf_dir", func(c *Config) any { return c.CNI.ConfDir }},
	{"cni.bin_dirs", func(c *Config) any { return slices.Concat(c.CNI.BinDirs) }}, // nil and empty alike
	{"cni.cache_dir", func(c *Config) any { return c.CNI.CacheDir }},
	{"cni.bridge_name", func(c *Config) any { return c.CNI.BridgeName }},
	{"cni.subnet", func(c *Config) any { return c.CNI.Subnet }},
	{"cni.plugin_timeout", func(c *Config) any { return c.CNI.PluginTimeout }},
	{"image.pull_timeout", func(c *Config) any { return c.Image.PullTimeout }},
	{"image.pull_progress_timeout", func(c *Config) any { return c.Image.PullProgressTimeout }},
	{"image.max_concurrent_downloads", func(c *Config) any { return c.Image.MaxConcurrentDownloads }},
	{"image.max_layer_bytes", func(c *Config) any { return c.Image.MaxLayerBytes }},
	{"image.max_layer_entries", func(c *Config) any { return c.Image.MaxLayerEntries }},
}

// Reload decides what a SIGHUP changes. running is the config in use;
// fromFile is the re-read file (from Load, so already valid) with the
// command-line flags applied again as at start-up, so that a flag-set value
// does not read as a change. next is running with log_level and [registries]
// taken from fromFile; changes lists each applied change first
// ("log_level: 2 -> 4", `registries."gcr.io": mirrors [...] -> [...]`), then
// each change that needs a restart and was not applied
// ("socket: changed in file, needs a restart (keeping /run/cri-shim/cri-shim.sock)").
// next never shares memory with running or fromFile.
func Reload(running *Config, fromFile *Config) (next *Config, changes []string) {
	if running == nil {
		return fromFile.Clone(), nil
	}
	next = running.Clone()
	if fromFile == nil {
		return next, nil
	}
	if running.LogLevel != fromFile.LogLevel {
		changes = append(changes, fmt.Sprintf("log_level: %d -> %d", running.LogLevel, fromFile.LogLevel))
		next.LogLevel = fromFile.LogLevel
	}
	changes = append(changes, registryChanges(running.Registries, fromFile.Registries)...)
	next.Registries = cloneRegistries(fromFile.Registries)
	for _, s := range restartSettings {
		if old := s.get(running); !reflect.DeepEqual(old, s.get(fromFile)) {
			changes = append(changes, fmt.Sprintf("%s: changed in file, needs a restart (keeping %s)", s.key, show(old)))
		}
	}
	return next, changes
}

// show writes a setting's value for a change line: strings bare unless empty.
func show(v any) string {
	switch v := v.(type) {
	case string:
		if v == "" {
			return `""`
		}
		return v
	case []string:
		return fmt.Sprintf("%q", v)
	default:
		return fmt.Sprint(v)
	}
}

// registryChanges describes the differences between two [registries] tables.
func registryChanges(old, updated map[string]RegistryConfig) []string {
	var changes []string
	hosts := slices.Sorted(maps.Keys(old))
	for h := range updated {
		if _, ok := old[h]; !ok {
			hosts = append(hosts, h)
		}
	}
	slices.Sort(hosts)
	for _, h := range hosts {
		key := registryKey(h)
		o, inOld := old[h]
		n, inNew := updated[h]
		switch {
		case !inNew:
			changes = append(changes, key+": removed")
		case !inOld:
			changes = append(changes, fmt.Sprintf("%s: added (mirrors %q, insecure %t)", key, n.Mirrors, n.Insecure))
		default:
			if !slices.Equal(o.Mirrors, n.Mirrors) {
				changes = append(changes, fmt.Sprintf("%s: mirrors %q -> %q", key, o.Mirrors, n.Mirrors))
			}
			if o.Insecure != n.Insecure {
				changes = append(changes, fmt.Sprintf("%s: insecure %t -> %t", key, o.Insecure, n.Insecure))
			}
		}
	}
	return changes
}
