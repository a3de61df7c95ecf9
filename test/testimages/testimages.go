// Package testimages builds look-alikes of the container images that the CRI
// conformance suite (critest, sigs.k8s.io/cri-tools) pulls by their public
// names, so that they can be served from a local registry when no real image
// can be downloaded.
//
// The runtime under test is expected to mirror registry.k8s.io, k8s.gcr.io,
// gcr.io and public.ecr.aws to that registry, keeping the repository path:
// registry.k8s.io/e2e-test-images/busybox:1.29-2 is served as repository
// e2e-test-images/busybox, tag 1.29-2. (critest's --registry-prefix=HOST:PORT
// rewrites references the same way.)
//
// All images are single-architecture linux/amd64 OCI images. Most are based
// on the host's (Debian) dynamically linked busybox, whose applets are hard
// links to /bin/busybox; the servers (nginx, httpd, pause, ...) are small
// static Go programs from progs/, built with the go tool on first use and
// cached in the work directory. Layers use fixed timestamps and ownership, so
// image IDs are stable between runs on the same host.
//
// Host requirements (Debian 12): busybox (not busybox-static), util-linux
// (ipcs), libc6, and the go tool.
package testimages

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image keys (repository:tag, without registry host) of the images critest
// uses directly.
const (
	BusyboxImage    = "e2e-test-images/busybox:1.29-2"
	NginxImage      = "e2e-test-images/nginx:1.14-2"
	HttpdImage      = "e2e-test-images/httpd:2.4.39-4"
	NoNewPrivsImage = "e2e-test-images/nonewprivs:1.3"
	PauseImage      = "pause:3.9"

	criToolsRepo = "k8s-staging-cri-tools/"

	TestImageLatest      = criToolsRepo + "test-image-latest:latest"
	TestImageTagTest     = criToolsRepo + "test-image-tag:test"
	TestImageTagAll      = criToolsRepo + "test-image-tag:all"
	TestImagePredefGroup = criToolsRepo + "test-image-predefined-group:latest"
	HostNetNginxImage    = criToolsRepo + "hostnet-nginx-amd64:latest"
)

// ImageInfo describes one image of the catalogue.
type ImageInfo struct {
	// Keys are the repository:tag paths the image is served under; they
	// all refer to the same image.
	Keys []string
	// Public are the public references critest uses for it.
	Public []string
	// Description says what the image is for.
	Description string
}

type imageKind int

const (
	kindBusybox imageKind = iota
	kindNginx
	kindHostNetNginx
	kindHttpd
	kindNoNewPrivs
	kindPause
)

type catalogEntry struct {
	ImageInfo
	kind imageKind
	// user is the config User of busybox-kind images.
	user string
	// predefinedGroup adds default-user (1000) and group-defined-in-image
	// (50000) to /etc/passwd and /etc/group.
	predefinedGroup bool
}

func busyboxEntry(desc, user string, keys ...string) catalogEntry {
	var public []string
	for _, k := range keys {
		switch {
		case strings.HasPrefix(k, criToolsRepo):
			p := "gcr.io/" + k
			if strings.HasSuffix(p, ":latest") {
				// critest pulls most of these without a tag.
				public = append(public, strings.TrimSuffix(p, ":latest"))
			} else {
				public = append(public, p)
			}
		case strings.HasPrefix(k, "docker/library/"):
			public = append(public, "public.ecr.aws/"+k)
		default:
			public = append(public, "registry.k8s.io/"+k)
		}
	}
	return catalogEntry{ImageInfo: ImageInfo{Keys: keys, Public: public, Description: desc}, kind: kindBusybox, user: user}
}

// withPublic replaces the public references of e (critest spells these
// with an explicit ":latest").
func withPublic(e catalogEntry, public ...string) catalogEntry {
	e.Public = public
	return e
}

