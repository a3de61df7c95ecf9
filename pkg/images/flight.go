package images

import (
	"context"
	"sync"
)

// flightGroup runs at most one piece of work per key at a time; callers
// asking for a key already in flight wait for that work instead of starting
// their own. The work runs on a context of its own, cancelled when every
// caller waiting for it has given up, so one impatient caller does not fail
// the others and an abandoned download does not run on.
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done   chan struct{}
	val    any
	err    error
	refs   int
	cancel context.CancelCauseFunc
	sinks  *sinkSet
}

// do runs work for key, or joins the run in flight. sink (may be nil)
// receives the work's progress for as long as this caller waits. shared
// reports whether the caller joined a run started by another.
func (g *flightGroup) do(ctx context.Context, key string, sink progressSink,
	work func(ctx context.Context, sinks *sinkSet) (any, error)) (val any, shared bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, context.Cause(ctx)
	}
	g.mu.Lock()
	if g.m == nil {
		g.m = map[string]*flight{}
	}
	f, shared := g.m[key]
	if shared {
		f.refs++
	} else {
		wctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), refs: 1, cancel: cancel, sinks: &sinkSet{}}
		g.m[key] = f
		go func() {
			v, err := work(wctx, f.sinks)
			g.mu.Lock()
			if g.m[key] == f {
				delete(g.m, key)
			}
			g.mu.Unlock()
			f.val, f.err = v, err
			close(f.done)
			cancel(nil)
		}()
	}
	f.sinks.add(sink)
	g.mu.Unlock()

	select {
	case <-f.done:
		f.sinks.remove(sink)
		return f.val, shared, f.err
	case <-ctx.Done():
		f.sinks.remove(sink)
		g.mu.Lock()
		if f.refs--; f.refs == 0 {
			// Nobody waits any more: stop the work, and let the next caller
			// start afresh rather than join a cancelled run.
			if g.m[key] == f {
				delete(g.m, key)
			}
			f.cancel(context.Cause(ctx))
		}
		g.mu.Unlock()
		return nil, shared, context.Cause(ctx)
	}
}
