package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// What the tests read of `crictl pods -o json`.
type podList struct {
	Items []crictlPod `json:"items"`
}

type crictlPod struct {
	ID       string `json:"id"`
	Metadata struct {
		Name      string `json:"name"`
		UID       string `json:"uid"`
		Namespace string `json:"namespace"`
		Attempt   int    `json:"attempt"`
	} `json:"metadata"`
	State  string            `json:"state"`
	Labels map[string]string `json:"labels"`
}

// What the tests read of `crictl ps -a -o json`.
type containerList struct {
	Containers []crictlContainer `json:"containers"`
}

type crictlContainer struct {
	ID           string `json:"id"`
	PodSandboxID string `json:"podSandboxId"`
	Metadata     struct {
		Name    string `json:"name"`
		Attempt int    `json:"attempt"`
	} `json:"metadata"`
	State  string            `json:"state"`
	Labels map[string]string `json:"labels"`
}

func (c crictlContainer) String() string {
	return fmt.Sprintf("%s attempt %d %s %.13s", c.Metadata.Name, c.Metadata.Attempt, strings.TrimPrefix(c.State, "CONTAINER_"), c.ID)
}

// What the tests read of `crictl inspect -o json`.
type containerInspect struct {
	Status struct {
		ID         string `json:"id"`
		State      string `json:"state"`
		StartedAt  string `json:"startedAt"`
		FinishedAt string `json:"finishedAt"`
		ExitCode   int    `json:"exitCode"`
		Reason     string `json:"reason"`
		LogPath    string `json:"logPath"`
	} `json:"status"`
}

// What the tests read of `crictl inspectp -o json`.
type podInspect struct {
	Status struct {
		ID      string `json:"id"`
		State   string `json:"state"`
		Network struct {
			IP string `json:"ip"`
		} `json:"network"`
		Linux struct {
			Namespaces struct {
				Options struct {
					Network string `json:"network"`
				} `json:"options"`
			} `json:"namespaces"`
		} `json:"linux"`
	} `json:"status"`
}

// snapshot is the runtime's pods and containers at one moment.
type snapshot struct {
	pods       []crictlPod
	containers []crictlContainer
}

func (e *env) snapshot(ctx context.Context) (snapshot, error) {
	var s snapshot
	var pl podList
	if err := e.crictlJSON(ctx, &pl, "pods", "-o", "json"); err != nil {
		return s, err
	}
	var cl containerList
	if err := e.crictlJSON(ctx, &cl, "ps", "-a", "-o", "json"); err != nil {
		return s, err
	}
	s.pods, s.containers = pl.Items, cl.Containers
	for _, p := range s.pods {
		e.seenIDs[p.ID] = true
	}
	for _, c := range s.containers {
		e.seenIDs[c.ID] = true
	}
	return s, nil
}

// podsOf returns the sandboxes of the static pod made from manifest name.
func (s snapshot) podsOf(name string) []crictlPod {
	var out []crictlPod
	for _, p := range s.pods {
		if p.Metadata.Name == staticPodName(name) {
			out = append(out, p)
		}
	}
	return out
}

// readyPod returns the ready sandbox of the static pod name.
func (s snapshot) readyPod(name string) (crictlPod, bool) {
	for _, p := range s.podsOf(name) {
		if p.State == "SANDBOX_READY" {
			return p, true
		}
	}
	return crictlPod{}, false
}

// containersOf returns the containers of the static pod name, newest attempt first.
func (s snapshot) containersOf(name string) []crictlContainer {
	var out []crictlContainer
	for _, c := range s.containers {
		if c.Labels["io.kubernetes.pod.name"] == staticPodName(name) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Metadata.Attempt > out[j].Metadata.Attempt })
	return out
}

// running returns the running container of the static pod name.
func (s snapshot) running(name string) (crictlContainer, bool) {
	for _, c := range s.containersOf(name) {
		if c.State == "CONTAINER_RUNNING" {
			return c, true
		}
	}
	return crictlContainer{}, false
}

func (s snapshot) describe(names ...string) string {
	var parts []string
	for _, n := range names {
		var cs []string
		for _, c := range s.containersOf(n) {
			cs = append(cs, c.String())
		}
		var ps []string
		for _, p := range s.podsOf(n) {
			ps = append(ps, strings.TrimPrefix(p.State, "SANDBOX_"))
		}
		parts = append(parts, fmt.Sprintf("%s: pods [%s] containers [%s]", n, strings.Join(ps, " "), strings.Join(cs, ", ")))
	}
	return strings.Join(parts, "; ")
}

func (e *env) inspect(ctx context.Context, id string) (containerInspect, error) {
	var ci containerInspect
	err := e.crictlJSON(ctx, &ci, "inspect", "-o", "json", id)
	return ci, err
}

func (e *env) inspectp(ctx context.Context, id string) (podInspect, error) {
	var pi podInspect
	err := e.crictlJSON(ctx, &pi, "inspectp", "-o", "json", id)
	return pi, err
}

// waitSnapshot polls the runtime until cond accepts a snapshot; on
// timeout the error shows the last snapshot through describe.
func (e *env) waitSnapshot(ctx context.Context, timeout time.Duration, cond func(snapshot) bool, describe func(snapshot) string) (snapshot, error) {
	var last snapshot
	var lastErr error
	err := poll(ctx, timeout, 500*time.Millisecond, func() (bool, error) {
		s, err := e.snapshot(ctx)
		if err != nil {
			lastErr = err
			return false, nil
		}
		last, lastErr = s, nil
		return cond(s), nil
	})
	if err != nil {
		if lastErr != nil {
			return last, fmt.Errorf("%v; last error: %v", err, lastErr)
		}
		return last, fmt.Errorf("%v; runtime: %s", err, describe(last))
	}
	return last, nil
}
