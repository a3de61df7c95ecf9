package config

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// Flags holds the command-line overrides of config file settings. Register
// them on a FlagSet, parse it, then Apply: only flags given on the command
// line change the config.
type Flags struct {
	socket        string
	root          string
	state         string
	logLevel      int
	cgroupParent  string
	streamAddress string
	streamPort    int
	cniConfDir    string
	cniBinDir     string
}

// Register adds --socket, --root, --state, --log-level, --cgroup-parent,
// --stream-address, --stream-port, --cni-conf-dir and --cni-bin-dir to fs.
// The defaults shown in usage are the built-in ones; the file may differ.
func (f *Flags) Register(fs *flag.FlagSet) {
	d := Default()
	fs.StringVar(&f.socket, "socket", d.Socket, "unix socket to serve CRI on (config: socket)")
	fs.StringVar(&f.root, "root", d.RootDir, "directory for persistent data (config: root_dir)")
	fs.StringVar(&f.state, "state", d.StateDir, "directory for runtime state (config: state_dir)")
	fs.IntVar(&f.logLevel, "log-level", d.LogLevel, "log verbosity 0..10 (config: log_level)")
	fs.StringVar(&f.cgroupParent, "cgroup-parent", d.CgroupParent, "parent cgroup of pods that name none (config: cgroup_parent)")
	fs.StringVar(&f.streamAddress, "stream-address", d.Stream.Address, "IP address of the streaming server (config: stream.address)")
	fs.IntVar(&f.streamPort, "stream-port", d.Stream.Port, "port of the streaming server, 0 for a free one (config: stream.port)")
	fs.StringVar(&f.cniConfDir, "cni-conf-dir", d.CNI.ConfDir, "directory of CNI network configurations (config: cni.conf_dir)")
	fs.StringVar(&f.cniBinDir, "cni-bin-dir", strings.Join(d.CNI.BinDirs, ","), "comma-separated CNI plugin directories (config: cni.bin_dirs)")
}

// Apply copies the flags that were set on the command line (fs.Visit) into c.
// fs must be the parsed FlagSet that Register was called with. Call
// c.Validate afterwards.
func (f *Flags) Apply(fs *flag.FlagSet, c *Config) error {
	if c == nil {
		return errors.New("apply flags: nil config")
	}
	var err error
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "socket":
			c.Socket = f.socket
		case "root":
			c.RootDir = f.root
		case "state":
			c.StateDir = f.state
		case "log-level":
			c.LogLevel = f.logLevel
		case "cgroup-parent":
			c.CgroupParent = f.cgroupParent
		case "stream-address":
			c.Stream.Address = f.streamAddress
		case "stream-port":
			c.Stream.Port = f.streamPort
		case "cni-conf-dir":
			c.CNI.ConfDir = f.cniConfDir
		case "cni-bin-dir":
			var dirs []string
			for d := range strings.SplitSeq(f.cniBinDir, ",") {
				if d = strings.TrimSpace(d); d != "" {
					dirs = append(dirs, d)
				}
			}
			if len(dirs) == 0 {
				err = fmt.Errorf("--cni-bin-dir %q: no directory given", f.cniBinDir)
				return
			}
			c.CNI.BinDirs = dirs
		}
	})
	return err
}
