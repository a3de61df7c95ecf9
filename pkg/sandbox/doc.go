// Package sandbox makes, runs, stops and removes pods: the namespaces,
// files, cgroup, network attachment and PID 1 that a pod's containers share.
//
// A pod is recorded in the metadata store (bucket "sandboxes") before
// anything is made, with every resource it will have; each later step
// changes only the state. Start-up (Recover) rolls back a pod left
// half-created and finishes a half-stopped or half-removed one, so a pod is
// whole or gone. Per-pod locks serialize the calls on one pod; no lock
// shared by pods is held across CNI calls, process waits or store writes.
package sandbox
