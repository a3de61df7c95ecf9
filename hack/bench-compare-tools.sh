#!/usr/bin/env bash
# Builds the reference runtime `make bench-compare` measures cri-shim against:
# containerd (cmd/containerd, cmd/containerd-shim-runc-v2) and runc, from the
# Go module proxy, into a cache directory reused between runs. Each module is
# copied out of the module cache and built there, the way hack/deps.sh builds
# cri-tools, with the flags of the projects' release builds. Run as root.
#
# Prints the directory holding containerd, containerd-shim-runc-v2 and runc.
set -euo pipefail

CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
RUNC_VERSION=${RUNC_VERSION:-v1.5.2}
COMPARE_DIR=${COMPARE_DIR:-/opt/cri-shim-tools/compare}

log() { echo "bench-compare-tools: $*" >&2; }

out="$COMPARE_DIR/containerd-$CONTAINERD_VERSION-runc-$RUNC_VERSION"
if [[ -x $out/containerd && -x $out/containerd-shim-runc-v2 && -x $out/runc ]]; then
  echo "$out"
  exit 0
fi

scratch=$(mktemp -d)
trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT

# module_copy MODULE VERSION DIR: a writable copy of MODULE@VERSION in DIR.
module_copy() {
  local src
  src=$(cd "$scratch" && GOFLAGS=-mod=mod go mod download -json "$1@$2" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  [[ -n $src ]] || { log "cannot download $1@$2"; exit 1; }
  cp -r "$src" "$3"
  chmod -R u+w "$3"
}

mkdir -p "$out.tmp"

log "building containerd $CONTAINERD_VERSION (containerd, containerd-shim-runc-v2)"
module_copy github.com/containerd/containerd/v2 "$CONTAINERD_VERSION" "$scratch/containerd"
pkg=github.com/containerd/containerd/v2
ldflags="-s -w -X $pkg/version.Version=$CONTAINERD_VERSION -X $pkg/version.Package=github.com/containerd/containerd"
tags="urfave_cli_no_docs"
# The btrfs snapshotter needs the btrfs headers, which this machine lacks.
[[ -d /usr/include/btrfs ]] || tags="$tags no_btrfs"
(cd "$scratch/containerd" &&
  go build -mod=mod -trimpath -tags "$tags" -ldflags "$ldflags" -o "$out.tmp/containerd" ./cmd/containerd &&
  CGO_ENABLED=0 go build -mod=mod -trimpath -tags "$tags no_grpc" -ldflags "$ldflags" \
    -o "$out.tmp/containerd-shim-runc-v2" ./cmd/containerd-shim-runc-v2)

log "building runc $RUNC_VERSION"
module_copy github.com/opencontainers/runc "$RUNC_VERSION" "$scratch/runc"
(cd "$scratch/runc" &&
  go build -mod=mod -trimpath -buildmode=pie -tags "seccomp urfave_cli_no_docs" \
    -ldflags "-X main.gitCommit=$RUNC_VERSION" -o "$out.tmp/runc" .)

rm -rf "$out" && mv "$out.tmp" "$out"
log "ok: $out"
echo "$out"
