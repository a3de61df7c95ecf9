package config

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultValidates(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if got := Default().CNICacheDir(); got != "/var/lib/cri-shim/cni-cache" {
		t.Errorf("CNICacheDir() = %q", got)
	}
	c := Default()
	c.CNI.CacheDir = "/tmp/cache"
	if got := c.CNICacheDir(); got != "/tmp/cache" {
		t.Errorf("CNICacheDir() = %q", got)
	}
}

func TestWriteDefaultParsesBack(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteDefault(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatalf("Parse(default file): %v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(got, Default()) {
		t.Errorf("default file parses to\n%+v\nwant\n%+v", got, Default())
	}
	// Every setting has a comment line right above it.
	lines := strings.Split(buf.String(), "\n")
	for i, l := range lines {
		if strings.Contains(l, " = ") && !strings.HasPrefix(l, "#") {
			if i == 0 || !strings.HasPrefix(lines[i-1], "# ") {
				t.Errorf("setting %q has no comment line", l)
			}
		}
	}
	// The commented registry example is valid once uncommented.
	var example []string
	for _, l := range lines {
		if strings.HasPrefix(l, "# [registries.") || strings.HasPrefix(l, "# mirrors") || strings.HasPrefix(l, "# insecure") {
			example = append(example, strings.TrimPrefix(l, "# "))
		}
	}
	c, err := Parse([]byte(strings.Join(example, "\n")))
	if err != nil {
		t.Fatalf("registry example: %v", err)
	}
	if rc := c.Registries["registry.k8s.io"]; len(rc.Mirrors) != 2 {
		t.Errorf("registry example parsed to %+v", c.Registries)
	}
}

func TestUnknownKeys(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"sockets = \"/x\"\n", `unknown key "sockets"`},
		{"[cni]\nbin_dir = \"/x\"\n", `unknown key "cni.bin_dir"`},
		{"[network]\na = 1\nb = 2\n", `unknown key "network"`},
		{"[registries.\"gcr.io\"]\nmirror = [\"https://m\"]\n", `unknown key "registries.\"gcr.io\".mirror"`},
		{"x = 1\ny = 2\n", `unknown key "x" (and 1 more)`},
	} {
		p := writeFile(t, tc.body)
		_, err := Load(p)
		if err == nil {
			t.Errorf("%q: no error", tc.body)
			continue
		}
		if !errors.Is(err, ErrUnknownKey) {
			t.Errorf("%q: error %v is not ErrUnknownKey", tc.body, err)
		}
		if want := "config " + p + ": " + tc.want; err.Error() != want {
			t.Errorf("%q: error\n%s\nwant\n%s", tc.body, err, want)
		}
	}
}

