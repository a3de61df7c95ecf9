#!/usr/bin/env bash
# Installs what building and testing cri-shim needs on a fresh Debian machine,
# skipping whatever is already there: Debian packages, crictl, critest and the
# ginkgo CLI from cri-tools, the CNI plugins, CRIU and staticcheck. Run as root.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CRI_TOOLS_VERSION=${CRI_TOOLS_VERSION:-v1.37.0}
GINKGO_VERSION=${GINKGO_VERSION:-v2.32.1}
CNI_PLUGINS_VERSION=${CNI_PLUGINS_VERSION:-v1.10.0}
TOOLS_DIR=${TOOLS_DIR:-/opt/cri-shim-tools}
CNI_BIN_DIR=${CNI_BIN_DIR:-/opt/cni/bin}

log() { echo "deps: $*" >&2; }

# Debian packages: the C toolchain with the static libc and libseccomp the
# binary links in, and the host tools tests and critest use.
install_packages gcc libc6-dev libseccomp-dev iptables busybox util-linux procps iproute2 kmod

# cri-tools: crictl, critest (a Ginkgo test binary) and the ginkgo CLI.
tools="$TOOLS_DIR/cri-tools-$CRI_TOOLS_VERSION"
if [[ ! -x $tools/critest || ! -x $tools/crictl || ! -x $tools/ginkgo ]]; then
  log "building crictl, critest and ginkgo from sigs.k8s.io/cri-tools@$CRI_TOOLS_VERSION"
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  src=$(cd "$scratch" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/cri-tools@$CRI_TOOLS_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  cp -r "$src" "$scratch/cri-tools"
  chmod -R u+w "$scratch/cri-tools"
  mkdir -p "$tools.tmp"
  (cd "$scratch/cri-tools" &&
    go build -o "$tools.tmp/crictl" ./cmd/crictl &&
    go test -c -o "$tools.tmp/critest" ./cmd/critest &&
    GOBIN="$tools.tmp" go install "github.com/onsi/ginkgo/v2/ginkgo@$GINKGO_VERSION")
  rm -rf "$tools" && mv "$tools.tmp" "$tools"
fi
for t in crictl critest ginkgo; do ln -sf "$tools/$t" "/usr/local/bin/$t"; done

# CNI plugins, built static from the module proxy.
stamp="$CNI_BIN_DIR/.cri-shim-plugins-$CNI_PLUGINS_VERSION"
if [[ ! -e $stamp ]]; then
  log "building CNI plugins $CNI_PLUGINS_VERSION into $CNI_BIN_DIR"
  mkdir -p "$CNI_BIN_DIR"
  pkgs=()
  for p in main/bridge main/loopback main/ptp main/host-device main/macvlan main/ipvlan main/vlan \
    ipam/host-local ipam/static meta/portmap meta/bandwidth meta/firewall meta/tuning; do
    pkgs+=("github.com/containernetworking/plugins/plugins/$p@$CNI_PLUGINS_VERSION")
  done
  CGO_ENABLED=0 GOBIN="$CNI_BIN_DIR" go install "${pkgs[@]}"
  touch "$stamp"
fi
# CRIU for checkpoint and restore: Debian 12's cannot dump on kernel 6.18.
"$(dirname "$0")/build-criu.sh"
# staticcheck for make lint.
STATICCHECK_VERSION=${STATICCHECK_VERSION:-v0.8.2}
if [[ ! -x $TOOLS_DIR/staticcheck-$STATICCHECK_VERSION/staticcheck ]]; then
  log "building staticcheck $STATICCHECK_VERSION"
  GOBIN="$TOOLS_DIR/staticcheck-$STATICCHECK_VERSION" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
ln -sf "$TOOLS_DIR/staticcheck-$STATICCHECK_VERSION/staticcheck" /usr/local/bin/staticcheck
log "ok"
