package images

import "github.com/opencontainers/go-digest"

// Content keys name a blob or a layer in pins, usage and collection.
func blobKey(d digest.Digest) string  { return "blob:" + d.String() }
func layerKey(c digest.Digest) string { return "layer:" + c.String() }

// pin marks content as in use by a pull or import in flight, so that the
// collector leaves it alone although no record references it yet. Pin
// before looking whether the content exists.
func (s *Service) pin(keys []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		s.pins[k]++
	}
}

// unpin releases pins taken by pin. It also bumps the commit generation, so
// that a collection that read the records before this pull or import wrote
// its own starts over instead of removing what the new record references.
func (s *Service) unpin(keys []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	for _, k := range keys {
		if s.pins[k]--; s.pins[k] <= 0 {
			delete(s.pins, k)
		}
	}
}