func TestBadValues(t *testing.T) {
	for _, tc := range []struct{ body, key, msg string }{
		{`socket = "run/x.sock"`, "socket", "not an absolute path"},
		{`socket = "/` + strings.Repeat("s", 120) + `"`, "socket", "unix socket"},
		{`root_dir = ""`, "root_dir", "must not be empty"},
		{`state_dir = "state"`, "state_dir", "not an absolute path"},
		{`log_level = 11`, "log_level", "outside 0..10"},
		{`log_level = -1`, "log_level", "outside 0..10"},
		{`log_level = "high"`, "log_level", `want an integer, got "high"`},
		{`shutdown_timeout = "abc"`, "shutdown_timeout", `invalid duration "abc"`},
		{`shutdown_timeout = "0s"`, "shutdown_timeout", "not a positive duration"},
		{`shutdown_timeout = 10`, "shutdown_timeout", `want a duration string such as "30s", got 10`},
		{`cgroup_driver = "cgroupv2"`, "cgroup_driver", "not one of"},
		{"cgroup_driver = \"systemd\"\ncgroup_parent = \"/cri-shim\"", "cgroup_parent", "not a systemd slice"},
		{"cgroup_driver = \"cgroupfs\"\ncgroup_parent = \"x.slice\"", "cgroup_parent", "absolute path"},
		{`cgroup_parent = "/a/../b"`, "cgroup_parent", "neither"},
		{"[stream]\naddress = \"localhost\"", "stream.address", "not an IP address"},
		{"[stream]\nport = 70000", "stream.port", "outside 0..65535"},
		{"stream = 1", "stream", "want a table, got 1"},
		{"[cni]\nconf_dir = \"net.d\"", "cni.conf_dir", "not an absolute path"},
		{"[cni]\nbin_dirs = []", "cni.bin_dirs", "at least one"},
		{"[cni]\nbin_dirs = [\"/opt/cni/bin\", \"bin\"]", "cni.bin_dirs[1]", "not an absolute path"},
		{"[cni]\nbin_dirs = \"/opt/cni/bin\"", "cni.bin_dirs", "want an array of strings"},
		{"[cni]\nbin_dirs = [\"/a\", 1]", "cni.bin_dirs", "an array holding 1"},
		{"[cni]\ncache_dir = \"cache\"", "cni.cache_dir", "not an absolute path"},
		{"[cni]\nbridge_name = \"a-very-long-bridge-name\"", "cni.bridge_name", "longer than 15"},
		{"[cni]\nbridge_name = \"br 0\"", "cni.bridge_name", "not a valid interface name"},
		{"[cni]\nbridge_name = \"\"", "cni.bridge_name", "must not be empty"},
		{"[cni]\nsubnet = \"10.217.0.0\"", "cni.subnet", "not a CIDR"},
		{"[cni]\nsubnet = \"10.217.0.1/16\"", "cni.subnet", "host bits set"},
		{"[cni]\nsubnet = \"10.217.0.0/32\"", "cni.subnet", "too small"},
		{"[cni]\nplugin_timeout = \"-5s\"", "cni.plugin_timeout", "not a positive duration"},
		{"[image]\npull_timeout = \"5\"", "image.pull_timeout", `invalid duration "5" (missing unit`},
		{"[image]\npull_progress_timeout = \"0s\"", "image.pull_progress_timeout", "not a positive duration"},
		{"[image]\nmax_concurrent_downloads = 0", "image.max_concurrent_downloads", "less than 1"},
		{"[image]\nmax_layer_bytes = 0", "image.max_layer_bytes", "not positive"},
		{"[image]\nmax_layer_entries = -3", "image.max_layer_entries", "not positive"},
		{"[nri]\nsocket_path = \"nri.sock\"", "nri.socket_path", "not an absolute path"},
		{"[nri]\nsocket_path = \"/" + strings.Repeat("s", 120) + "\"", "nri.socket_path", "unix socket"},
		{"[nri]\nplugin_path = \"\"", "nri.plugin_path", "must not be empty"},
		{"[nri]\nplugin_request_timeout = \"0s\"", "nri.plugin_request_timeout", "not a positive duration"},
		{"[nri]\nenable = \"yes\"", "nri.enable", `want true or false, got "yes"`},
		{"[registries.\"https://gcr.io\"]", `registries."https://gcr.io"`, "has a scheme"},
		{"[registries.\"gcr.io/library\"]", `registries."gcr.io/library"`, "has a path"},
		{"[registries.\"gcr.io:0\"]", `registries."gcr.io:0"`, "invalid port"},
		{"[registries.\"bad_host\"]", `registries.bad_host`, "not a valid host name"},
		{"[registries.\"docker.io\"]\n[registries.\"registry-1.docker.io\"]", `registries."registry-1.docker.io"`, `same registry as "docker.io"`},
		{"[registries.\"gcr.io\"]\nmirrors = [\"ftp://m.example.com\"]", `registries."gcr.io".mirrors[0]`, "scheme must be http or https"},
		{"[registries.\"gcr.io\"]\nmirrors = [\"https://a.example\", \"https://\"]", `registries."gcr.io".mirrors[1]`, "no host"},
		{"[registries.\"gcr.io\"]\nmirrors = [\"\"]", `registries."gcr.io".mirrors[0]`, "empty mirror"},
		{"[registries.\"gcr.io\"]\nmirrors = [\"https://u:p@m.example\"]", `registries."gcr.io".mirrors[0]`, "without user"},
		{"[registries.\"gcr.io\"]\ninsecure = \"yes\"", `registries."gcr.io".insecure`, `want true or false, got "yes"`},
	} {
		p := writeFile(t, tc.body)
		_, err := Load(p)
		if err == nil {
			t.Errorf("%q: no error", tc.body)
			continue
		}
		var ke *KeyError
		if !errors.As(err, &ke) || ke.Key != tc.key {
			t.Errorf("%q: error %q does not name key %s", tc.body, err, tc.key)
			continue
		}
		prefix := "config " + p + ": " + tc.key + ": "
		if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: error %q, want prefix %q and %q", tc.body, err, prefix, tc.msg)
		}
	}
}

func TestSyntaxError(t *testing.T) {
	p := writeFile(t, "log_level = 2\nsocket =\n")
	_, err := Load(p)
	if err == nil || !strings.HasPrefix(err.Error(), "config "+p+": line 2: ") {
		t.Errorf("error %v, want it to name the file and line 2", err)
	}
}

