package oci

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/monitor"
)

// spares are the spare monitors of a Runtime: started after a Create, so
// that the next one finds its create command's start-up (the Go runtime of
// the cri-shim binary, about half of a create here) done; stopped when
// creates stop for a while, so that an idle node keeps none.
type spares struct {
	mu       sync.Mutex
	idle     []*monitor.Spare
	starting int
	lastUse  time.Time
	timer    *time.Timer
	closed   bool
}

// startMonitor starts the monitor of a container: a spare's if one is
// ready, a new one otherwise. Afterwards it refills the spares.
func (r *Runtime) startMonitor(ctx context.Context, o monitor.Options) (*monitor.Monitor, error) {
	if r.Spares <= 0 {
		return monitor.Start(ctx, o)
	}
	defer r.refill()
	if s := r.takeSpare(); s != nil {
		m, err := s.Start(ctx, o)
		if !errors.Is(err, monitor.ErrSpareGone) {
			return m, err
		}
		klog.V(2).Infof("spare monitor %d: %v; starting a monitor", s.PID(), err)
	}
	return monitor.Start(ctx, o)
}

func (r *Runtime) takeSpare() *monitor.Spare {
	p := &r.spares
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastUse = time.Now()
	if n := len(p.idle); n > 0 {
		s := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return s
	}
	return nil
}

// refill starts spares up to r.Spares, in the background, and arms their
// expiry.
func (r *Runtime) refill() {
	p := &r.spares
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	for len(p.idle)+p.starting < r.Spares {
		p.starting++
		go r.startSpare()
	}
	r.armExpiryLocked()
}

// armExpiryLocked starts the spares' expiry unless it runs; r.spares.mu held.
func (r *Runtime) armExpiryLocked() {
	if r.spares.timer == nil {
		r.spares.timer = time.AfterFunc(r.spareIdle(), r.expireSpares)
	}
}

func (r *Runtime) spareIdle() time.Duration {
	if r.SpareIdle > 0 {
		return r.SpareIdle
	}
	return time.Minute
}

func (r *Runtime) startSpare() {
	bin := r.binary()
	s, err := monitor.StartSpare(bin, []string{bin, CreateArg, spareFlag}, r.StateRoot)
	p := &r.spares
	p.mu.Lock()
	p.starting--
	if err != nil || p.closed {
		p.mu.Unlock()
		if err != nil {
			klog.Errorf("spare monitor: %v", err)
		} else {
			s.Close()
		}
		return
	}
	p.idle = append(p.idle, s)
	r.armExpiryLocked()
	p.mu.Unlock()
}

// expireSpares lets the spares go once SpareIdle passed since the last
// Create, or checks again when it will have.
func (r *Runtime) expireSpares() {
	p := &r.spares
	p.mu.Lock()
	left := r.spareIdle() - time.Since(p.lastUse)
	if left > 0 && !p.closed {
		p.timer.Reset(left)
		p.mu.Unlock()
		return
	}
	idle := p.idle
	p.idle, p.timer = nil, nil
	p.mu.Unlock()
	for _, s := range idle {
		s.Close()
	}
}

// Close lets the spare monitors go and starts no more. Containers and
// their monitors are not touched.
func (r *Runtime) Close() {
	p := &r.spares
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.mu.Unlock()
	for _, s := range idle {
		s.Close()
	}
}
