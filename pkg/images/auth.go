package images

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// Credentials are the registry credentials a pull carries (CRI's AuthConfig).
type Credentials struct {
	Username string
	Password string
	// Auth is base64("username:password").
	Auth string
	// IdentityToken is an OAuth2 refresh token exchanged for access tokens.
	IdentityToken string
	// RegistryToken is a bearer token sent as is.
	RegistryToken string
	// ServerAddress names the registry the credentials are for. Empty: they
	// go to every endpoint of the image's registry, mirrors included (as in
	// containerd); set: only to endpoints on that host.
	ServerAddress string
}

func (c *Credentials) empty() bool {
	return c == nil || (c.Username == "" && c.Password == "" && c.Auth == "" && c.IdentityToken == "" && c.RegistryToken == "")
}

// fingerprint tells credentials apart without keeping them in clear: pulls
// share a download only when they authenticate alike.
func (c *Credentials) fingerprint() string {
	if c.empty() {
		return ""
	}
	h := sha256.New()
	for _, f := range []string{c.Username, c.Password, c.Auth, c.IdentityToken, c.RegistryToken, c.ServerAddress} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// authenticator returns what to present to endpoint ep of registry: the
// credentials when they apply to it, else anonymous.
func (c *Credentials) authenticator(registry string, ep config.Endpoint) (authn.Authenticator, error) {
	if c.empty() {
		return authn.Anonymous, nil
	}
	if c.ServerAddress != "" {
		host := serverHost(c.ServerAddress)
		matches := strings.EqualFold(host, ep.Host) || (!ep.Mirror && canonicalRegistry(host) == canonicalRegistry(registry))
		if !matches {
			return authn.Anonymous, nil
		}
	}
	cfg := authn.AuthConfig{
		Username: c.Username, Password: c.Password, Auth: c.Auth,
		IdentityToken: c.IdentityToken, RegistryToken: c.RegistryToken,
	}
	if cfg.Auth != "" && cfg.Username == "" && cfg.Password == "" {
		raw, err := base64.StdEncoding.DecodeString(cfg.Auth)
		if err != nil {
			return nil, fmt.Errorf("credentials for %s: auth is not base64: %w", registry, errdefs.ErrInvalidArgument)
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, fmt.Errorf("credentials for %s: auth is not username:password: %w", registry, errdefs.ErrInvalidArgument)
		}
		cfg.Username, cfg.Password = user, pass
	}
	return authn.FromConfig(cfg), nil
}

// serverHost takes the host[:port] out of a server address, which may be a
// URL ("https://index.docker.io/v1/") or a bare host.
func serverHost(addr string) string {
	if strings.Contains(addr, "://") {
		if u, err := url.Parse(addr); err == nil {
			return u.Host
		}
	}
	host, _, _ := strings.Cut(addr, "/")
	return host
}

// canonicalRegistry folds case and Docker Hub's several names into one.
func canonicalRegistry(host string) string {
	h := strings.ToLower(host)
	switch h {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return "docker.io"
	}
	return h
}