func TestPartialFile(t *testing.T) {
	p := writeFile(t, `
log_level = 4
[image]
pull_timeout = "1h30m"
[cni]
bin_dirs = ["/usr/libexec/cni", "/opt/cni/bin"]
[registries."docker.io"]
mirrors = ["mirror.gcr.io"]
`)
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.LogLevel = 4
	want.Image.PullTimeout = Duration{90 * time.Minute}
	want.CNI.BinDirs = []string{"/usr/libexec/cni", "/opt/cni/bin"}
	want.Registries["docker.io"] = RegistryConfig{Mirrors: []string{"mirror.gcr.io"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load = %+v\nwant %+v", got, want)
	}
	if s := got.Image.PullTimeout.String(); s != "1h30m" {
		t.Errorf("Duration.String() = %q", s)
	}
}

func TestMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "none.toml")
	c, err := LoadOptional(p)
	if err != nil || !reflect.DeepEqual(c, Default()) {
		t.Errorf("LoadOptional(missing) = %+v, %v; want Default()", c, err)
	}
	if _, err := Load(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want fs.ErrNotExist", err)
	}
	// Other errors are not hidden by LoadOptional.
	if _, err := LoadOptional(writeFile(t, "bogus = 1")); err == nil {
		t.Error("LoadOptional(bad file) gave no error")
	}
	if _, err := Load(""); err == nil {
		t.Error(`Load("") gave no error`)
	}
}

