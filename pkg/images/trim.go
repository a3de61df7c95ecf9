package images

import (
	"runtime/debug"
	"sync"
	"time"
)

// trimDelay is how long the store waits after its last pull before it
// hands the memory pulls used back to the operating system.
const trimDelay = time.Second

// idleTrim returns the heap a burst of pulls grew (buffers, decompressors,
// manifests) to the operating system once no pull has run for trimDelay,
// rather than leaving it to the Go scavenger's slow pace: a node runtime is
// idle most of its life. It never runs while a pull is in flight, so no
// pull pays for it.
type idleTrim struct {
	mu       sync.Mutex
	inflight int
	timer    *time.Timer
	// release, if set, lets go of what the pulls kept for the next one
	// (the registry connections) before the heap is returned.
	release func()
}

// begin notes a pull starting.
func (t *idleTrim) begin() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inflight++
	if t.timer != nil {
		t.timer.Stop()
	}
}

// end notes a pull done; the last one arms the trim.
func (t *idleTrim) end() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inflight--
	if t.inflight > 0 {
		return
	}
	if t.timer == nil {
		t.timer = time.AfterFunc(trimDelay, t.fire)
		return
	}
	t.timer.Reset(trimDelay)
}

func (t *idleTrim) fire() {
	t.mu.Lock()
	idle := t.inflight == 0
	t.mu.Unlock()
	if idle {
		if t.release != nil {
			t.release()
		}
		debug.FreeOSMemory()
	}
}