func catalog() []catalogEntry {
	c := []catalogEntry{
		busyboxEntry("default test container image (busybox)", "", BusyboxImage),
		{
			ImageInfo: ImageInfo{
				Keys:        []string{NginxImage},
				Public:      []string{"registry.k8s.io/" + NginxImage},
				Description: "web server on :80 with busybox; nginx-like process title and /var/run/nginx.pid",
			},
			kind: kindNginx,
		},
		{
			ImageInfo: ImageInfo{
				Keys:        []string{HttpdImage},
				Public:      []string{"registry.k8s.io/" + HttpdImage},
				Description: "web server on :80 with busybox; logs mention httpd",
			},
			kind: kindHttpd,
		},
		{
			ImageInfo: ImageInfo{
				Keys:        []string{NoNewPrivsImage},
				Public:      []string{"registry.k8s.io/" + NoNewPrivsImage},
				Description: "USER 1000, runs a setuid-root program printing \"Effective uid: N\"",
			},
			kind: kindNoNewPrivs,
		},
		{
			ImageInfo: ImageInfo{
				Keys:        []string{PauseImage},
				Public:      []string{"registry.k8s.io/pause:3.9", "k8s.gcr.io/pause:3.9"},
				Description: "pause: sleeps until SIGTERM/SIGINT, exits 0",
			},
			kind: kindPause,
		},
		{
			// Not used by critest itself; common sandbox image defaults.
			ImageInfo: ImageInfo{
				Keys:        []string{"pause:3.10"},
				Public:      []string{"registry.k8s.io/pause:3.10"},
				Description: "pause (sandbox image default of recent runtimes)",
			},
			kind: kindPause,
		},
		{
			ImageInfo: ImageInfo{
				Keys:        []string{"pause:3.10.1"},
				Public:      []string{"registry.k8s.io/pause:3.10.1"},
				Description: "pause (sandbox image default of recent runtimes)",
			},
			kind: kindPause,
		},
		busyboxEntry("image pulled without a tag", "", TestImageLatest),
		busyboxEntry("image pulled by tag; image-volume source (sh, ls)", "", TestImageTagTest),
		busyboxEntry("image for the all-kinds-of-references spec", "", TestImageTagAll),
		withPublic(busyboxEntry("different tags, different images (1)", "", criToolsRepo+"test-image-1:latest"),
			"gcr.io/"+criToolsRepo+"test-image-1:latest"),
		withPublic(busyboxEntry("different tags, different images (2)", "", criToolsRepo+"test-image-2:latest"),
			"gcr.io/"+criToolsRepo+"test-image-2:latest"),
		withPublic(busyboxEntry("different tags, different images (3)", "", criToolsRepo+"test-image-3:latest"),
			"gcr.io/"+criToolsRepo+"test-image-3:latest"),
		busyboxEntry("one image with three tags", "",
			criToolsRepo+"test-image-tags:1", criToolsRepo+"test-image-tags:2", criToolsRepo+"test-image-tags:3"),
		busyboxEntry("USER 1002", "1002", criToolsRepo+"test-image-user-uid:latest"),
		busyboxEntry("USER www-data", "www-data", criToolsRepo+"test-image-user-username:latest"),
		busyboxEntry("USER 1003:1004", "1003:1004", criToolsRepo+"test-image-user-uid-group:latest"),
		busyboxEntry("USER www-data:1004", "www-data:1004", criToolsRepo+"test-image-user-username-group:latest"),
		{
			ImageInfo: ImageInfo{
				Keys:        []string{HostNetNginxImage},
				Public:      []string{"gcr.io/" + strings.TrimSuffix(HostNetNginxImage, ":latest")},
				Description: "web server on :12003 (host network specs)",
			},
			kind: kindHostNetNginx,
		},
	}
	pg := busyboxEntry("USER 1000 (default-user), member of group-defined-in-image (50000)", "1000", TestImagePredefGroup)
	pg.predefinedGroup = true
	c = append(c, pg)
	for _, tag := range []string{"1.35.0-glibc", "1-uclibc", "1", "1-glibc", "1-musl"} {
		c = append(c, busyboxEntry("benchmark image list (busybox)", "", "docker/library/busybox:"+tag))
	}
	return c
}

