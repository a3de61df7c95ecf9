// Package images is cri-shim's image store: it pulls images from registries
// (through go-containerregistry), imports them from tar archives, keeps their
// blobs content-addressed and their layers extracted once each, answers
// lookups by ID, tag or digest, and removes what no image and no container
// uses any more.
//
// On disk, under the store's root (<root_dir>/images):
//
//	blobs/sha256/<hex>        manifests, indexes, configs and compressed layers, verified
//	layers/<chainid-hex>/fs   one extracted layer, whiteouts in overlayfs form (a lowerdir)
//	layers/<chainid-hex>/layer.json   what the layer holds (diffID, bytes, inodes)
//	tmp/                      downloads and extractions in progress; emptied at start-up
//
// Everything lands in tmp first and is renamed into place when complete and
// verified, and an image's metadata record is written last, so a daemon
// killed at any point leaves no half-made image visible; what the crash left
// unreferenced is collected at the next start-up.
//
// Image records and tags live in the daemon's metadata store, in buckets
// prefixed "images.". Containers pin the layers they run on with a Lease,
// which survives restarts; garbage collection never removes a leased layer.
package images
