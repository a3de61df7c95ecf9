// Package eventlog is a list of events that tests' stub plugins and
// observers append to from any goroutine and read back.
package eventlog

import (
	"slices"
	"sync"
)

// Log is a list of events, safe for concurrent use; its zero value is empty.
type Log struct {
	mu     sync.Mutex
	events []string
}

// Add appends an event.
func (l *Log) Add(e string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// Events returns a copy of the events so far.
func (l *Log) Events() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// Reset empties the log.
func (l *Log) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = nil
}
