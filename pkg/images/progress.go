package images

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// progressSink is told what a pull is doing. what names the step: a layer
// ("layer sha256:..."), "manifest", "config".
type progressSink interface {
	// started says step what began; size is its byte count when known (else 0).
	started(what string, size int64)
	// moved says step what went forward by n bytes (0: worked without new data,
	// e.g. extracting).
	moved(what string, n int64)
	// finished says step what ended.
	finished(what string)
}

// sinkSet fans progress out to every pull waiting for a shared download.
type sinkSet struct {
	mu    sync.Mutex
	sinks []progressSink
}

func (s *sinkSet) add(p progressSink) {
	if p == nil {
		return
	}
	s.mu.Lock()
	s.sinks = append(s.sinks, p)
	s.mu.Unlock()
}

func (s *sinkSet) remove(p progressSink) {
	if p == nil {
		return
	}
	s.mu.Lock()
	if i := slices.Index(s.sinks, p); i >= 0 {
		s.sinks = slices.Delete(s.sinks, i, i+1)
	}
	s.mu.Unlock()
}

func (s *sinkSet) each(fn func(progressSink)) {
	s.mu.Lock()
	sinks := slices.Clone(s.sinks)
	s.mu.Unlock()
	for _, p := range sinks {
		fn(p)
	}
}

func (s *sinkSet) started(what string, size int64) {
	s.each(func(p progressSink) { p.started(what, size) })
}
func (s *sinkSet) moved(what string, n int64) { s.each(func(p progressSink) { p.moved(what, n) }) }
func (s *sinkSet) finished(what string)       { s.each(func(p progressSink) { p.finished(what) }) }

// progressReader reports every read to sink as step what: the bytes read,
// or only that work goes on (busy: reading back what is on disk already).
type progressReader struct {
	r    io.Reader
	what string
	sink progressSink
	busy bool
}

func (p *progressReader) checksDigest() bool { return checksDigest(p.r) }

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if p.busy {
		p.sink.moved(p.what, 0)
	} else {
		p.sink.moved(p.what, int64(n))
	}
	return n, err
}

// pullProgress tracks one pull: it logs bytes done of total at intervals and
// cancels the pull when nothing moved for the progress timeout.
type pullProgress struct {
	image   string
	last    atomic.Int64 // unix nanoseconds of the last movement
	fetched atomic.Int64 // bytes received from registries

	mu          sync.Mutex
	steps       map[string]*stepProgress
	done, total int64
	layersDone  int
	layersTotal int
}

type stepProgress struct {
	size, done int64
	last       time.Time
}

func newPullProgress(image string) *pullProgress {
	p := &pullProgress{image: image, steps: map[string]*stepProgress{}}
	p.last.Store(time.Now().UnixNano())
	return p
}

// plan sets what the pull has to move: total layer bytes and layer count,
// of which done bytes and layersDone layers are on disk already.
func (p *pullProgress) plan(total, done int64, layersTotal, layersDone int) {
	p.mu.Lock()
	p.total, p.done, p.layersTotal, p.layersDone = total, done, layersTotal, layersDone
	p.mu.Unlock()
}

func (p *pullProgress) started(what string, size int64) {
	now := time.Now()
	p.last.Store(now.UnixNano())
	p.mu.Lock()
	p.steps[what] = &stepProgress{size: size, last: now}
	p.mu.Unlock()
}

func (p *pullProgress) moved(what string, n int64) {
	now := time.Now()
	p.last.Store(now.UnixNano())
	if n == 0 {
		return
	}
	p.fetched.Add(n)
	p.mu.Lock()
	if st := p.steps[what]; st != nil {
		st.done += n
		st.last = now
	}
	p.done += n
	p.mu.Unlock()
}

func (p *pullProgress) finished(what string) {
	p.last.Store(time.Now().UnixNano())
	p.mu.Lock()
	delete(p.steps, what)
	if len(what) > 6 && what[:6] == "layer " {
		p.layersDone++
	}
	p.mu.Unlock()
}

// stalled names the step that has waited longest for data.
func (p *pullProgress) stalled() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var worst string
	var at time.Time
	for what, st := range p.steps {
		if worst == "" || st.last.Before(at) || (st.last.Equal(at) && what < worst) {
			worst, at = what, st.last
		}
	}
	if worst == "" {
		return "between steps"
	}
	st := p.steps[worst]
	if st.size > 0 {
		return fmt.Sprintf("%s stalled at %s of %s", worst, byteCount(st.done), byteCount(st.size))
	}
	return worst + " stalled"
}

func (p *pullProgress) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("%s of %s, %d of %d layers", byteCount(p.done), byteCount(p.total), p.layersDone, p.layersTotal)
}

// watch returns ctx cancelled, with an ErrDeadlineExceeded cause naming the
// image and the stalled step, once nothing moved for timeout; it logs the
// progress every logEvery. stop ends the watch.
func (p *pullProgress) watch(ctx context.Context, timeout, logEvery time.Duration) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	check := min(max(timeout/8, 10*time.Millisecond), time.Second, max(logEvery, 10*time.Millisecond))
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(check)
		defer tick.Stop()
		nextLog := time.Now().Add(logEvery)
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-tick.C:
				if idle := now.Sub(time.Unix(0, p.last.Load())); idle >= timeout {
					cancel(fmt.Errorf("image %s: %s: no progress for %s: %w",
						p.image, p.stalled(), timeout, errdefs.ErrDeadlineExceeded))
					return
				}
				if now.After(nextLog) {
					klog.Infof("pulling image %s: %s", p.image, p)
					nextLog = now.Add(logEvery)
				}
			}
		}
	}()
	return ctx, func() {
		close(done)
		wg.Wait()
		cancel(nil)
	}
}

// byteCount writes n bytes in binary units: "512 B", "1.5 MiB".
func byteCount(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
