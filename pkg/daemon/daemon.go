// Package daemon runs cri-shim: it opens the metadata store, serves the CRI
// services on the unix socket, reloads settings on SIGHUP and stops
// gracefully on SIGTERM and SIGINT.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/container"
	"github.com/cri-shim/cri-shim/pkg/cri"
	"github.com/cri-shim/cri-shim/pkg/events"
	"github.com/cri-shim/cri-shim/pkg/fsusage"
	"github.com/cri-shim/cri-shim/pkg/images"
	"github.com/cri-shim/cri-shim/pkg/images/admin"
	"github.com/cri-shim/cri-shim/pkg/metadata"
	"github.com/cri-shim/cri-shim/pkg/metrics"
	"github.com/cri-shim/cri-shim/pkg/network"
	"github.com/cri-shim/cri-shim/pkg/nri"
	"github.com/cri-shim/cri-shim/pkg/podstats"
	"github.com/cri-shim/cri-shim/pkg/sandbox"
	"github.com/cri-shim/cri-shim/pkg/version"
)

// Directories under the root dir.
const (
	ImagesDir     = "images"
	ContainersDir = "containers"
)

// Loader reads the configuration again (file, then command-line overrides)
// for a reload.
type Loader func() (*config.Config, error)

// Daemon is one running cri-shim.
type Daemon struct {
	cfg      atomic.Pointer[config.Config]
	reload   Loader
	setLevel func(int)

	lock       *os.File
	store      metadata.Store
	images     *images.Service
	admin      *admin.Server
	containers *container.Manager
	events     *events.Broker
	stream     *cri.StreamServer
	srv        *grpc.Server
	lis        net.Listener
	net        *network.CNI
	podStats   *podstats.Reader
	nri        *nri.NRI
	metrics    atomic.Pointer[metrics.Metrics]
	metricsSrv *metrics.Server
}

// New prepares a daemon with cfg. reload is called on SIGHUP; setLevel
// changes the log verbosity.
func New(cfg *config.Config, reload Loader, setLevel func(int)) *Daemon {
	d := &Daemon{reload: reload, setLevel: setLevel}
	d.cfg.Store(cfg)
	return d
}

// Config returns the settings in force.
func (d *Daemon) Config() *config.Config { return d.cfg.Load() }

// Start takes the socket, opens the store and begins serving.
func (d *Daemon) Start(ctx context.Context) (err error) {
	cfg := d.Config()
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if d.lock, err = lockSocket(cfg.Socket); err != nil {
		return err
	}
	for _, dir := range []string{cfg.RootDir, cfg.StateDir} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	if d.store, err = metadata.Open(cfg.RootDir); err != nil {
		return err
	}
	if d.images, err = images.Open(ctx, images.Options{
		Root: filepath.Join(cfg.RootDir, ImagesDir), Store: d.store, Config: d.Config,
		UserAgent:    version.RuntimeName + "/" + version.Version,
		PullObserver: d.observePull,
	}); err != nil {
		return err
	}
	if d.admin, err = admin.Serve(filepath.Join(cfg.StateDir, admin.SocketName), d.images); err != nil {
		return err
	}
	d.net = network.NewCNI(d.Config)
	if err := d.loadPodCIDR(ctx); err != nil {
		return err
	}
	d.events = events.NewBroker()
	d.podStats = podstats.NewReader()
	if d.nri, err = nri.New(ctx, cfg.NRI, version.Version); err != nil {
		return err
	}
	pods, err := sandbox.New(sandbox.Options{Store: d.store, Config: d.Config, Network: d.net, Events: d.publishPodEvent, NRI: d.nri})
	if err != nil {
		return err
	}
	d.containers = container.New(container.Options{
		Root:   filepath.Join(cfg.RootDir, ContainersDir),
		State:  filepath.Join(cfg.StateDir, ContainersDir),
		Store:  d.store,
		Pods:   podSource{pods},
		Images: imageSource{d.images},
		Host:   hostFacts(),
		Events: d.publishContainerEvent,
		NRI:    d.nri,

		SpareMonitors: cfg.SpareMonitors,
	})
	pods.SetContainerHooks(d.containers)
	// Before serving: containers first (pod recovery stops and removes
	// them through the hooks), then pods: half-made pods are undone, then
	// stale CNI attachments collected.
	if err := d.containers.Recover(ctx); err != nil {
		return err
	}
	if err := pods.Recover(ctx); err != nil {
		return err
	}
	// NRI plugins connect once the pods and containers are known.
	if err := d.nri.Start(ctx, pods, d.containers); err != nil {
		return err
	}
	streamAddr := net.JoinHostPort(cfg.Stream.Address, strconv.Itoa(cfg.Stream.Port))
	if d.stream, err = cri.NewStreamServer(streamAddr, streamRuntime{d.containers, pods}); err != nil {
		return err
	}
	// The goroutine keeps its own reference: a failed start clears d.stream.
	go func(stream *cri.StreamServer) {
		if err := stream.Serve(); err != nil {
			klog.Errorf("stream server: %v", err)
		}
	}(d.stream)
	svc := cri.New(cri.Deps{
		Config:       d.Config,
		CgroupDriver: CgroupDriver(cfg.CgroupDriver),
		RuntimeReady: d.runtimeReady,
		NetworkReady: d.networkReady,
		ImageFS:      d.images.Usage,
		Images:       d.images,
		ContainerFS:  d.measure(ContainersDir),
		Sandboxes:    pods,
		Containers:   d.containers,
		Stream:       d.stream,
		Events:       d.events,
		PodStats:     d.podStats,
		SetPodCIDR:   d.podCIDRSetter(pods),
		Checkpoint:   d.checkpointContainer,
	})
	if err := d.startMetrics(pods); err != nil {
		return err
	}
	d.srv = cri.NewServer()
	svc.Register(d.srv)
	if d.lis, err = listen(cfg.Socket); err != nil {
		return err
	}
	go func(srv *grpc.Server, lis net.Listener) {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			klog.Errorf("serve %s: %v", cfg.Socket, err)
		}
	}(d.srv, d.lis)
	// Hand back what start-up (recovery, image store scan) allocated and
	// no longer uses: the daemon now idles until a call comes.
	debug.FreeOSMemory()
	klog.Infof("cri-shim %s (%s) serving CRI on %s, streams on %s, root %s, state %s, cgroup driver %s",
		version.Version, version.GitCommit, cfg.Socket, d.stream.Addr(), cfg.RootDir, cfg.StateDir, CgroupDriver(cfg.CgroupDriver))
	return nil
}

