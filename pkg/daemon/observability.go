package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/checkpoint"
	"github.com/cri-shim/cri-shim/pkg/container"
	"github.com/cri-shim/cri-shim/pkg/cri"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/events"
	"github.com/cri-shim/cri-shim/pkg/images"
	"github.com/cri-shim/cri-shim/pkg/metadata"
	"github.com/cri-shim/cri-shim/pkg/metrics"
	"github.com/cri-shim/cri-shim/pkg/network"
	"github.com/cri-shim/cri-shim/pkg/podstats"
	"github.com/cri-shim/cri-shim/pkg/sandbox"
)

// startMetrics serves the Prometheus metrics on the configured address, if
// any, counting CRI calls and pulls from now on.
func (d *Daemon) startMetrics(pods *sandbox.Manager) error {
	addr := d.Config().MetricsAddress
	if addr == "" {
		return nil
	}
	m := metrics.New(metrics.Sources{
		Pods: func(ctx context.Context) map[string]int {
			out := map[string]int{}
			for _, sb := range pods.List(ctx) {
				if sb.Ready() {
					out["ready"]++
				} else {
					out["notready"]++
				}
			}
			return out
		},
		Containers: func(ctx context.Context) map[string]int {
			out := map[string]int{}
			for _, rec := range d.containers.List(ctx, container.Filter{}) {
				out[string(rec.State)]++
			}
			return out
		},
		Monitors: func(ctx context.Context) int {
			n := 0
			for _, rec := range d.containers.List(ctx, container.Filter{}) {
				if rec.MonitorPID > 0 && unix.Kill(rec.MonitorPID, 0) == nil {
					n++
				}
			}
			return n
		},
	})
	srv, err := metrics.Serve(addr, m.Handler())
	if err != nil {
		return err
	}
	d.metrics.Store(m)
	d.metricsSrv = srv
	cri.SetRPCObserver(func(method string, code codes.Code, took time.Duration) {
		m.ObserveRPC(method, code.String(), took)
	})
	klog.Infof("serving metrics on http://%s/metrics", srv.Addr())
	return nil
}

// stopMetrics stops serving metrics.
func (d *Daemon) stopMetrics() {
	if d.metricsSrv != nil {
		cri.SetRPCObserver(nil)
		_ = d.metricsSrv.Close()
		d.metricsSrv = nil
	}
}

// observePull counts a pull in the metrics, once they are served.
func (d *Daemon) observePull(r images.PullReport) {
	if m := d.metrics.Load(); m != nil {
		m.ObservePull(r.Bytes, r.Took, r.Err)
	}
}

// publishPodEvent turns pod state changes into CRI events (the CRI reports
// sandboxes with the container event types and the pod's ID).
func (d *Daemon) publishPodEvent(e sandbox.Event) {
	kinds := map[sandbox.EventKind]events.Kind{
		sandbox.EventCreated: events.Created,
		sandbox.EventStarted: events.Started,
		sandbox.EventStopped: events.Stopped,
		sandbox.EventDeleted: events.Deleted,
	}
	if e.Kind == sandbox.EventDeleted {
		d.podStats.Forget(podstats.PodKey(e.ID))
	}
	if k, ok := kinds[e.Kind]; ok {
		ev := events.Event{ID: e.ID, PodID: e.ID, Pod: true, Kind: k, At: e.At}
		if e.Sandbox != nil {
			ev.Snapshot = e.Sandbox
		}
		d.events.Publish(ev)
	}
}

// The pod CIDR the kubelet set is kept in the metadata store, so that pods
// made after a daemon restart still get it.
const (
	runtimeBucket = "runtime"
	podCIDRKey    = "podCIDR"
)

// podCIDRSetter returns what applies and records the kubelet's pod CIDR.
// The built-in bridge carries one gateway address per IP family: a CIDR
// that would take the gateway from a live pod on the built-in network is
// refused until that pod is gone (the kubelet tries again).
func (d *Daemon) podCIDRSetter(pods *sandbox.Manager) func(context.Context, string) error {
	return func(ctx context.Context, cidr string) error {
		cidrs, err := network.ParsePodCIDR(cidr)
		if err != nil {
			return err
		}
		if err := stranded(ctx, pods, cidrs); err != nil {
			return err
		}
		return d.setPodCIDR(ctx, cidr, cidrs)
	}
}

// stranded reports a live pod on the built-in network with an address of an
// IP family cidrs covers but outside them.
func stranded(ctx context.Context, pods *sandbox.Manager, cidrs []netip.Prefix) error {
	for _, sb := range pods.List(ctx) {
		a := sb.Resources.Network
		if a == nil || a.Source != network.BuiltinSource || !sb.Resources.NetworkAttached {
			continue
		}
		for _, s := range sb.IPs {
			ip, err := netip.ParseAddr(s)
			if err != nil {
				continue
			}
			for _, p := range cidrs {
				if p.Addr().Is4() == ip.Is4() && !p.Contains(ip) {
					return fmt.Errorf("pod CIDR %s: pod %s on the built-in network has address %s outside it, and the bridge has one gateway per IP family: %w",
						p, sb.ID, ip, errdefs.ErrFailedPrecondition)
				}
			}
		}
	}
	return nil
}

// setPodCIDR applies and records the pod CIDR.
func (d *Daemon) setPodCIDR(ctx context.Context, cidr string, cidrs []netip.Prefix) error {
	if err := d.store.Update(ctx, func(tx metadata.Tx) error {
		return metadata.PutJSON(tx, runtimeBucket, podCIDRKey, cidrs)
	}); err != nil {
		return fmt.Errorf("record pod CIDR %s: %w", cidr, err)
	}
	d.net.SetPodCIDR(cidrs)
	klog.Infof("pod CIDR set to %s: pods made from now on get their addresses from it", cidr)
	return nil
}

// loadPodCIDR applies the recorded pod CIDR, if any.
func (d *Daemon) loadPodCIDR(ctx context.Context) error {
	var cidrs []netip.Prefix
	err := d.store.View(ctx, func(tx metadata.Tx) error {
		return metadata.GetJSON(tx, runtimeBucket, podCIDRKey, &cidrs)
	})
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("recorded pod CIDR: %w", err)
	}
	d.net.SetPodCIDR(cidrs)
	if len(cidrs) > 0 {
		klog.Infof("pod CIDR %v (set by the kubelet earlier)", cidrs)
	}
	return nil
}

// checkpointContainer writes a checkpoint archive of running container id.
func (d *Daemon) checkpointContainer(ctx context.Context, id, archive string) error {
	rec, err := d.containers.Get(ctx, id)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("container %s: record: %w", id, err)
	}
	st, err := d.containers.Stats(ctx, id)
	if err != nil {
		return err
	}
	// The container package's layout under <state_dir>/containers: the
	// libcontainer state root "runc" and each container's bundle.
	state := filepath.Join(d.Config().StateDir, ContainersDir)
	return checkpoint.Container(ctx, checkpoint.Options{
		StateRoot: filepath.Join(state, "runc"),
		ID:        id,
		Archive:   archive,
		Record:    raw,
		SpecFile:  filepath.Join(state, id, "config.json"),
		UpperDir:  st.WritableLayer.Path,
	})
}
