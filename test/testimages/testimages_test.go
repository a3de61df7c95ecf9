package testimages

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

var (
	buildOnce sync.Once
	built     map[string]v1.Image
	buildErr  error
)

// allImages builds the catalogue once per test binary. The helper programs
// are cached in DefaultWorkDir (shared with cmd/testregistry), so only the
// first run on a machine pays for compiling them.
func allImages(t *testing.T) map[string]v1.Image {
	t.Helper()
	buildOnce.Do(func() {
		built, buildErr = BuildAll(context.Background(), DefaultWorkDir())
	})
	if buildErr != nil {
		t.Fatalf("BuildAll: %v", buildErr)
	}
	return built
}

func image(t *testing.T, key string) v1.Image {
	t.Helper()
	img, ok := allImages(t)[key]
	if !ok {
		t.Fatalf("image %s not built", key)
	}
	return img
}

func imageID(t *testing.T, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

type fsEntry struct {
	hdr  *tar.Header
	data []byte
}

// imageFS flattens the image layers into path -> entry ("/bin/sh"). Our
// layers never contain whiteouts.
func imageFS(t *testing.T, img v1.Image) map[string]fsEntry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	fs := map[string]fsEntry{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(path.Base(hdr.Name), ".wh.") {
				t.Fatalf("unexpected whiteout %s", hdr.Name)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			fs[path.Clean("/"+hdr.Name)] = fsEntry{hdr: hdr, data: data}
		}
		rc.Close()
	}
	return fs
}