// Run starts the daemon and serves until SIGTERM or SIGINT (or ctx ends),
// reloading on SIGHUP.
func (d *Daemon) Run(ctx context.Context) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	defer signal.Stop(sigs)
	if err := d.Start(ctx); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			d.Stop()
			return nil
		case s := <-sigs:
			if s == unix.SIGHUP {
				d.Reload()
				continue
			}
			klog.Infof("%v: stopping", s)
			d.Stop()
			return nil
		}
	}
}

// Reload reads the configuration again and applies what can change at
// runtime. A bad file is refused and the running settings stay.
func (d *Daemon) Reload() {
	fromFile, err := d.reload()
	if err != nil {
		klog.Errorf("reload refused, keeping the running settings: %v", err)
		return
	}
	running := d.Config()
	next, changes := config.Reload(running, fromFile)
	if len(changes) == 0 {
		klog.Infof("reload: nothing changed")
		return
	}
	for _, c := range changes {
		klog.Infof("reload: %s", c)
	}
	if next.LogLevel != running.LogLevel && d.setLevel != nil {
		d.setLevel(next.LogLevel)
	}
	d.cfg.Store(next)
}

// Stop stops accepting calls, lets in-flight calls finish within the
// shutdown timeout, then cuts the rest and releases everything.
func (d *Daemon) Stop() {
	if d.srv != nil {
		done := make(chan struct{})
		go func() {
			d.srv.GracefulStop()
			close(done)
		}()
		timeout := d.Config().ShutdownTimeout.Duration
		select {
		case <-done:
		case <-time.After(timeout):
			klog.Warningf("in-flight calls still running after %s: cutting them", timeout)
			d.srv.Stop()
			<-done
		}
	}
	d.close()
	klog.Infof("stopped")
}

func (d *Daemon) close() {
	if d.containers != nil {
		d.containers.Close()
	}
	if d.nri != nil {
		d.nri.Stop()
		d.nri = nil
	}
	d.stopMetrics()
	if d.stream != nil {
		_ = d.stream.Close()
		d.stream = nil
	}
	if d.admin != nil {
		_ = d.admin.Close()
		d.admin = nil
	}
	if d.images != nil {
		_ = d.images.Close()
		d.images = nil
	}
	if d.store != nil {
		if err := d.store.Close(); err != nil {
			klog.Errorf("close metadata: %v", err)
		}
		d.store = nil
	}
	if d.lis != nil {
		// Serve or GracefulStop closed it; the unix listener unlinks its file on close.
		_ = d.lis.Close()
		d.lis = nil
	}
	if d.lock != nil {
		_ = d.lock.Close()
		d.lock = nil
	}
}

func (d *Daemon) runtimeReady(context.Context) error {
	cfg := d.Config()
	for _, dir := range []string{cfg.RootDir, cfg.StateDir} {
		if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
			return fmt.Errorf("%s is not writable: %w", dir, err)
		}
	}
	return nil
}

func (d *Daemon) networkReady(context.Context) error {
	cfg := d.Config()
	n, err := network.Load(cfg.CNI.ConfDir, cfg.CNI.BridgeName, cfg.CNI.Subnet)
	if err != nil {
		return err
	}
	return n.CheckPlugins(cfg.CNI.BinDirs)
}

func (d *Daemon) measure(sub string) func(context.Context) (fsusage.Usage, error) {
	return func(context.Context) (fsusage.Usage, error) {
		return fsusage.Measure(filepath.Join(d.Config().RootDir, sub))
	}
}

// CgroupDriver resolves the configured driver: "" means systemd where
// systemd manages the machine's cgroups, cgroupfs elsewhere.
func CgroupDriver(configured string) string {
	if configured != "" {
		return configured
	}
	if st, err := os.Stat("/run/systemd/system"); err == nil && st.IsDir() {
		return "systemd"
	}
	return "cgroupfs"
}
