#!/usr/bin/env bash
# Runs a kubelet in a mount namespace of its own, so it leaves the host's
# files alone:
#
#   hack/kubelet-in-ns.sh SHADOW_DIR KUBELET [KUBELET ARGS...]
#
# The namespace is a slave of the host's (host mounts and unmounts reach it,
# its own mounts stay private), and in it:
#   - the sysctls the kubelet rewrites at start (vm.overcommit_memory,
#     vm.panic_on_oom, kernel.panic, kernel.panic_on_oops,
#     kernel.keys.root_maxkeys, kernel.keys.root_maxbytes) are shadowed by
#     copies in SHADOW_DIR bind-mounted over /proc/sys/...;
#   - /var/lib and /var/log are empty tmpfs, because the kubelet hard-codes
#     /var/lib/kubelet/device-plugins and /var/log/containers. Its root dir,
#     pod log dir and manifests must therefore live elsewhere (cri-shim, in the
#     host namespace, must see the first two).
# The namespace ends with the kubelet: nothing of it outlives the process.
set -euo pipefail

if [[ ${1:-} != --in-ns ]]; then
  exec unshare --mount --propagation slave -- "$0" --in-ns "$@"
fi
shift
(($# >= 2)) || { echo "usage: $0 SHADOW_DIR KUBELET [ARGS...]" >&2; exit 2; }
shadow=$1
shift

mkdir -p "$shadow"
for s in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops \
  kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
  copy="$shadow/${s//\//.}"
  cat "/proc/sys/$s" >"$copy"
  mount --bind "$copy" "/proc/sys/$s"
done
for d in /var/lib /var/log; do
  mount -t tmpfs -o mode=0755,size=64m "kubelet-ns-${d##*/}" "$d"
done
exec "$@"
