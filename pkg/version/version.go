// Package version holds the build's version, set at link time by the Makefile.
package version

// Version is cri-shim's release, set with -ldflags "-X .../pkg/version.Version=...".
var Version = "0.0.0-dev"

// GitCommit is the commit the binary was built from, set at link time.
var GitCommit = "unknown"

// RuntimeName is the name cri-shim reports in the CRI Version call.
const RuntimeName = "cri-shim"

// CRIAPIVersion is the CRI API version served.
const CRIAPIVersion = "v1"