// Catalog describes every image BuildAll builds.
func Catalog() []ImageInfo {
	var out []ImageInfo
	for _, e := range catalog() {
		out = append(out, e.ImageInfo)
	}
	return out
}

// ImageNames returns the sorted keys (repository:tag) of all images.
func ImageNames() []string {
	var names []string
	for _, e := range catalog() {
		names = append(names, e.Keys...)
	}
	sort.Strings(names)
	return names
}

// DefaultWorkDir is the default cache directory for BuildAll:
// $TESTIMAGES_WORKDIR if set, else cri-shim-testimages in the user cache
// directory (or the temporary directory).
func DefaultWorkDir() string {
	if d := os.Getenv("TESTIMAGES_WORKDIR"); d != "" {
		return d
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "cri-shim-testimages")
}

// BuildAll builds every image of the catalogue and returns them by key
// (repository:tag without registry host, e.g. "e2e-test-images/busybox:1.29-2").
// Keys that are tags of the same image map to the same v1.Image. workDir
// caches the built helper programs; they are rebuilt only when missing.
func BuildAll(ctx context.Context, workDir string) (map[string]v1.Image, error) {
	if workDir == "" {
		return nil, errors.New("testimages: empty work directory")
	}
	workDir, err := filepath.Abs(workDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, err
	}
	if err := checkHostTools(); err != nil {
		return nil, err
	}

	progs, err := buildPrograms(ctx, workDir)
	if err != nil {
		return nil, fmt.Errorf("testimages: %w", err)
	}
	b := &builder{progs: progs}
	if b.base, err = baseLayer(ctx, progs[progPgrep]); err != nil {
		return nil, fmt.Errorf("testimages: busybox layer: %w", err)
	}
	if b.etc, err = etcLayer(false); err != nil {
		return nil, err
	}

	images := map[string]v1.Image{}
	for _, e := range catalog() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		img, err := b.build(e)
		if err != nil {
			return nil, fmt.Errorf("testimages: image %s: %w", e.Keys[0], err)
		}
		for _, k := range e.Keys {
			if _, dup := images[k]; dup {
				return nil, fmt.Errorf("testimages: duplicate image key %s", k)
			}
			images[k] = img
		}
	}
	return images, nil
}

