// Package admin serves cri-shim's administrative API on a unix socket of its
// own (<state_dir>/admin.sock, root only), beside the CRI socket, and is its
// client. Today it has one call, image import, used by
// `cri-shim images import FILE` for air-gapped nodes.
//
// It is plain HTTP rather than an extra gRPC service: an import is one
// stream of bytes (often gigabytes) answered by one small result, which an
// HTTP request body carries as it comes, with no message-size limits, no
// chunking protocol and no generated code, and which curl can drive:
//
//	curl --unix-socket /run/cri-shim/admin.sock -T image.tar http://cri-shim/images/import
//
// Keeping it off the CRI socket means the kubelet's endpoint exposes only
// CRI, and the admin socket can be locked down separately (mode 0600).
package admin
