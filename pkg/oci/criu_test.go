package oci

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCRIUErrorLines(t *testing.T) {
	log := filepath.Join(t.TempDir(), "dump.log")
	content := "(00.0001) Version: 3.17.1\n" +
		"(00.0002) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n" +
		"(00.0003) Error (criu/crtools.c:260): Could not initialize kernel features detection.\n"
	if err := os.WriteFile(log, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	want := "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds; Error (criu/crtools.c:260): Could not initialize kernel features detection."
	if got := CRIUErrors(log); got != want {
		t.Fatalf("got %q", got)
	}
	if CRIUErrors(filepath.Join(t.TempDir(), "none")) != "" {
		t.Fatal("missing log gave lines")
	}
}
