#!/usr/bin/env bash
# Builds a real kubelet from the Go module proxy, outside the repository's
# go.mod: a scratch module requires k8s.io/kubernetes at KUBE_VERSION and
# replaces every staging module (k8s.io/api, k8s.io/client-go, ...) with its
# v0.x.y release, then `go build k8s.io/kubernetes/cmd/kubelet`.
# The binary is cached: $TOOLS_DIR/kubelet-$KUBE_VERSION/kubelet. It prints
# the binary's path on stdout. About 5-8 minutes on an idle 2-core VM (17 min
# measured while other builds ran), seconds with a warm Go build cache.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
TOOLS_DIR=${TOOLS_DIR:-/opt/cri-shim-tools}
dir="$TOOLS_DIR/kubelet-$KUBE_VERSION"
bin="$dir/kubelet"

log() { echo "build-kubelet: $*" >&2; }

if [[ -x $bin ]] && "$bin" --version 2>/dev/null | grep -qx "Kubernetes $KUBE_VERSION"; then
  echo "$bin"
  exit 0
fi

staging_version="v0.${KUBE_VERSION#v1.}"
minor=${KUBE_VERSION#v1.}
minor=${minor%%.*}
scratch=$(mktemp -d /tmp/kubelet-build-XXXXXX)
trap 'rm -rf "$scratch" "$dir.tmp.$$"' EXIT
start=$(date +%s)
log "building kubelet $KUBE_VERSION (staging modules $staging_version) in $scratch"

cd "$scratch"
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=${CGO_ENABLED:-1}
go mod init kubelet-build >/dev/null 2>&1
# The staging modules are the ones kubernetes' own go.mod replaces with ./staging/src/...
kgomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
[[ -f $kgomod ]] || { log "cannot read k8s.io/kubernetes@$KUBE_VERSION go.mod"; exit 1; }
mapfile -t staging < <(sed -n 's#^\s*\(replace \)\?\(k8s\.io/[^ ]*\) => \./staging/src/.*#\2#p' "$kgomod" | sort -u)
((${#staging[@]} > 10)) || { log "found only ${#staging[@]} staging modules in $kgomod"; exit 1; }
log "${#staging[@]} staging modules"
go mod edit -go=1.26 -require="k8s.io/kubernetes@$KUBE_VERSION"
for m in "${staging[@]}"; do
  go mod edit -replace="$m=$m@$staging_version"
done
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kubelet"
GO
if ! go mod tidy >"$scratch/tidy.log" 2>&1; then
  cat "$scratch/tidy.log" >&2
  log "go mod tidy failed in the scratch module"
  exit 1
fi
tmp="$dir.tmp.$$"
mkdir -p "$tmp"
go build -trimpath \
  -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION" \
  -o "$tmp/kubelet" k8s.io/kubernetes/cmd/kubelet
rm -rf "$dir" && mv "$tmp" "$dir"
log "built $bin in $(($(date +%s) - start)) s"
echo "$bin"