func config(t *testing.T, img v1.Image) *v1.ConfigFile {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

func TestCatalogCoversKeysAndPublicNames(t *testing.T) {
	images := allImages(t)

	var keys []string
	for k := range images {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := ImageNames(); !slices.Equal(keys, want) {
		t.Fatalf("BuildAll keys = %v, want %v", keys, want)
	}

	// Every reference critest uses must be served, with the host dropped
	// and the repository path kept, as a mirror (or --registry-prefix)
	// would request it.
	critestRefs := []string{
		"registry.k8s.io/e2e-test-images/busybox:1.29-2",
		"registry.k8s.io/e2e-test-images/nginx:1.14-2",
		"registry.k8s.io/e2e-test-images/httpd:2.4.39-4",
		"registry.k8s.io/e2e-test-images/nonewprivs:1.3",
		"registry.k8s.io/pause:3.9",
		"k8s.gcr.io/pause:3.9",
		"gcr.io/k8s-staging-cri-tools/test-image-latest",
		"gcr.io/k8s-staging-cri-tools/test-image-tag:test",
		"gcr.io/k8s-staging-cri-tools/test-image-tag:all",
		"gcr.io/k8s-staging-cri-tools/test-image-1:latest",
		"gcr.io/k8s-staging-cri-tools/test-image-2:latest",
		"gcr.io/k8s-staging-cri-tools/test-image-3:latest",
		"gcr.io/k8s-staging-cri-tools/test-image-tags:1",
		"gcr.io/k8s-staging-cri-tools/test-image-tags:2",
		"gcr.io/k8s-staging-cri-tools/test-image-tags:3",
		"gcr.io/k8s-staging-cri-tools/test-image-user-uid",
		"gcr.io/k8s-staging-cri-tools/test-image-user-username",
		"gcr.io/k8s-staging-cri-tools/test-image-user-uid-group",
		"gcr.io/k8s-staging-cri-tools/test-image-user-username-group",
		"gcr.io/k8s-staging-cri-tools/test-image-predefined-group",
		"gcr.io/k8s-staging-cri-tools/hostnet-nginx-amd64",
		"public.ecr.aws/docker/library/busybox:1.35.0-glibc",
		"public.ecr.aws/docker/library/busybox:1-uclibc",
		"public.ecr.aws/docker/library/busybox:1",
		"public.ecr.aws/docker/library/busybox:1-glibc",
		"public.ecr.aws/docker/library/busybox:1-musl",
	}
	var public []string
	for _, info := range Catalog() {
		public = append(public, info.Public...)
		if len(info.Keys) == 0 || info.Description == "" {
			t.Errorf("incomplete catalogue entry %+v", info)
		}
	}
	for _, ref := range critestRefs {
		if !slices.Contains(public, ref) {
			t.Errorf("catalogue does not list public reference %s", ref)
		}
	}
	for _, ref := range append(critestRefs, public...) {
		r, err := name.ParseReference(ref, name.WithDefaultTag("latest"))
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		key := r.Context().RepositoryStr() + ":" + r.Identifier()
		if _, ok := images[key]; !ok {
			t.Errorf("%s would be requested as %s, which is not built", ref, key)
		}
	}
}

func TestImageConfigs(t *testing.T) {
	images := allImages(t)
	for key, img := range images {
		cf := config(t, img)
		if cf.OS != "linux" || cf.Architecture != "amd64" {
			t.Errorf("%s: platform %s/%s, want linux/amd64", key, cf.OS, cf.Architecture)
		}
		if len(cf.RootFS.DiffIDs) == 0 {
			t.Errorf("%s: no layers", key)
		}
		if len(cf.Config.Cmd) == 0 && len(cf.Config.Entrypoint) == 0 {
			t.Errorf("%s: no default command", key)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Layers) != len(cf.RootFS.DiffIDs) {
			t.Errorf("%s: %d manifest layers, %d diff IDs", key, len(m.Layers), len(cf.RootFS.DiffIDs))
		}
	}

	users := map[string]string{
		criToolsRepo + "test-image-user-uid:latest":            "1002",
		criToolsRepo + "test-image-user-username:latest":       "www-data",
		criToolsRepo + "test-image-user-uid-group:latest":      "1003:1004",
		criToolsRepo + "test-image-user-username-group:latest": "www-data:1004",
		TestImagePredefGroup:                                   "1000",
		NoNewPrivsImage:                                        "1000",
		BusyboxImage:                                           "",
		PauseImage:                                             "65535:65535",
	}
	for key, want := range users {
		if got := config(t, images[key]).Config.User; got != want {
			t.Errorf("%s: User = %q, want %q", key, got, want)
		}
	}

	if got := config(t, images[NginxImage]).Config.Cmd; !slices.Equal(got, []string{"nginx", "-g", "daemon off;"}) {
		t.Errorf("nginx Cmd = %q", got)
	}
	if got := config(t, images[PauseImage]).Config.Entrypoint; !slices.Equal(got, []string{"/pause"}) {
		t.Errorf("pause Entrypoint = %q", got)
	}
}

func TestImageIdentity(t *testing.T) {
	images := allImages(t)

	same := [][]string{
		{criToolsRepo + "test-image-tags:1", criToolsRepo + "test-image-tags:2", criToolsRepo + "test-image-tags:3"},
	}
	for _, group := range same {
		id := imageID(t, images[group[0]])
		for _, k := range group[1:] {
			if got := imageID(t, images[k]); got != id {
				t.Errorf("%s has ID %s, want the ID %s of %s", k, got, id, group[0])
			}
		}
	}

	// Everything else must be pairwise distinct (critest lists, removes and
	// counts them by ID).
	seen := map[string]string{}
	for _, info := range Catalog() {
		id := imageID(t, images[info.Keys[0]])
		if other, dup := seen[id]; dup {
			t.Errorf("%s and %s share image ID %s", info.Keys[0], other, id)
		}
		seen[id] = info.Keys[0]
	}
}

func TestBuildIsReproducible(t *testing.T) {
	first := allImages(t)
	second, err := BuildAll(context.Background(), DefaultWorkDir())
	if err != nil {
		t.Fatal(err)
	}
	for key, img := range first {
		if a, b := imageID(t, img), imageID(t, second[key]); a != b {
			t.Errorf("%s: image ID changed between builds: %s vs %s", key, a, b)
		}
		d1, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		d2, err := second[key].Digest()
		if err != nil {
			t.Fatal(err)
		}
		if d1 != d2 {
			t.Errorf("%s: manifest digest changed between builds: %s vs %s", key, d1, d2)
		}
	}
}

// busyboxBased are the images the specs exec shell commands in.
var busyboxBased = []string{
	BusyboxImage, NginxImage, HttpdImage, TestImageTagTest, TestImagePredefGroup,
	HostNetNginxImage, NoNewPrivsImage, "docker/library/busybox:1",
}

func TestBusyboxContent(t *testing.T) {
	applets := []string{
		"sh", "echo", "sleep", "top", "ls", "cat", "id", "hostname", "touch", "mkdir",
		"mount", "chmod", "seq", "sync", "grep", "netstat", "ping", "pidof", "dd",
		"brctl", "wget", "kill", "ip",
	}
	for _, key := range busyboxBased {
		t.Run(strings.ReplaceAll(key, "/", "_"), func(t *testing.T) {
			fs := imageFS(t, image(t, key))

			bb, ok := fs["/bin/busybox"]
			if !ok || bb.hdr.Typeflag != tar.TypeReg || bb.hdr.Mode&0o111 == 0 {
				t.Fatalf("/bin/busybox missing or not an executable file")
			}
			for _, a := range applets {
				e, ok := fs["/bin/"+a]
				switch {
				case !ok:
					t.Errorf("applet /bin/%s missing", a)
				case e.hdr.Typeflag != tar.TypeLink || e.hdr.Linkname != "bin/busybox":
					t.Errorf("/bin/%s is not a hard link to bin/busybox (type %c, link %q)", a, e.hdr.Typeflag, e.hdr.Linkname)
				}
			}
			for _, p := range []string{"/usr/bin/ipcs", "/usr/bin/pgrep"} {
				if e, ok := fs[p]; !ok || e.hdr.Typeflag != tar.TypeReg || e.hdr.Mode&0o111 == 0 {
					t.Errorf("%s missing or not executable", p)
				}
			}
			if e, ok := fs["/tmp"]; !ok || e.hdr.Typeflag != tar.TypeDir || e.hdr.Mode&0o7777 != 0o1777 {
				t.Errorf("/tmp is not a 1777 directory")
			}
			for _, d := range []string{"/var/run", "/proc", "/sys", "/dev", "/root", "/etc"} {
				if e, ok := fs[d]; !ok || e.hdr.Typeflag != tar.TypeDir {
					t.Errorf("%s is not a directory", d)
				}
			}
			passwd := string(fs["/etc/passwd"].data)
			for _, u := range []string{"root:x:0:0:", "nobody:x:65534:65534:", "www-data:x:33:33:"} {
				if !strings.Contains(passwd, u) {
					t.Errorf("/etc/passwd lacks %q", u)
				}
			}
			if !strings.Contains(string(fs["/etc/group"].data), "root:x:0:") {
				t.Errorf("/etc/group lacks root")
			}
			checkELFDeps(t, fs)
		})
	}
}

// checkELFDeps verifies that every dynamically linked executable or library
// of the image finds its interpreter and libraries inside the image.
func checkELFDeps(t *testing.T, fs map[string]fsEntry) {
	t.Helper()
	resolve := func(p string) (fsEntry, bool) {
		e, ok := fs[p]
		if ok && e.hdr.Typeflag == tar.TypeLink {
			e, ok = fs["/"+e.hdr.Linkname]
		}
		return e, ok
	}
	checked := 0
	for p, e := range fs {
		if e.hdr.Typeflag != tar.TypeReg || !bytes.HasPrefix(e.data, []byte("\x7fELF")) {
			continue
		}
		f, err := elf.NewFile(bytes.NewReader(e.data))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				b := make([]byte, prog.Filesz)
				if _, err := prog.ReadAt(b, 0); err != nil {
					t.Fatal(err)
				}
				interp := string(bytes.TrimRight(b, "\x00"))
				if _, ok := resolve(interp); !ok {
					t.Errorf("%s: interpreter %s not in image", p, interp)
				}
			}
		}
		libs, _ := f.ImportedLibraries()
		for _, lib := range libs {
			found := false
			for _, dir := range libDirs {
				if _, ok := resolve(path.Join(dir, lib)); ok {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s: needs %s, not in the image's library directories", p, lib)
			}
		}
		f.Close()
		checked++
	}
	if checked == 0 {
		t.Errorf("no ELF files found")
	}
}

func TestSpecialImageContent(t *testing.T) {
	t.Run("nonewprivs", func(t *testing.T) {
		fs := imageFS(t, image(t, NoNewPrivsImage))
		e, ok := fs["/usr/local/bin/nnp"]
		if !ok {
			t.Fatal("/usr/local/bin/nnp missing")
		}
		if e.hdr.Uid != 0 || e.hdr.Gid != 0 || e.hdr.Mode&0o7777 != 0o4755 {
			t.Errorf("nnp: uid %d gid %d mode %o, want root-owned 4755", e.hdr.Uid, e.hdr.Gid, e.hdr.Mode)
		}
		if got := config(t, image(t, NoNewPrivsImage)).Config.Cmd; !slices.Equal(got, []string{"/usr/local/bin/nnp"}) {
			t.Errorf("Cmd = %q", got)
		}
	})
	t.Run("predefined-group", func(t *testing.T) {
		fs := imageFS(t, image(t, TestImagePredefGroup))
		if !strings.Contains(string(fs["/etc/passwd"].data), "default-user:x:1000:1000:") {
			t.Errorf("/etc/passwd lacks default-user 1000:1000")
		}
		group := string(fs["/etc/group"].data)
		if !strings.Contains(group, "\ngroup-defined-in-image:x:50000:default-user\n") {
			t.Errorf("/etc/group lacks group-defined-in-image:x:50000:default-user:\n%s", group)
		}
	})
	t.Run("pause", func(t *testing.T) {
		fs := imageFS(t, image(t, PauseImage))
		if e, ok := fs["/pause"]; !ok || e.hdr.Mode&0o111 == 0 || !bytes.HasPrefix(e.data, []byte("\x7fELF")) {
			t.Fatalf("/pause missing or not an executable")
		}
		f, err := elf.NewFile(bytes.NewReader(fs["/pause"].data))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("/pause is dynamically linked")
			}
		}
	})
	for _, key := range []string{NginxImage, HostNetNginxImage} {
		t.Run(key, func(t *testing.T) {
			fs := imageFS(t, image(t, key))
			if _, ok := fs["/usr/sbin/nginx"]; !ok {
				t.Errorf("/usr/sbin/nginx missing")
			}
			port := "80"
			if key == HostNetNginxImage {
				port = "12003"
			}
			if conf := string(fs["/etc/nginx/nginx.conf"].data); !strings.Contains(conf, "listen "+port+";") {
				t.Errorf("nginx.conf does not listen on %s:\n%s", port, conf)
			}
		})
	}
	t.Run("httpd", func(t *testing.T) {
		fs := imageFS(t, image(t, HttpdImage))
		for _, p := range []string{"/usr/local/apache2/bin/httpd", "/usr/local/bin/httpd-foreground"} {
			if e, ok := fs[p]; !ok || e.hdr.Mode&0o111 == 0 {
				t.Errorf("%s missing or not executable", p)
			}
		}
	})
}

