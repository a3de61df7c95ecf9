#!/usr/bin/env bash
# Measures what libcontainer itself costs on this machine: runc v1.5.2 (the
# one `make bench-compare` builds) creates, starts and deletes a container of
# busybox `true` N times (default 40), with the namespaces, mounts, masked
# and read-only paths of `runc spec` (a new network namespace left out: a
# CRI container joins its pod's). Prints the medians; `runc --version` is
# runc's own start (a Go binary), to subtract from create and start, where
# cri-shim runs libcontainer in a process started ahead (a spare monitor).
# Everything it makes (bundle, state, cgroups under /cri-shim-floor) is
# removed on exit. Run as root: ./hack/runc-floor.sh [N]
set -euo pipefail

n=${1:-40}
runc="$(./hack/bench-compare-tools.sh)/runc"
work=$(mktemp -d)
state="$work/state"
cleanup() {
  for id in $("$runc" --root "$state" list -q 2>/dev/null); do
    "$runc" --root "$state" delete -f "$id" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
  for d in /sys/fs/cgroup/*/cri-shim-floor; do
    [[ -d $d ]] && rmdir "$d" 2>/dev/null || true
  done
}
trap cleanup EXIT

bundle="$work/bundle"
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/dev" "$bundle/rootfs/sys" "$bundle/rootfs/tmp"
cp "$(command -v busybox)" "$bundle/rootfs/bin/busybox"
ln -s busybox "$bundle/rootfs/bin/true"
for lib in $(ldd "$(command -v busybox)" 2>/dev/null | grep -o '/[^ ]*'); do
  mkdir -p "$bundle/rootfs$(dirname "$lib")"
  cp "$lib" "$bundle/rootfs$lib"
done
(cd "$bundle" && "$runc" spec)
python3 - "$bundle/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
s = json.load(open(p))
s["process"]["args"] = ["/bin/true"]
s["process"]["terminal"] = False
s["root"]["readonly"] = False
s["linux"]["namespaces"] = [ns for ns in s["linux"]["namespaces"] if ns["type"] != "network"]
s["linux"]["cgroupsPath"] = "/cri-shim-floor/c"
json.dump(s, open(p, "w"))
EOF

now() { date +%s%N; }
results="$work/results"
cd "$bundle"
for i in $(seq "$n"); do
  id="floor$i"
  t0=$(now)
  "$runc" --root "$state" create "$id" </dev/null >/dev/null
  t1=$(now)
  "$runc" --root "$state" start "$id"
  t2=$(now)
  until "$runc" --root "$state" state "$id" | grep -q '"status": "stopped"'; do sleep 0.001; done
  t3=$(now)
  "$runc" --root "$state" delete "$id"
  t4=$(now)
  "$runc" --version >/dev/null
  t5=$(now)
  echo "$(((t1 - t0) / 1000)) $(((t2 - t1) / 1000)) $(((t4 - t3) / 1000)) $(((t5 - t4) / 1000))" >>"$results"
done
python3 - "$results" <<'EOF'
import statistics, sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1])]
names = ["runc create", "runc start", "runc delete", "runc --version (runc's own start)"]
print(f"{len(rows)} containers, medians (ms):")
for i, name in enumerate(names):
    v = [r[i] / 1000 for r in rows]
    print(f"  {name:36s} {statistics.median(v):7.1f}   min {min(v):6.1f}")
c, s, v = (statistics.median(r[i] / 1000 for r in rows) for i in (0, 1, 3))
print(f"  create + start less two runc starts   {c + s - 2 * v:7.1f}")
EOF
