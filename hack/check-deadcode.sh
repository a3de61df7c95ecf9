#!/usr/bin/env bash
# Fails when the daemon's binary holds a call the Go linker cannot resolve
# to method names: reflect.Value.Method or MethodByName (or reflect.Type's)
# with a name known only at run time. One such call anywhere makes the
# linker keep every exported method of every type in the binary: with
# libcontainer's CRIU debug logging (patched in third_party/runc) the binary
# was 26.0 MB instead of 21.5 MB, and the idle daemon's RSS 2 MiB larger,
# since the kernel maps most of the binary's pages (see hack/rssmap).
# Also fails when NRI's WASM plugin host is linked although the build tags
# leave WASM out (third_party/nri/adaptation makes it unreachable; 0.45 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
tags=${TAGS:?"the Makefile's build tags (make lint passes them)"}
deps=$(mktemp)
trap 'rm -f "$deps"' EXIT
go build -tags "$tags" -ldflags=-dumpdep -o /dev/null ./cmd/cri-shim 2>"$deps"
if grep -q '<ReflectMethod>' "$deps"; then
	echo "check-deadcode: these functions call reflect's Method or MethodByName with a name known only at run time,"
	echo "so the linker keeps every exported method in the binary (go build -ldflags=-dumpdep shows what reaches them):"
	grep '<ReflectMethod>' "$deps" | awk '{print "  " $1}' | sort -u
	exit 1
fi
wasm='-> type:github.com/containerd/nri/pkg/api.pluginPlugin$'
if grep -q -- "$wasm" "$deps"; then
	echo "check-deadcode: NRI's WASM plugin host (api.pluginPlugin and the vtproto code it calls) is in the binary, reached from:"
	grep -- "$wasm" "$deps" | awk '{print "  " $1}' | sort -u
	exit 1
fi
echo "check-deadcode: ok (the linker drops unused methods and NRI's WASM host)"
