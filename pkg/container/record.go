package container

import (
	"context"
	"path/filepath"

	"github.com/cri-shim/cri-shim/pkg/container/spec"
	"github.com/cri-shim/cri-shim/pkg/metadata"
)

// bucket is the metadata bucket of container records.
const bucket = "containers"

// State is a container's lifecycle state.
type State string

// Container states. Creating and Removing are transitional and only seen by
// recovery after a crash.
const (
	StateCreating State = "creating"
	StateCreated  State = "created"
	StateRunning  State = "running"
	StateExited   State = "exited"
	StateRemoving State = "removing"
)

// Exit reasons, as the kubelet expects them.
const (
	ReasonCompleted = "Completed"
	ReasonError     = "Error"
	ReasonOOMKilled = "OOMKilled"
)

// Record is everything kept about one container, written before each step.
type Record struct {
	ID       string            `json:"id"`
	PodID    string            `json:"pod_id"`
	Name     string            `json:"name"`
	Attempt  uint32            `json:"attempt"`
	Labels   map[string]string `json:"labels,omitempty"`
	Annots   map[string]string `json:"annotations,omitempty"`
	ImageRef string            `json:"image_ref"`        // what the request asked for
	ImageID  string            `json:"image_id"`         // the resolved image
	ImageTag string            `json:"image_name"`       // the name the image is known by
	LogPath  string            `json:"log_path"`         // absolute; "" when the pod has no log dir
	CriLog   string            `json:"cri_log_path"`     // as the request gave it
	Mounts   []spec.Mount      `json:"mounts,omitempty"` // as requested, for the status
	Input    *spec.Input       `json:"input,omitempty"`  // the request, for the status and updates
	TTY      bool              `json:"tty,omitempty"`
	Stdin    bool              `json:"stdin,omitempty"`
	Once     bool              `json:"stdin_once,omitempty"`
	StopSig  string            `json:"stop_signal,omitempty"`
	Cgroup   string            `json:"cgroup"`
	User     *UserInfo         `json:"user,omitempty"`
	// Restore names the CRIU images a created container restored from a
	// checkpoint starts from ("" for other containers).
	Restore string `json:"restore,omitempty"`

	State      State  `json:"state"`
	CreatedAt  int64  `json:"created_at"`
	StartedAt  int64  `json:"started_at,omitempty"`
	FinishedAt int64  `json:"finished_at,omitempty"`
	ExitCode   int32  `json:"exit_code"`
	Reason     string `json:"reason,omitempty"`
	Message    string `json:"message,omitempty"`

	MonitorPID int `json:"monitor_pid,omitempty"`
	InitPID    int `json:"init_pid,omitempty"`
}

// UserInfo is the identity the container's process runs as.
type UserInfo struct {
	UID    int64   `json:"uid"`
	GID    int64   `json:"gid"`
	Groups []int64 `json:"groups,omitempty"`
}

func (m *Manager) save(ctx context.Context, rec *Record) error {
	return m.o.Store.Update(ctx, func(tx metadata.Tx) error { return metadata.PutJSON(tx, bucket, rec.ID, rec) })
}

func (m *Manager) forget(ctx context.Context, id string) error {
	return m.o.Store.Update(ctx, func(tx metadata.Tx) error { return tx.Delete(bucket, id) })
}

// Paths of one container.
type paths struct {
	dir, upper, work   string // under Root
	bundle, rootfs     string // under State
	exitFile, debugLog string
	socket             string
}

func (m *Manager) paths(id string) paths {
	dir := filepath.Join(m.o.Root, id)
	bundle := filepath.Join(m.o.State, id)
	return paths{
		dir:      dir,
		upper:    filepath.Join(dir, "upper"),
		work:     filepath.Join(dir, "work"),
		bundle:   bundle,
		rootfs:   filepath.Join(bundle, "rootfs"),
		exitFile: filepath.Join(bundle, "exit.json"),
		debugLog: filepath.Join(bundle, "monitor.log"),
		// Unix socket paths are short (108 bytes): a short name in a short dir.
		socket: filepath.Join(m.o.State, "s", id[:20]),
	}
}
