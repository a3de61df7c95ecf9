package images

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/metadata"
)

// Metadata buckets of the image store.
const (
	bucketImages = "images.images" // image ID -> imageRecord
	bucketRefs   = "images.refs"   // normalized tag or digest reference -> image ID
	bucketLeases = "images.leases" // lease owner -> leaseRecord
)

// imageRecord is one stored image.
type imageRecord struct {
	ID                string          `json:"id"` // the config digest
	ManifestDigest    digest.Digest   `json:"manifestDigest"`
	ManifestMediaType string          `json:"manifestMediaType"`
	Layers            []layerRecord   `json:"layers"`
	Blobs             []digest.Digest `json:"blobs"` // every blob kept for the image: indexes, manifest, config, layers
	RepoTags          []string        `json:"repoTags"`
	RepoDigests       []string        `json:"repoDigests"`
	Size              uint64          `json:"size"`
	User              string          `json:"user"`
	Pinned            bool            `json:"pinned,omitempty"`
	Stored            time.Time       `json:"stored"`
}

// layerRecord is one layer of a stored image.
type layerRecord struct {
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
	Size      int64         `json:"size"`
	DiffID    digest.Digest `json:"diffID"`
	ChainID   digest.Digest `json:"chainID"`
}

// getRecord reads the image id.
func getRecord(tx metadata.Tx, id string) (imageRecord, error) {
	var rec imageRecord
	if err := metadata.GetJSON(tx, bucketImages, id, &rec); err != nil {
		if errdefs.IsNotFound(err) {
			return rec, fmt.Errorf("image %s: %w", id, errdefs.ErrNotFound)
		}
		return rec, err
	}
	return rec, nil
}

// putRecord stores rec under names (tags and repo@digest references),
// merging with a record of the same ID. A name that pointed to another image
// moves: that image loses it and keeps its other names, or none.
func putRecord(tx metadata.Tx, rec imageRecord, tags, digests []string) error {
	if cur, err := getRecord(tx, rec.ID); err == nil {
		rec.RepoTags = mergeNames(cur.RepoTags, nil)
		rec.RepoDigests = mergeNames(cur.RepoDigests, nil)
		rec.Blobs = mergeDigests(cur.Blobs, rec.Blobs)
		rec.Pinned = rec.Pinned || cur.Pinned
	} else if !errdefs.IsNotFound(err) {
		return err
	}
	for _, n := range append(slices.Clone(tags), digests...) {
		if err := takeName(tx, n, rec.ID); err != nil {
			return err
		}
	}
	rec.RepoTags = mergeNames(rec.RepoTags, tags)
	rec.RepoDigests = mergeNames(rec.RepoDigests, digests)
	return metadata.PutJSON(tx, bucketImages, rec.ID, rec)
}

// takeName points name at image id, taking it from the image it named before.
func takeName(tx metadata.Tx, name, id string) error {
	old, err := tx.Get(bucketRefs, name)
	switch {
	case err == nil && string(old) != id:
		prev, err := getRecord(tx, string(old))
		if err == nil {
			prev.RepoTags = slices.DeleteFunc(prev.RepoTags, func(s string) bool { return s == name })
			prev.RepoDigests = slices.DeleteFunc(prev.RepoDigests, func(s string) bool { return s == name })
			if err := metadata.PutJSON(tx, bucketImages, prev.ID, prev); err != nil {
				return err
			}
		} else if !errdefs.IsNotFound(err) {
			return err
		}
	case err != nil && !errdefs.IsNotFound(err):
		return err
	}
	return tx.Put(bucketRefs, name, []byte(id))
}

// deleteRecord removes image rec and the names pointing at it.
func deleteRecord(tx metadata.Tx, rec imageRecord) error {
	for _, n := range append(slices.Clone(rec.RepoTags), rec.RepoDigests...) {
		if cur, err := tx.Get(bucketRefs, n); err == nil && string(cur) == rec.ID {
			if err := tx.Delete(bucketRefs, n); err != nil {
				return err
			}
		}
	}
	return tx.Delete(bucketImages, rec.ID)
}

// lookup finds the image s names: an ID ("sha256:<hex>" or bare hex), a
// tag or digest reference in any spelling that normalizes alike, or an
// unambiguous ID prefix.
func lookup(tx metadata.Tx, s string) (imageRecord, error) {
	notFound := fmt.Errorf("image %q: %w", s, errdefs.ErrNotFound)
	if s == "" {
		return imageRecord{}, fmt.Errorf("image reference: empty: %w", errdefs.ErrInvalidArgument)
	}
	if idPattern.MatchString(s) {
		s = "sha256:" + s
	}
	if strings.HasPrefix(s, "sha256:") {
		if len(s) == len("sha256:")+64 {
			if rec, err := getRecord(tx, s); err == nil || !errdefs.IsNotFound(err) {
				return rec, err
			}
			return imageRecord{}, notFound
		}
		return lookupPrefix(tx, s, notFound)
	}
	if ref, err := ParseReference(s); err == nil {
		if id, err := tx.Get(bucketRefs, ref.String()); err == nil {
			return getRecord(tx, string(id))
		} else if !errdefs.IsNotFound(err) {
			return imageRecord{}, err
		}
	}
	if len(s) >= 4 && strings.Trim(s, "0123456789abcdef") == "" {
		return lookupPrefix(tx, "sha256:"+s, notFound)
	}
	return imageRecord{}, notFound
}

// lookupPrefix finds the one image whose ID starts with prefix.
func lookupPrefix(tx metadata.Tx, prefix string, notFound error) (imageRecord, error) {
	var found []string
	err := tx.ForEach(bucketImages, func(k string, _ []byte) error {
		if strings.HasPrefix(k, prefix) {
			found = append(found, k)
		}
		return nil
	})
	switch {
	case err != nil:
		return imageRecord{}, err
	case len(found) == 0:
		return imageRecord{}, notFound
	case len(found) > 1:
		return imageRecord{}, fmt.Errorf("image ID prefix %q matches %d images: %w", prefix, len(found), errdefs.ErrInvalidArgument)
	}
	return getRecord(tx, found[0])
}

// allRecords reads every image record.
func allRecords(tx metadata.Tx) ([]imageRecord, error) {
	var out []imageRecord
	err := tx.ForEach(bucketImages, func(k string, _ []byte) error {
		rec, err := getRecord(tx, k)
		if err != nil {
			return err
		}
		out = append(out, rec)
		return nil
	})
	return out, err
}

func mergeNames(a, b []string) []string {
	out := slices.Clone(a)
	for _, n := range b {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func mergeDigests(a, b []digest.Digest) []digest.Digest {
	out := slices.Clone(a)
	for _, d := range b {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}
