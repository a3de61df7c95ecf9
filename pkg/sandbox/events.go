package sandbox

import "time"

// EventKind is a change in a pod's life reported to Options.Events.
type EventKind int

// Pod events, in the order a pod goes through them. containerd reports
// them for sandboxes with the container event types, and so does the CRI
// layer here.
const (
	// EventCreated: the pod was made (sent with EventStarted).
	EventCreated EventKind = iota
	// EventStarted: the pod is ready.
	EventStarted
	// EventStopped: the pod stopped, or its PID 1 died; sent once.
	EventStopped
	// EventDeleted: the pod was removed.
	EventDeleted
)

// Event is one change in a pod's life.
type Event struct {
	// ID is the pod's ID.
	ID   string
	Kind EventKind
	At   time.Time
	// Sandbox is the pod as it was then; nil once deleted.
	Sandbox *Sandbox
}

// emit reports kind for pod id, if anyone listens. A stop is reported once
// per pod: the death of its PID 1 and a later StopPodSandbox are one stop.
func (m *Manager) emit(p *pod, kind EventKind) {
	if m.events == nil {
		return
	}
	p.mu.Lock()
	e := Event{ID: p.sb.ID, Kind: kind, At: time.Now()}
	if kind == EventStopped {
		if p.stopSent {
			p.mu.Unlock()
			return
		}
		p.stopSent = true
	}
	if kind != EventDeleted {
		sb := p.sb.clone()
		if kind == EventStopped && sb.State == StateReady {
			sb.State = StateNotReady // its PID 1 died
		}
		e.Sandbox = &sb
	}
	p.mu.Unlock()
	m.events(e)
}

// watchInit reports the stop of ready pod p when the PID 1 this process
// started for it dies on its own.
func (m *Manager) watchInit(p *pod) {
	p.mu.RLock()
	exited := p.initExited
	p.mu.RUnlock()
	if exited == nil || m.events == nil {
		return
	}
	go func() {
		<-exited
		p.mu.RLock()
		ready := p.sb.State == StateReady
		p.mu.RUnlock()
		if ready {
			m.emit(p, EventStopped)
		}
	}()
}