func TestPushAndPull(t *testing.T) {
	images := allImages(t)

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	if err := Push(ctx, u.Host, images); err != nil {
		t.Fatalf("Push: %v", err)
	}

	for key, img := range images {
		ref, err := name.ParseReference(u.Host+"/"+key, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		remoteImg, err := remote.Image(ref, remote.WithContext(ctx))
		if err != nil {
			t.Errorf("pull %s: %v", ref, err)
			continue
		}
		want, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		got, err := remoteImg.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: pulled manifest digest %s, pushed %s", key, got, want)
		}
		if a, b := imageID(t, remoteImg), imageID(t, img); a != b {
			t.Errorf("%s: pulled image ID %s, pushed %s", key, a, b)
		}
	}

	// Read back the layers of one image completely; remote layers verify
	// their digests while being read.
	ref, err := name.ParseReference(u.Host+"/"+BusyboxImage, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	remoteImg, err := remote.Image(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	layers, err := remoteImg.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Errorf("reading layer: %v", err)
		}
		if err := rc.Close(); err != nil {
			t.Errorf("closing layer: %v", err)
		}
	}

	// An unknown tag must not resolve.
	missing, err := name.ParseReference(u.Host+"/e2e-test-images/busybox:no-such-tag", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(missing, remote.WithContext(ctx)); err == nil {
		t.Errorf("HEAD %s succeeded", missing)
	}

	if err := Push(ctx, "bad/host", images); err == nil {
		t.Errorf("Push to an invalid host succeeded")
	}
}
