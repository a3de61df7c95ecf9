#!/usr/bin/env bash
# Builds CRIU from Debian's source (the orig tarball of the Debian package,
# checked against the digest below) into $TOOLS_DIR/criu-$CRIU_VERSION and
# links it as /usr/local/sbin/criu, where libcontainer finds it ahead of
# Debian's own /usr/sbin/criu. Debian 12's criu (3.17) cannot dump on kernel
# 6.18 (vDSO layout) and 4.1 hangs in its parasite there; 4.2.1 works. Skips
# the build when the binary is there. Run as root; about 2-5 minutes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CRIU_VERSION=${CRIU_VERSION:-4.2.1}
CRIU_SHA256=${CRIU_SHA256:-29ec0ee09e296479fe7048c80980e8ef1d0684d0b0204c2b101dfea19f6725b9}
TOOLS_DIR=${TOOLS_DIR:-/opt/cri-shim-tools}
CRIU_LINK=${CRIU_LINK:-/usr/local/sbin/criu}
out="$TOOLS_DIR/criu-$CRIU_VERSION"

log() { echo "build-criu: $*" >&2; }

if [[ ! -x $out/criu ]]; then
  install_packages build-essential pkgconf libbsd-dev libcap-dev libgnutls28-dev libnet1-dev libnftables-dev \
    libnl-3-dev libprotobuf-c-dev libprotobuf-dev protobuf-c-compiler protobuf-compiler uuid-dev \
    python3-protobuf curl xz-utils
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  tarball="criu_$CRIU_VERSION.orig.tar.xz"
  log "building CRIU $CRIU_VERSION from Debian's $tarball"
  curl -fsSL -o "$scratch/$tarball" "http://deb.debian.org/debian/pool/main/c/criu/$tarball"
  echo "$CRIU_SHA256  $scratch/$tarball" | sha256sum -c --quiet
  tar -C "$scratch" -xf "$scratch/$tarball"
  make -C "$scratch/criu-$CRIU_VERSION" -j"$(nproc)" criu >"$scratch/build.log" 2>&1 || {
    tail -30 "$scratch/build.log" >&2
    exit 1
  }
  mkdir -p "$out.tmp"
  cp "$scratch/criu-$CRIU_VERSION/criu/criu" "$out.tmp/criu"
  rm -rf "$out" && mv "$out.tmp" "$out"
fi
ln -sf "$out/criu" "$CRIU_LINK"
"$out/criu" --version | head -1 >&2