func TestEndpoints(t *testing.T) {
	c := Default()
	c.Registries = map[string]RegistryConfig{
		"registry-1.docker.io": {Mirrors: []string{"https://mirror.example.com/hub/", "http://127.0.0.1:5000"}},
		"localhost:5000":       {Insecure: true},
		"gcr.io":               {Mirrors: []string{"m.example:8443"}},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	hub := []Endpoint{
		{Host: "mirror.example.com", PathPrefix: "/hub", Mirror: true},
		{Host: "127.0.0.1:5000", PlainHTTP: true, Mirror: true},
		{Host: "registry-1.docker.io"},
	}
	for _, h := range []string{"docker.io", "index.docker.io", "registry-1.docker.io", "Docker.IO"} {
		if got := c.Endpoints(h); !reflect.DeepEqual(got, hub) {
			t.Errorf("Endpoints(%q) = %+v\nwant %+v", h, got, hub)
		}
	}
	if got, want := c.Endpoints("localhost:5000"), []Endpoint{{Host: "localhost:5000", PlainHTTP: true, SkipTLSVerify: true}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Endpoints(localhost:5000) = %+v, want %+v", got, want)
	}
	if got, want := c.Endpoints("gcr.io"), []Endpoint{{Host: "m.example:8443", Mirror: true}, {Host: "gcr.io"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Endpoints(gcr.io) = %+v, want %+v", got, want)
	}
	if got, want := c.Endpoints("quay.io"), []Endpoint{{Host: "quay.io"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Endpoints(quay.io) = %+v, want %+v", got, want)
	}
	if got := c.Endpoints(""); got != nil {
		t.Errorf("Endpoints(\"\") = %+v", got)
	}

	// The reverse alias: key docker.io, image host registry-1.docker.io.
	c.Registries = map[string]RegistryConfig{"docker.io": {Mirrors: []string{"https://m.example"}}}
	if got := c.Endpoints("registry-1.docker.io"); len(got) != 2 || got[0].Host != "m.example" || got[1].Host != "registry-1.docker.io" {
		t.Errorf("Endpoints(registry-1.docker.io) = %+v", got)
	}
}

func TestFlags(t *testing.T) {
	var f Flags
	fs := flag.NewFlagSet("cri-shim", flag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse([]string{"--socket=/tmp/s.sock", "--log-level=5", "--stream-port", "10010", "--cni-bin-dir", "/a, /b,"}); err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.RootDir = "/from/file" // not given on the command line: kept
	c.CNI.ConfDir = "/file/net.d"
	if err := f.Apply(fs, c); err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.RootDir = "/from/file"
	want.CNI.ConfDir = "/file/net.d"
	want.Socket = "/tmp/s.sock"
	want.LogLevel = 5
	want.Stream.Port = 10010
	want.CNI.BinDirs = []string{"/a", "/b"}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("after Apply: %+v\nwant %+v", c, want)
	}

	// Every documented flag exists and lands in its field.
	fs = flag.NewFlagSet("cri-shim", flag.ContinueOnError)
	f = Flags{}
	f.Register(fs)
	args := []string{"--socket=/s", "--root=/r", "--state=/st", "--log-level=0", "--cgroup-parent=/p",
		"--stream-address=::1", "--stream-port=1", "--cni-conf-dir=/c", "--cni-bin-dir=/b"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	c = Default()
	if err := f.Apply(fs, c); err != nil {
		t.Fatal(err)
	}
	if c.Socket != "/s" || c.RootDir != "/r" || c.StateDir != "/st" || c.LogLevel != 0 || c.CgroupParent != "/p" ||
		c.Stream.Address != "::1" || c.Stream.Port != 1 || c.CNI.ConfDir != "/c" || !reflect.DeepEqual(c.CNI.BinDirs, []string{"/b"}) {
		t.Errorf("after Apply: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate after Apply: %v", err)
	}

	// A bad flag value is caught by Validate, naming the key.
	fs = flag.NewFlagSet("cri-shim", flag.ContinueOnError)
	f = Flags{}
	f.Register(fs)
	_ = fs.Parse([]string{"--log-level=42"})
	c = Default()
	if err := f.Apply(fs, c); err != nil {
		t.Fatal(err)
	}
	var ke *KeyError
	if err := c.Validate(); !errors.As(err, &ke) || ke.Key != "log_level" {
		t.Errorf("Validate = %v, want log_level error", err)
	}

	fs = flag.NewFlagSet("cri-shim", flag.ContinueOnError)
	f = Flags{}
	f.Register(fs)
	_ = fs.Parse([]string{"--cni-bin-dir=,"})
	if err := f.Apply(fs, Default()); err == nil {
		t.Error("--cni-bin-dir=, gave no error")
	}
}

func TestReload(t *testing.T) {
	running := Default()
	running.Registries["gcr.io"] = RegistryConfig{Mirrors: []string{"https://a.example"}}
	running.Registries["quay.io"] = RegistryConfig{}

	file := Default()
	file.LogLevel = 4
	file.Registries["gcr.io"] = RegistryConfig{Mirrors: []string{"https://b.example"}, Insecure: true}
	file.Registries["localhost:5000"] = RegistryConfig{Insecure: true}
	file.Socket = "/run/other.sock"
	file.CNI.BinDirs = []string{"/x"}
	file.Image.PullTimeout = Duration{time.Minute}

	next, changes := Reload(running, file)
	want := []string{
		"log_level: 2 -> 4",
		`registries."gcr.io": mirrors ["https://a.example"] -> ["https://b.example"]`,
		`registries."gcr.io": insecure false -> true`,
		`registries."localhost:5000": added (mirrors [], insecure true)`,
		`registries."quay.io": removed`,
		"socket: changed in file, needs a restart (keeping /run/cri-shim/cri-shim.sock)",
		`cni.bin_dirs: changed in file, needs a restart (keeping ["/opt/cni/bin"])`,
		"image.pull_timeout: changed in file, needs a restart (keeping 30m)",
	}
	if !reflect.DeepEqual(changes, want) {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(changes, "\n"), strings.Join(want, "\n"))
	}
	if next.LogLevel != 4 || !reflect.DeepEqual(next.Registries, file.Registries) {
		t.Errorf("reloadable settings not applied: %+v", next)
	}
	if next.Socket != running.Socket || !reflect.DeepEqual(next.CNI.BinDirs, running.CNI.BinDirs) || next.Image.PullTimeout != running.Image.PullTimeout {
		t.Errorf("restart-only settings applied: %+v", next)
	}
	// next shares nothing with its inputs.
	file.Registries["gcr.io"].Mirrors[0] = "changed"
	running.CNI.BinDirs[0] = "changed"
	if next.Registries["gcr.io"].Mirrors[0] != "https://b.example" || next.CNI.BinDirs[0] != "/opt/cni/bin" {
		t.Error("next shares memory with its inputs")
	}

	// Same file again: nothing to report.
	if _, changes := Reload(Default(), Default()); len(changes) != 0 {
		t.Errorf("unchanged reload reported %q", changes)
	}
	if next, _ := Reload(Default(), nil); !reflect.DeepEqual(next, Default()) {
		t.Errorf("Reload(running, nil) = %+v", next)
	}
}

func FuzzParse(f *testing.F) {
	var buf bytes.Buffer
	if err := WriteDefault(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("[registries.\"[::1]:5000\"]\nmirrors = [\"http://[::1]:80/p\", \"h:1\"]\ninsecure = true\n"))
	f.Add([]byte("[cni]\nbin_dirs = [1, \"a\"]\n[[image]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate refuses: %v", err)
		}
		for h := range c.Registries {
			eps := c.Endpoints(h)
			if len(eps) != len(c.Registries[h].Mirrors)+1 {
				t.Fatalf("Endpoints(%q) = %+v: a valid mirror was dropped", h, eps)
			}
		}
		Reload(Default(), c)
	})
}
