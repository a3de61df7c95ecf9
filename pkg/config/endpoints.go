package config

import (
	"maps"
	"slices"
	"strings"
)

// dockerHubEndpoint is where Docker Hub's registry API is actually served.
const dockerHubEndpoint = "registry-1.docker.io"

// Endpoint is one place to pull from for a registry host, in order: mirrors
// first, then the registry itself. Requests go to
// http[s]://Host + PathPrefix + "/v2/...".
type Endpoint struct {
	Host          string // host[:port] to connect to
	PathPrefix    string // "" or "/some/prefix" (no trailing slash); mirrors only
	PlainHTTP     bool   // http:// rather than https://
	SkipTLSVerify bool   // accept an unverified TLS certificate (an insecure registry itself)
	Mirror        bool   // a mirror, not the registry itself
}

// Endpoints lists where to pull images of registryHost from: its mirrors in
// the configured order, then the registry itself (plain http when the
// registry is insecure; Docker Hub's real host for docker.io). The host
// matches its [registries] key case-insensitively, and docker.io,
// index.docker.io and registry-1.docker.io all name Docker Hub.
func (c *Config) Endpoints(registryHost string) []Endpoint {
	if registryHost == "" {
		return nil
	}
	rc, _ := c.Registry(registryHost)
	eps := make([]Endpoint, 0, len(rc.Mirrors)+1)
	for _, m := range rc.Mirrors {
		if ep, err := parseMirror(m); err == nil { // Validate reports bad mirrors
			eps = append(eps, ep)
		}
	}
	host := registryHost
	if canonicalRegistry(host) == "docker.io" {
		host = dockerHubEndpoint
	}
	return append(eps, Endpoint{Host: host, PlainHTTP: rc.Insecure, SkipTLSVerify: rc.Insecure})
}

// Registry returns the [registries] settings for registryHost, matched as in
// Endpoints, and whether the file has any.
func (c *Config) Registry(registryHost string) (RegistryConfig, bool) {
	if c == nil {
		return RegistryConfig{}, false
	}
	if rc, ok := c.Registries[registryHost]; ok {
		return rc, true
	}
	want := canonicalRegistry(registryHost)
	for _, k := range slices.Sorted(maps.Keys(c.Registries)) {
		if canonicalRegistry(k) == want {
			return c.Registries[k], true
		}
	}
	return RegistryConfig{}, false
}

// canonicalRegistry folds case and Docker Hub's names into one spelling.
func canonicalRegistry(host string) string {
	h := strings.ToLower(host)
	switch h {
	case "docker.io", "index.docker.io", dockerHubEndpoint:
		return "docker.io"
	}
	return h
}
