package images

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// basicAuth makes the registry want user:pass on every request.
func basicAuth(user, pass string) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if u, p, ok := r.BasicAuth(); ok && u == user && p == pass {
			return false
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
		return true
	}
}

// bearerAuth makes the registry want a bearer token, handed out at /token
// for user:pass (basic) or for the refresh token "refresh-1"; or, when
// token is given directly, that token.
func bearerAuth(host, user, pass string) func(w http.ResponseWriter, r *http.Request) bool {
	const token = "tok-123"
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/token" {
			ok := false
			if u, p, has := r.BasicAuth(); has && u == user && p == pass {
				ok = true
			}
			if r.Method == http.MethodPost {
				_ = r.ParseForm()
				ok = ok || (r.PostForm.Get("grant_type") == "refresh_token" && r.PostForm.Get("refresh_token") == "refresh-1")
			}
			if !ok {
				http.Error(w, "denied", http.StatusUnauthorized)
				return true
			}
			_ = json.NewEncoder(w).Encode(map[string]string{"token": token, "access_token": token})
			return true
		}
		if a := r.Header.Get("Authorization"); a == "Bearer "+token || a == "Bearer direct-token" {
			return false
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+host+`/token",service="test"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}`))
		return true
	}
}

func TestPullBasicAuth(t *testing.T) {
	reg := newTestRegistry(t)
	img := simpleImage(t, "secret")
	reg.push(t, "private/app", "v1", img)
	reg.setHook(basicAuth("alice", "s3cret"))
	e := newEnv(t, insecure(reg.Host))
	ctx := context.Background()
	ref := reg.Host + "/private/app:v1"

	_, err := e.svc.Pull(ctx, ref, nil)
	if !errors.Is(err, errdefs.ErrPermissionDenied) || !strings.Contains(err.Error(), ref) {
		t.Fatalf("anonymous pull: %v, want permission denied naming the image", err)
	}
	if _, err := e.svc.Pull(ctx, ref, &Credentials{Username: "alice", Password: "wrong"}); err == nil {
		t.Fatal("wrong password accepted")
	}
	for _, c := range []*Credentials{
		{Username: "alice", Password: "s3cret"},
		{Auth: base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))},
		{Username: "alice", Password: "s3cret", ServerAddress: "http://" + reg.Host},
	} {
		id, err := e.svc.Pull(ctx, ref, c)
		if err != nil || id != img.id() {
			t.Fatalf("pull with %+v: %s %v", *c, id, err)
		}
	}
	// Credentials for another server are not sent.
	if err := e.svc.Remove(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Pull(ctx, ref, &Credentials{Username: "alice", Password: "s3cret", ServerAddress: "other.example.com"}); err == nil {
		t.Fatal("credentials for another server were used")
	}
}

func TestPullBearerAuth(t *testing.T) {
	reg := newTestRegistry(t)
	img := simpleImage(t, "bearer")
	reg.push(t, "private/app", "v1", img)
	reg.setHook(bearerAuth(reg.Host, "bob", "pw"))
	e := newEnv(t, insecure(reg.Host))
	ctx := context.Background()
	ref := reg.Host + "/private/app:v1"
	if _, err := e.svc.Pull(ctx, ref, nil); err == nil {
		t.Fatal("anonymous pull accepted")
	}
	for _, c := range []*Credentials{
		{Username: "bob", Password: "pw"},
		{IdentityToken: "refresh-1"},
		{RegistryToken: "direct-token"},
	} {
		if err := e.svc.Remove(ctx, ref); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.GC(ctx); err != nil {
			t.Fatal(err)
		}
		id, err := e.svc.Pull(ctx, ref, c)
		if err != nil || id != img.id() {
			t.Fatalf("pull with %+v: %s %v", *c, id, err)
		}
	}
}
