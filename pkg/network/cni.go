package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// gcMinVersion is the first CNI spec version with GC. libcni's GC of an
// older configuration deletes every cached attachment missing from the
// valid list, with no plugin-side GC to check it: it is not run.
const gcMinVersion = "1.1.0"

// ErrGCSkipped reports that GC was not run for the network in force.
var ErrGCSkipped = errors.New("cni gc skipped")

// CNI attaches pods to the pod network through libcni, with the runtime's
// own cache dir and every plugin run bounded by the plugin timeout. It reads
// the configuration in force at each call.
type CNI struct {
	cfg func() *config.Config
	// podCIDR is the kubelet's pod CIDR (UpdateRuntimeConfig), if any.
	podCIDR atomic.Pointer[[]netip.Prefix]
	// firstAdds holds a *firstAdd per network name.
	firstAdds sync.Map
}

// firstAdd serializes a network's plugin ADDs until one has succeeded.
// Plugins set up host-wide state on their first ADD with a check and then a
// create (portmap's CNI-HOSTPORT-* chains, firewall's CNI-FORWARD): two
// first ADDs at once, as a node's pods start after a reboot, fail one pod
// with "chain already exists" (containernetworking/plugins#418 and the
// nf_tables exit status 4 that EnsureChain does not take for "exists").
// Once an ADD has succeeded, ADDs run in parallel; a failed one makes the
// next serialized again, in case that state was removed meanwhile.
type firstAdd struct {
	// turn is held by the ADD running alone (a channel, so that a caller
	// gone waits no more).
	turn chan struct{}
	done atomic.Bool
}

// enter waits for the network's first ADD when none has succeeded yet, and
// returns the function to call with the ADD's outcome.
func (f *firstAdd) enter(ctx context.Context) (leave func(ok bool), err error) {
	if !f.done.Load() {
		select {
		case f.turn <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if !f.done.Load() {
			return func(ok bool) {
				f.done.Store(ok)
				<-f.turn
			}, nil
		}
		<-f.turn
	}
	return func(ok bool) {
		if !ok {
			f.done.Store(false)
		}
	}, nil
}

// firstAddOf returns the gate of network name.
func (c *CNI) firstAddOf(name string) *firstAdd {
	f, _ := c.firstAdds.LoadOrStore(name, &firstAdd{turn: make(chan struct{}, 1)})
	return f.(*firstAdd)
}

// NewCNI returns the pod network over the settings cfg returns.
func NewCNI(cfg func() *config.Config) *CNI {
	return &CNI{cfg: cfg}
}

func (c *CNI) lib() *libcni.CNIConfig {
	cfg := c.cfg()
	return libcni.NewCNIConfigWithCacheDir(cfg.CNI.BinDirs, cfg.CNICacheDir(),
		&boundedExec{timeout: cfg.CNI.PluginTimeout.Duration})
}

func (c *CNI) load() (*Network, error) {
	cfg := c.cfg()
	cidrs := c.PodCIDR()
	if len(cidrs) == 0 {
		return Load(cfg.CNI.ConfDir, cfg.CNI.BridgeName, cfg.CNI.Subnet)
	}
	n, err := Load(cfg.CNI.ConfDir, cfg.CNI.BridgeName, joinPrefixes(cidrs))
	if err == nil && n.Source == BuiltinSource {
		// The bridge may still carry the gateway of cni.subnet (SetPodCIDR's
		// caller made sure no pod needs it any more).
		n.moveGateway = true
	}
	return n, err
}

// Plan returns the attachment pod podID with its network namespace at netns
// gets on the network in force. Nothing is called yet.
func (c *CNI) Plan(podID, netns string, meta PodMeta, caps Capabilities) (*Attachment, error) {
	n, err := c.load()
	if err != nil {
		return nil, fmt.Errorf("pod %s: %w: %w", podID, errdefs.ErrUnavailable, err)
	}
	if cidrs := c.PodCIDR(); len(cidrs) > 0 && n.Source != BuiltinSource {
		caps.IPRanges = ipRanges(cidrs)
	}
	list, err := n.ForPod(caps)
	if err != nil {
		return nil, fmt.Errorf("pod %s: %w", podID, err)
	}
	return &Attachment{
		PodID:        podID,
		NetNS:        netns,
		IfName:       DefaultIfName,
		Args:         podArgs(podID, meta),
		Capabilities: caps,
		Network:      list.Name,
		Source:       n.Source,
		ConfList:     list.Bytes,
	}, nil
}

func (a *Attachment) runtimeConf() *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID:    a.PodID,
		NetNS:          a.NetNS,
		IfName:         a.IfName,
		Args:           a.Args,
		CapabilityArgs: a.Capabilities.capabilityArgs(),
	}
}

