// Package events fans out lifecycle events of pods and containers to
// subscribers (the CRI GetContainerEvents streams).
package events

import (
	"context"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// Kind is what happened.
type Kind int

// Event kinds, in the order a container goes through them.
const (
	Created Kind = iota
	Started
	Stopped
	Deleted
)

// Event is one lifecycle change.
type Event struct {
	// ID is the container's ID, or the pod's for pod events.
	ID string
	// PodID is the pod the container belongs to (for pods, ID again).
	PodID string
	// Pod is true for a pod sandbox event.
	Pod  bool
	Kind Kind
	At   time.Time
	// Snapshot is what the publisher saw when it happened (for a pod, its
	// *sandbox.Sandbox), or nil: subscribers report it rather than what is
	// there when they get to the event.
	Snapshot any
}

// Buffer is how many events a subscriber may fall behind before it is cut off.
const Buffer = 1024

// Broker delivers every published event to every subscriber.
type Broker struct {
	mu   sync.Mutex
	subs map[chan Event]struct{}
}

// NewBroker returns a broker with no subscribers.
func NewBroker() *Broker { return &Broker{subs: map[chan Event]struct{}{}} }

// Publish sends e to every subscriber without blocking; a subscriber whose
// buffer is full is cut off (its channel closed) rather than stalling the runtime.
func (b *Broker) Publish(e Event) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- e:
		default:
			klog.Warningf("event subscriber fell %d events behind: closing its stream", Buffer)
			delete(b.subs, ch)
			close(ch)
		}
	}
}

// Subscribe returns a channel of events until ctx ends (then it is closed).
func (b *Broker) Subscribe(ctx context.Context) <-chan Event {
	ch := make(chan Event, Buffer)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	context.AfterFunc(ctx, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
	})
	return ch
}
