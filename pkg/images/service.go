package images

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/metadata"
)

// DefaultProgressLogInterval is how often a running pull logs its progress.
const DefaultProgressLogInterval = 10 * time.Second

// Options configure a Service.
type Options struct {
	// Root is the store's directory, <root_dir>/images.
	Root string
	// Store is the daemon's metadata database.
	Store metadata.Store
	// Config returns the settings in force; registries and limits are read
	// again for every pull.
	Config func() *config.Config
	// Platform is the platform picked from multi-platform images; the zero
	// value means the host's (HostPlatform).
	Platform Platform
	// ProgressLogInterval is how often pulls log their progress
	// (DefaultProgressLogInterval when 0).
	ProgressLogInterval time.Duration
	// Transport is the HTTP transport registries are reached through
	// (a clone of http.DefaultTransport when nil).
	Transport http.RoundTripper
	// UserAgent is sent to registries.
	UserAgent string
	// PullObserver, if set, is told of every pull that ran (pulls that
	// joined one in flight are not pulls of their own). It must not block.
	PullObserver func(PullReport)
}

// PullReport is what one finished pull did.
type PullReport struct {
	// Image is the reference pulled.
	Image string
	// Bytes are the bytes fetched from registries (not those already stored).
	Bytes int64
	// Took is how long the pull ran.
	Took time.Duration
	// Err is why it failed, or nil.
	Err error
}

// Service is the image store. Its methods are safe for concurrent use.
type Service struct {
	root      string
	tmp       string
	db        metadata.Store
	cfg       func() *config.Config
	platform  Platform
	logEvery  time.Duration
	userAgent string
	transport *transports
	onPull    func(PullReport)

	pulls  flightGroup // one pull per reference and credentials
	trim   idleTrim    // gives the memory of pulls back once idle
	layers flightGroup // one download+extraction per chain ID

	mu    sync.Mutex
	pins  map[string]int       // content in use by pulls and imports in flight
	gen   uint64               // bumped whenever a pull or import commits
	usage map[string]diskUsage // what each blob and layer takes on disk

	gcKick chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
}

// Open prepares the store under o.Root: it empties tmp (whatever a crash
// left there), reads what is on disk, collects content no image and no
// lease uses, and starts the background collector.
func Open(ctx context.Context, o Options) (*Service, error) {
	if o.Root == "" || o.Store == nil || o.Config == nil {
		return nil, errors.New("images: Root, Store and Config are required")
	}
	s := &Service{
		root:      filepath.Clean(o.Root),
		db:        o.Store,
		cfg:       o.Config,
		platform:  o.Platform,
		logEvery:  o.ProgressLogInterval,
		userAgent: o.UserAgent,
		onPull:    o.PullObserver,
		transport: newTransports(o.Transport),
		pins:      map[string]int{},
		usage:     map[string]diskUsage{},
		gcKick:    make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	s.trim.release = s.transport.closeIdle
	if s.platform.OS == "" {
		s.platform = HostPlatform()
	}
	if s.logEvery <= 0 {
		s.logEvery = DefaultProgressLogInterval
	}
	if s.userAgent == "" {
		s.userAgent = "cri-shim"
	}
	s.tmp = filepath.Join(s.root, tmpDir)
	if err := os.MkdirAll(s.root, 0o700); err != nil {
		return nil, fmt.Errorf("image store %s: %w", s.root, err)
	}
	if err := os.RemoveAll(s.tmp); err != nil {
		return nil, fmt.Errorf("image store: clean %s: %w", s.tmp, err)
	}
	for _, d := range []string{filepath.Join(blobsDir, "sha256"), layersDir, tmpDir} {
		if err := os.MkdirAll(filepath.Join(s.root, d), 0o700); err != nil {
			return nil, fmt.Errorf("image store: %s: %w", d, err)
		}
	}
	if err := s.loadUsage(); err != nil {
		return nil, err
	}
	if _, err := s.GC(ctx); err != nil {
		return nil, fmt.Errorf("image store: start-up collection: %w", err)
	}
	s.wg.Add(1)
	go s.collector()
	return s, nil
}

// Close stops the background collector. Pulls in flight end with their
// callers' contexts.
func (s *Service) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.wg.Wait()
	return nil
}

// Root is the store's directory.
func (s *Service) Root() string { return s.root }

// collector runs GC whenever kicked (after removals and lease releases).
func (s *Service) collector() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.gcKick:
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-s.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			if n, err := s.GC(ctx); err != nil {
				klog.Errorf("image garbage collection: %v", err)
			} else if n > 0 {
				klog.V(2).Infof("image garbage collection removed %d blobs and layers", n)
			}
			cancel()
		}
	}
}

// kickGC asks the collector to run soon; requests coalesce.
func (s *Service) kickGC() {
	select {
	case s.gcKick <- struct{}{}:
	default:
	}
}