func (a *Attachment) list() (*libcni.NetworkConfigList, error) {
	l, err := libcni.NetworkConfFromBytes(a.ConfList)
	if err != nil {
		return nil, fmt.Errorf("pod %s: recorded cni config of network %s: %w", a.PodID, a.Network, err)
	}
	return l, nil
}

// Add runs ADD and returns the pod's addresses. The built-in network of a
// pod with no host port and no bandwidth limit is attached in process (see
// builtin.go); every other runs its plugins.
func (c *CNI) Add(ctx context.Context, a *Attachment) (*Result, error) {
	list, err := a.list()
	if err != nil {
		return nil, err
	}
	if b, ok := inProcess(a, list); ok {
		return b.add(ctx, a)
	}
	leave, err := c.firstAddOf(list.Name).enter(ctx)
	if err != nil {
		return nil, fmt.Errorf("pod %s: waiting for the first cni add to network %s: %w", a.PodID, a.Network, err)
	}
	r, err := c.lib().AddNetworkList(ctx, list, a.runtimeConf())
	leave(err == nil)
	if err != nil {
		var perr *types.Error
		if errors.As(err, &perr) {
			// A plugin reported a failure: the network is not available
			// (kubelets retry), unlike a timeout, which keeps its kind.
			return nil, fmt.Errorf("pod %s: cni add to network %s (%s): %w: %w", a.PodID, a.Network, a.Source, err, errdefs.ErrUnavailable)
		}
		return nil, fmt.Errorf("pod %s: cni add to network %s (%s): %w", a.PodID, a.Network, a.Source, err)
	}
	res, err := resultOf(r)
	if err != nil {
		return nil, fmt.Errorf("pod %s: network %s: %w", a.PodID, a.Network, err)
	}
	return res, nil
}

// Del runs DEL. Deleting what is already gone succeeds; every plugin run is
// bounded by the plugin timeout.
func (c *CNI) Del(ctx context.Context, a *Attachment) error {
	list, err := a.list()
	if err != nil {
		return err
	}
	if b, ok := inProcess(a, list); ok {
		if err := b.del(a); err != nil {
			return err
		}
		return dropCachedResult(c.cfg().CNICacheDir(), list.Name, a)
	}
	if err := c.lib().DelNetworkList(ctx, list, a.runtimeConf()); err != nil {
		return fmt.Errorf("pod %s: cni del from network %s (%s): %w", a.PodID, a.Network, a.Source, err)
	}
	return nil
}

// Check runs CHECK; a configuration older than CHECK (0.4.0) gives an
// error of kind errdefs.ErrNotImplemented.
func (c *CNI) Check(ctx context.Context, a *Attachment) error {
	list, err := a.list()
	if err != nil {
		return err
	}
	if b, ok := inProcess(a, list); ok {
		return b.check(a)
	}
	if err := c.lib().CheckNetworkList(ctx, list, a.runtimeConf()); err != nil {
		if errors.Is(err, libcni.ErrorCheckNotSupp) {
			return fmt.Errorf("pod %s: network %s: %w: %w", a.PodID, a.Network, errdefs.ErrNotImplemented, err)
		}
		return fmt.Errorf("pod %s: cni check on network %s: %w", a.PodID, a.Network, err)
	}
	return nil
}

// GC deletes the attachments to the network in force that are cached but
// not in valid, and lets its plugins collect what is not in valid. valid
// must hold every live attachment: an attachment missing from it is torn
// down. A configuration older than 1.1.0 is not collected (ErrGCSkipped).
func (c *CNI) GC(ctx context.Context, valid []*Attachment) error {
	n, err := c.load()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrGCSkipped, err)
	}
	if ok, err := version.GreaterThanOrEqualTo(n.List.CNIVersion, gcMinVersion); err != nil || !ok {
		return fmt.Errorf("%w: network %s (%s) is cniVersion %q, GC needs %s", ErrGCSkipped, n.List.Name, n.Source, n.List.CNIVersion, gcMinVersion)
	}
	args := &libcni.GCArgs{ValidAttachments: make([]types.GCAttachment, 0, len(valid))}
	for _, a := range valid {
		args.ValidAttachments = append(args.ValidAttachments, types.GCAttachment{ContainerID: a.PodID, IfName: a.IfName})
	}
	if err := c.lib().GCNetworkList(ctx, n.List, args); err != nil {
		return fmt.Errorf("cni gc of network %s (%s): %w", n.List.Name, n.Source, err)
	}
	if n.Source == BuiltinSource {
		// Attachments made in process have no libcni cache entry, and the
		// bridge plugin has no GC: release their addresses here.
		return gcBuiltinAddresses(n.List, args.ValidAttachments)
	}
	return nil
}
