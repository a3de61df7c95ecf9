package sandbox

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"github.com/cri-shim/cri-shim/pkg/network"
)

func itoa(i int) string { return strconv.Itoa(i) }

// fakeNetwork attaches nothing; it records calls and fails on demand.
type fakeNetwork struct {
	mu      sync.Mutex
	adds    map[string]int
	dels    map[string]int
	failDel error
	gcValid []*network.Attachment
	gcCalls int
}

func newFakeNetwork() *fakeNetwork {
	return &fakeNetwork{adds: map[string]int{}, dels: map[string]int{}}
}

func (f *fakeNetwork) Plan(podID, netns string, meta network.PodMeta, caps network.Capabilities) (*network.Attachment, error) {
	return &network.Attachment{PodID: podID, NetNS: netns, IfName: "eth0", Capabilities: caps, Network: "fake"}, nil
}

func (f *fakeNetwork) Add(ctx context.Context, a *network.Attachment) (*network.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.adds[a.PodID]++
	return &network.Result{IPs: []string{"192.0.2.10", "2001:db8::10"}}, nil
}

func (f *fakeNetwork) Del(ctx context.Context, a *network.Attachment) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dels[a.PodID]++
	return f.failDel
}

func (f *fakeNetwork) Check(ctx context.Context, a *network.Attachment) error { return nil }

func (f *fakeNetwork) GC(ctx context.Context, valid []*network.Attachment) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gcCalls++
	f.gcValid = valid
	return nil
}

func (f *fakeNetwork) setFailDel(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failDel = err
}

// slowNetwork blocks ADD until release is closed.
type slowNetwork struct {
	fakeNetwork
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (s *slowNetwork) Add(ctx context.Context, a *network.Attachment) (*network.Result, error) {
	s.once.Do(func() { close(s.entered) })
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &network.Result{IPs: []string{"192.0.2.11"}}, nil
}

func (s *slowNetwork) Del(ctx context.Context, a *network.Attachment) error { return nil }

var errBroken = errors.New("plugin broken")
