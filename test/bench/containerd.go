package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/cri-shim/cri-shim/test/harness"
)

// The containerd network: a bridge and subnet of its own, apart from
// cri-shim's.
const (
	containerdBridge  = "ctrdb0"
	containerdSubnet  = "10.221.0.0/22"
	containerdNetwork = "crishim-bench-containerd"
)

// containerdConfig is containerd 2.x's configuration (version 4) made
// equivalent to the cri-shim under test: cgroupfs, the same CNI plugins,
// the same registry mirrors (hosts.toml files), private directories and
// sockets (shim sockets, runc's root and network namespaces included: the
// defaults are under /run/containerd and /var/run/netns), runc's
// oom_score_adj clamped (no CAP_SYS_RESOURCE here), NRI off (cri-shim has
// none).
var containerdConfig = template.Must(template.New("config").Parse(`version = 4
root = {{printf "%q" .Root}}
state = {{printf "%q" .State}}
imports = []

[debug]
  level = "info"

[plugins."io.containerd.server.v1.grpc"]
  address = {{printf "%q" .Socket}}

[plugins."io.containerd.server.v1.ttrpc"]
  address = {{printf "%q" (print .Socket ".ttrpc")}}

[plugins."io.containerd.shim.v1.manager"]
  socket_dir = {{printf "%q" .ShimSockets}}

[plugins."io.containerd.internal.v1.opt"]
  path = {{printf "%q" (print .Root "/opt")}}

[plugins."io.containerd.nri.v1.nri"]
  disable = true

[plugins."io.containerd.transfer.v1.local"]
  config_path = {{printf "%q" .HostsDir}}

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = {{printf "%q" .Pause}}
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = {{printf "%q" .HostsDir}}

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      runtime_path = {{printf "%q" (print .Tools "/containerd-shim-runc-v2")}}
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = {{printf "%q" (print .Tools "/runc")}}
        Root = {{printf "%q" .RuncRoot}}
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/opt/cni/bin"]
    conf_dir = {{printf "%q" .CNIConfDir}}
    max_conf_num = 1

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`))

// containerdCNI is the same bridge network as cri-shim's built-in one. The
// built-in one leaves out portmap and bandwidth for pods that map no port
// and set no limit, which is every pod here: so does this one.
const containerdCNI = `{
  "cniVersion": "1.1.0",
  "name": %q,
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": %q}
    }
  ]
}
`

// hostsToml sends one registry to the test registry over plain http.
const hostsToml = `server = "https://%s"

[host."http://%s"]
  capabilities = ["pull", "resolve"]
`

// startContainerd starts containerd from the tools directory (containerd,
// containerd-shim-runc-v2, runc) under out with a configuration equivalent
// to cri-shim's, and pre-pulls its sandbox image pause.
func startContainerd(ctx context.Context, tools, out, regAddr, pause string) (*target, error) {
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "runc"} {
		if _, err := os.Stat(filepath.Join(tools, b)); err != nil {
			return nil, fmt.Errorf("containerd tools (make bench-compare builds them): %w", err)
		}
	}
	out = filepath.Join(out, "containerd")
	installed, err := installCopies(tools, filepath.Join(out, "bin"), "containerd", "containerd-shim-runc-v2", "runc")
	if err != nil {
		return nil, err
	}
	tools = installed
	// Shim sockets need a short directory (at most 42 characters).
	base, err := os.MkdirTemp("/run", "ctrd-bench-")
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	root := filepath.Join(out, "root")
	v := struct{ Root, State, Socket, ShimSockets, RuncRoot, HostsDir, CNIConfDir, Tools, Pause string }{
		Root: root, State: filepath.Join(base, "state"), Socket: filepath.Join(base, "containerd.sock"),
		RuncRoot:    filepath.Join(base, "runc"),
		ShimSockets: filepath.Join(base, "s"), HostsDir: filepath.Join(out, "certs.d"),
		CNIConfDir: filepath.Join(out, "net.d"), Tools: tools, Pause: pause,
	}
	ipam := filepath.Join(out, "ipam")
	t := &target{name: "containerd", sock: v.Socket, root: root, logDir: filepath.Join(out, "pod-logs")}
	before := idCgroups()
	t.cleanup = func() error {
		h := &hostState{}
		h.fail(t.stopDaemon(context.Background()))
		// Shims outlive containerd; those of this containerd name its socket.
		h.killStray("containerd shim", func(p proc) bool {
			return len(p.argv) > 0 && strings.HasSuffix(p.argv[0], "containerd-shim-runc-v2") &&
				strings.Contains(strings.Join(p.argv, " "), v.Socket)
		})
		h.unmountUnder(base, root)
		h.removeDirs(base, root, v.HostsDir, v.CNIConfDir, t.logDir, installed)
		h.deleteBridge(containerdBridge)
		h.releaseHostLocal(filepath.Join(ipam, containerdNetwork))
		h.removeDirs(ipam)
		h.removeCNICache(containerdNetwork)
		h.removeNewIDCgroups(before)
		return report(t.name, h)
	}
	if err := os.RemoveAll(root); err != nil {
		return nil, fmt.Errorf("old root %s: %w", root, err)
	}
	if err := mkdirs(out, v.CNIConfDir, t.logDir, ipam); err != nil {
		return nil, err
	}
	for _, r := range harness.MirroredRegistries {
		dir := filepath.Join(v.HostsDir, r)
		if err := mkdirs(dir); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), fmt.Appendf(nil, hostsToml, r, regAddr), 0o644); err != nil {
			return nil, fmt.Errorf("hosts.toml: %w", err)
		}
	}
	conflist := fmt.Appendf(nil, containerdCNI, containerdNetwork, containerdBridge, containerdSubnet, ipam)
	if err := os.WriteFile(filepath.Join(v.CNIConfDir, "10-bench.conflist"), conflist, 0o644); err != nil {
		return nil, fmt.Errorf("cni config: %w", err)
	}
	var cfg strings.Builder
	if err := containerdConfig.Execute(&cfg, v); err != nil {
		return nil, fmt.Errorf("containerd config: %w", err)
	}
	cfgPath := filepath.Join(out, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		return nil, fmt.Errorf("containerd config: %w", err)
	}
	cmd := exec.Command(filepath.Join(tools, "containerd"), "--config", cfgPath)
	cmd.Env = append(os.Environ(), "PATH="+tools+":"+os.Getenv("PATH"))
	if t.daemon, err = harness.Start(cmd, filepath.Join(out, "containerd.log")); err != nil {
		_ = t.cleanup()
		return nil, err
	}
	if err := t.connect(ctx, time.Minute); err != nil {
		_ = t.cleanup()
		return nil, err
	}
	t.helpers = func(ps []proc) (perContainer, perPod []int) {
		shims := map[int]bool{}
		for _, p := range ps {
			if len(p.argv) > 0 && strings.HasSuffix(p.argv[0], "containerd-shim-runc-v2") &&
				strings.Contains(strings.Join(p.argv, " "), v.Socket) {
				shims[p.pid] = true
				perContainer = append(perContainer, p.pid)
			}
		}
		for _, p := range ps {
			if shims[p.ppid] && len(p.argv) > 0 && filepath.Base(p.argv[0]) == "pause" {
				perPod = append(perPod, p.pid)
			}
		}
		return perContainer, perPod
	}
	if err := t.pullIfMissing(ctx, pause); err != nil {
		_ = t.cleanup()
		return nil, err
	}
	return t, nil
}