type builder struct {
	progs map[string][]byte
	base  v1.Layer // busybox, libraries, ipcs, pgrep, directory skeleton
	etc   v1.Layer // default /etc
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func (b *builder) build(e catalogEntry) (v1.Image, error) {
	var (
		layers []addLayer
		cfg    v1.Config
		err    error
	)
	base := []addLayer{{b.base, "busybox " + hostBusybox + " with applets as hard links, ipcs, pgrep"}}
	switch e.kind {
	case kindBusybox:
		etc := b.etc
		if e.predefinedGroup {
			if etc, err = etcLayer(true); err != nil {
				return nil, err
			}
		}
		layers = append(base, addLayer{etc, "/etc"})
		cfg = v1.Config{Env: []string{"PATH=" + defaultPath}, Cmd: []string{"sh"}, User: e.user}

	case kindNginx, kindHostNetNginx:
		port := 80
		if e.kind == kindHostNetNginx {
			port = 12003
		}
		l, err := nginxLayer(b.progs[progNginx], port)
		if err != nil {
			return nil, err
		}
		layers = append(base, addLayer{b.etc, "/etc"}, addLayer{l, fmt.Sprintf("nginx look-alike listening on %d", port)})
		cfg = v1.Config{
			Env:          []string{"PATH=" + defaultPath, "NGINX_VERSION=1.14.2"},
			Cmd:          []string{"nginx", "-g", "daemon off;"},
			ExposedPorts: map[string]struct{}{fmt.Sprintf("%d/tcp", port): {}},
			StopSignal:   "SIGTERM",
		}

	case kindHttpd:
		l, err := httpdLayer(b.progs[progHTTPD])
		if err != nil {
			return nil, err
		}
		layers = append(base, addLayer{b.etc, "/etc"}, addLayer{l, "httpd look-alike"})
		cfg = v1.Config{
			Env:          []string{"PATH=/usr/local/apache2/bin:" + defaultPath, "HTTPD_PREFIX=/usr/local/apache2", "HTTPD_VERSION=2.4.39"},
			Cmd:          []string{"httpd-foreground"},
			WorkingDir:   "/usr/local/apache2",
			ExposedPorts: map[string]struct{}{"80/tcp": {}},
		}

	case kindNoNewPrivs:
		lb := newLayerBuilder()
		lb.Dir("/usr/local/bin", 0o755, 0, 0)
		lb.FileOwned("/usr/local/bin/nnp", 0o4755, 0, 0, b.progs[progNNP])
		l, err := lb.Layer()
		if err != nil {
			return nil, err
		}
		layers = append(base, addLayer{b.etc, "/etc"}, addLayer{l, "setuid-root /usr/local/bin/nnp"})
		cfg = v1.Config{Env: []string{"PATH=" + defaultPath}, Cmd: []string{"/usr/local/bin/nnp"}, User: "1000"}

	case kindPause:
		lb := newLayerBuilder()
		lb.File("/pause", 0o755, b.progs[progPause])
		l, err := lb.Layer()
		if err != nil {
			return nil, err
		}
		layers = []addLayer{{l, "/pause"}}
		cfg = v1.Config{Env: []string{"PATH=" + defaultPath}, Entrypoint: []string{"/pause"}, User: "65535:65535", WorkingDir: "/"}

	default:
		return nil, fmt.Errorf("unknown image kind %d", e.kind)
	}

	// A last small layer names the image, which also makes the IDs of
	// otherwise identical images (test-image-1/2/3, ...) distinct.
	marker, err := markerLayer(e.ImageInfo)
	if err != nil {
		return nil, err
	}
	layers = append(layers, addLayer{marker, "/etc/cri-shim-test-image"})
	cfg.Labels = map[string]string{"io.cri-shim.test-image": e.Keys[0]}
	return assemble(layers, cfg)
}

type addLayer struct {
	layer     v1.Layer
	createdBy string
}

func assemble(layers []addLayer, cfg v1.Config) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, l := range layers {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:     l.layer,
			MediaType: types.OCILayer,
			History: v1.History{
				Created:   v1.Time{Time: epoch},
				CreatedBy: "cri-shim testimages: " + l.createdBy,
			},
		})
		if err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = "amd64"
	cf.OS = "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Author = "cri-shim test images"
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

// baseLayer is the busybox root filesystem shared by most images.
func baseLayer(ctx context.Context, pgrep []byte) (v1.Layer, error) {
	lb := newLayerBuilder()
	for _, d := range []struct {
		path string
		mode int64
	}{
		{"/bin", 0o755}, {"/dev", 0o755}, {"/etc", 0o755}, {"/home", 0o755},
		{"/lib", 0o755}, {"/lib64", 0o755}, {"/mnt", 0o755}, {"/proc", 0o555},
		{"/root", 0o700}, {"/run", 0o755}, {"/sbin", 0o755}, {"/sys", 0o555},
		{"/tmp", 0o1777}, {"/usr", 0o755}, {"/usr/bin", 0o755}, {"/usr/sbin", 0o755},
		{"/usr/local", 0o755}, {"/usr/local/bin", 0o755}, {"/usr/local/sbin", 0o755},
		{"/var", 0o755}, {"/var/lib", 0o755}, {"/var/log", 0o755}, {"/var/run", 0o755},
		{"/var/spool", 0o755}, {"/var/tmp", 0o1777}, {"/var/www", 0o755},
	} {
		lb.Dir(d.path, d.mode, 0, 0)
	}

	if err := addDynamicBinary(lb, hostBusybox, "/bin/busybox"); err != nil {
		return nil, err
	}
	applets, err := busyboxApplets(ctx, hostBusybox)
	if err != nil {
		return nil, err
	}
	for _, a := range applets {
		// Hard links, not symlinks: masking /bin/ls must not mask
		// /bin/busybox or /bin/sh.
		lb.HardLink("/bin/"+a, "/bin/busybox")
	}
	if err := addDynamicBinary(lb, hostIpcs, "/usr/bin/ipcs"); err != nil {
		return nil, err
	}
	lb.File("/usr/bin/pgrep", 0o755, pgrep)
	return lb.Layer()
}

const basePasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
`

const baseGroup = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
`

// etcLayer is the /etc of the busybox-based images. Empty hosts, hostname and
// resolv.conf exist as mount points for the runtime.
func etcLayer(predefinedGroup bool) (v1.Layer, error) {
	passwd, group := basePasswd, baseGroup
	lb := newLayerBuilder()
	lb.Dir("/etc", 0o755, 0, 0)
	if predefinedGroup {
		passwd += "default-user:x:1000:1000:default-user:/home/default-user:/bin/sh\n"
		group += "default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n"
		lb.Dir("/home", 0o755, 0, 0)
		lb.Dir("/home/default-user", 0o755, 1000, 1000)
	}
	lb.File("/etc/passwd", 0o644, []byte(passwd))
	lb.File("/etc/group", 0o644, []byte(group))
	lb.File("/etc/nsswitch.conf", 0o644, []byte("passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n"))
	lb.File("/etc/hosts", 0o644, []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"))
	lb.File("/etc/hostname", 0o644, nil)
	lb.File("/etc/resolv.conf", 0o644, nil)
	return lb.Layer()
}

func nginxLayer(bin []byte, port int) (v1.Layer, error) {
	lb := newLayerBuilder()
	lb.File("/usr/sbin/nginx", 0o755, bin)
	lb.Dir("/etc/nginx", 0o755, 0, 0)
	lb.File("/etc/nginx/nginx.conf", 0o644, []byte(fmt.Sprintf(
		"# nginx look-alike configuration: only the listen port is used.\nuser nginx;\npid /var/run/nginx.pid;\nhttp {\n    server {\n        listen %d;\n        root /usr/share/nginx/html;\n    }\n}\n", port)))
	lb.Dir("/usr/share/nginx/html", 0o755, 0, 0)
	lb.File("/usr/share/nginx/html/index.html", 0o644, []byte("<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n</body>\n</html>\n"))
	lb.Dir("/var/cache/nginx", 0o755, 0, 0)
	lb.Dir("/var/log/nginx", 0o755, 0, 0)
	return lb.Layer()
}

func httpdLayer(bin []byte) (v1.Layer, error) {
	lb := newLayerBuilder()
	lb.Dir("/usr/local/apache2", 0o755, 0, 0)
	lb.Dir("/usr/local/apache2/bin", 0o755, 0, 0)
	lb.File("/usr/local/apache2/bin/httpd", 0o755, bin)
	lb.Dir("/usr/local/apache2/htdocs", 0o755, 0, 0)
	lb.File("/usr/local/apache2/htdocs/index.html", 0o644, []byte("<html><body><h1>It works!</h1></body></html>\n"))
	lb.Dir("/usr/local/apache2/logs", 0o755, 0, 0)
	lb.File("/usr/local/bin/httpd-foreground", 0o755, []byte("#!/bin/sh\nset -e\n\n# Apache gets grumpy about PID files pre-existing\nrm -f /usr/local/apache2/logs/httpd.pid\n\nexec /usr/local/apache2/bin/httpd -DFOREGROUND \"$@\"\n"))
	return lb.Layer()
}

func markerLayer(info ImageInfo) (v1.Layer, error) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "# cri-shim test image (look-alike, not the real image): %s\n", info.Description)
	for _, k := range info.Keys {
		fmt.Fprintf(&sb, "key: %s\n", k)
	}
	for _, p := range info.Public {
		fmt.Fprintf(&sb, "public: %s\n", p)
	}
	lb := newLayerBuilder()
	lb.Dir("/etc", 0o755, 0, 0)
	lb.File("/etc/cri-shim-test-image", 0o644, []byte(sb.String()))
	return lb.Layer()
}
