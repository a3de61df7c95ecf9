package admin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/images"
)

type fakeImporter struct{ got []byte }

func (f *fakeImporter) Import(_ context.Context, r io.Reader) ([]images.ImportedImage, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	f.got = b
	if string(b) == "bad" {
		return nil, fmt.Errorf("import: not an archive: %w", errdefs.ErrInvalidArgument)
	}
	return []images.ImportedImage{{ID: "sha256:abc", RepoTags: []string{"docker.io/library/x:1"}}}, nil
}

func TestImportOverSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), SocketName)
	imp := &fakeImporter{}
	srv, err := Serve(sock, imp)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if st, err := os.Stat(sock); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v %v", st.Mode(), err)
	}
	payload := bytes.Repeat([]byte("tar"), 1<<20)
	got, err := Import(context.Background(), sock, bytes.NewReader(payload))
	if err != nil || len(got) != 1 || got[0].ID != "sha256:abc" || !bytes.Equal(imp.got, payload) {
		t.Fatalf("import: %+v %v (server got %d bytes)", got, err, len(imp.got))
	}
	_, err = Import(context.Background(), sock, strings.NewReader("bad"))
	if err == nil || !strings.Contains(err.Error(), "not an archive") {
		t.Fatalf("failed import: %v", err)
	}
	// A restart after a crash finds the old socket file and replaces it;
	// a file that is not a socket is left alone.
	srv.Close()
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	srv2, err := Serve(sock, imp)
	if err != nil {
		t.Fatalf("serve over a stale socket: %v", err)
	}
	srv2.Close()
	notSock := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notSock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Serve(notSock, imp); err == nil {
		t.Fatal("served over a regular file")
	}
}
