package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cri-shim/cri-shim/internal/faultinject"
	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/metadata"
	"github.com/cri-shim/cri-shim/pkg/network"
)

// Network attaches pods to the pod network. *network.CNI is the real one.
type Network interface {
	// Plan returns the attachment a pod would get; nothing runs yet.
	Plan(podID, netns string, meta network.PodMeta, caps network.Capabilities) (*network.Attachment, error)
	// Add attaches the pod.
	Add(ctx context.Context, a *network.Attachment) (*network.Result, error)
	// Del detaches it; idempotent.
	Del(ctx context.Context, a *network.Attachment) error
	// Check verifies the attachment.
	Check(ctx context.Context, a *network.Attachment) error
	// GC tears down attachments that are not in valid.
	GC(ctx context.Context, valid []*network.Attachment) error
}

// Options configure a Manager.
type Options struct {
	// Store holds the pod records.
	Store metadata.Store
	// Config returns the settings in force.
	Config func() *config.Config
	// Network attaches pods; nil means CNI (network.NewCNI).
	Network Network
	// Hooks act on the pods' containers; nil means none.
	Hooks ContainerHooks
	// PodInitExe is the binary re-executed as a pod's PID 1 with arguments
	// PodInitArgs, "pod-init", the pod ID; default /proc/self/exe.
	PodInitExe  string
	PodInitArgs []string
	// PodInitEnv is the pod PID 1's environment (default empty).
	PodInitEnv []string
	// Events, if set, is told of every pod made, stopped and removed. It
	// must not block or call back into the Manager.
	Events func(Event)
	// NRI, if set, is told of the pod lifecycle points (NRI plugins).
	NRI PodHooks
}

// Manager runs the node's pods.
type Manager struct {
	store    metadata.Store
	cfg      func() *config.Config
	net      Network
	hooks    atomic.Pointer[ContainerHooks]
	initExe  string
	initArgs []string
	initEnv  []string
	faults   faultinject.Points
	cgroups  *cgroupTree
	events   func(Event)
	nri      PodHooks

	mu    sync.RWMutex
	pods  map[string]*pod
	names map[string]string // name key -> pod ID, from reservation until removal
}

// pod is one pod in memory. op serializes Run, Stop and Remove on it and is
// held across their slow work; mu guards sb and is held only to read or
// change it.
type pod struct {
	op sync.Mutex

	mu sync.RWMutex
	sb Sandbox
	// initExited is closed when a PID 1 this process started exits.
	initExited <-chan struct{}
	// check is the last CNI CHECK of the pod's network.
	check NetworkCheck
	// stopSent is true once the pod's stop was reported.
	stopSent bool
	// holds counts the containers being made in the pod (see HoldReady);
	// idle, made with the first, is closed when the last is done.
	holds int
	idle  chan struct{}
}

func (p *pod) get() Sandbox {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.sb.clone()
}

func (p *pod) update(fn func(sb *Sandbox)) Sandbox {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn(&p.sb)
	return p.sb.clone()
}

// New returns a manager; call Recover before serving.
func New(o Options) (*Manager, error) {
	if o.Store == nil || o.Config == nil {
		return nil, errors.New("sandbox manager: store and config are required")
	}
	m := &Manager{
		store:    o.Store,
		cfg:      o.Config,
		net:      o.Network,
		initExe:  o.PodInitExe,
		initArgs: o.PodInitArgs,
		initEnv:  o.PodInitEnv,
		faults:   faultinject.FromEnv(FaultEnv),
		cgroups:  newCgroupTree(),
		events:   o.Events,
		nri:      o.NRI,
		pods:     map[string]*pod{},
		names:    map[string]string{},
	}
	if m.net == nil {
		m.net = network.NewCNI(o.Config)
	}
	if m.initExe == "" {
		m.initExe = "/proc/self/exe"
	}
	if m.initEnv == nil {
		m.initEnv = []string{}
	}
	if m.nri == nil {
		m.nri = noPodHooks{}
	}
	m.SetContainerHooks(o.Hooks)
	return m, nil
}

// SetContainerHooks installs the hooks StopPodSandbox and RemovePodSandbox
// call; nil means none.
func (m *Manager) SetContainerHooks(h ContainerHooks) {
	if h == nil {
		h = NoContainers{}
	}
	m.hooks.Store(&h)
}

func (m *Manager) containers() ContainerHooks { return *m.hooks.Load() }

// nameKey is what makes a pod unique: namespace, name, UID and attempt.
func nameKey(c *Config) string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%d", c.Namespace, c.Name, c.UID, c.Attempt)
}

// newID returns a fresh pod ID: 64 hex characters.
func newID() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("pod id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// isID reports whether s has the form of a pod ID; only such strings
// become paths.
func isID(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// reserve claims the pod's name for id.
func (m *Manager) reserve(key, id string, p *pod, c *Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if other, ok := m.names[key]; ok {
		return fmt.Errorf("pod %s/%s (uid %s, attempt %d) is already taken by pod %s: %w",
			c.Namespace, c.Name, c.UID, c.Attempt, other, errdefs.ErrAlreadyExists)
	}
	m.names[key] = id
	m.pods[id] = p
	return nil
}

// forget removes pod id and frees its name.
func (m *Manager) forget(id string, c *Config) {
	key := nameKey(c)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.names[key] == id {
		delete(m.names, key)
	}
	delete(m.pods, id)
}

// lookup finds a pod by ID or unique ID prefix; a pod still being created
// is not visible. It returns nil when there is none.
func (m *Manager) lookup(idOrPrefix string) (*pod, error) {
	if idOrPrefix == "" {
		return nil, fmt.Errorf("pod id is required: %w", errdefs.ErrInvalidArgument)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	p := m.pods[idOrPrefix]
	if p == nil {
		var found []string
		for id, q := range m.pods {
			if strings.HasPrefix(id, idOrPrefix) {
				found = append(found, id)
				p = q
			}
		}
		if len(found) > 1 {
			return nil, fmt.Errorf("pod id prefix %q matches %d pods: %w", idOrPrefix, len(found), errdefs.ErrInvalidArgument)
		}
	}
	if p == nil {
		return nil, nil
	}
	p.mu.RLock()
	creating := p.sb.State == StateCreating
	p.mu.RUnlock()
	if creating {
		return nil, nil
	}
	return p, nil
}

// WithReadyPod runs fn with pod id while no Stop or Remove of the pod can
// run, so that a container is never made in a pod being stopped. A pod that
// is not ready gives errdefs.ErrFailedPrecondition, an unknown one
// errdefs.ErrNotFound. fn must be quick-ish and must not call back into the
// Manager for the same pod; the ContainerHooks must not call WithReadyPod.
func (m *Manager) WithReadyPod(ctx context.Context, id string, fn func(sb Sandbox) error) error {
	p, err := m.lookup(id)
	if err != nil {
		return err
	}
	if p == nil {
		return fmt.Errorf("pod %s: %w", id, errdefs.ErrNotFound)
	}
	p.op.Lock()
	defer p.op.Unlock()
	sb := observe(p)
	switch sb.State {
	case StateReady:
		return fn(sb)
	case StateCreating:
		return fmt.Errorf("pod %s: %w", id, errdefs.ErrNotFound)
	}
	return fmt.Errorf("pod %s is not ready (%s): %w", sb.ID, sb.State, errdefs.ErrFailedPrecondition)
}
