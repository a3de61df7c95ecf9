package cri

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func pods(n, labelBytes int) []*runtimeapi.PodSandbox {
	out := make([]*runtimeapi.PodSandbox, n)
	for i := range out {
		out[i] = &runtimeapi.PodSandbox{
			Id:     fmt.Sprintf("pod-%05d", i),
			Labels: map[string]string{"big": strings.Repeat("x", labelBytes)},
		}
	}
	return out
}

func TestSendBatchesEachItemOnce(t *testing.T) {
	for _, tc := range []struct {
		name       string
		items      []*runtimeapi.PodSandbox
		minBatches int
	}{
		{"none", nil, 0},
		{"one", pods(1, 10), 1},
		{"by count", pods(2*streamBatchItems+7, 10), 3},
		{"by size", pods(40, 512<<10), 5},
		{"an item bigger than a batch", pods(3, streamBatchBytes+1), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var batches [][]*runtimeapi.PodSandbox
			err := sendBatches(context.Background(), tc.items, func(b []*runtimeapi.PodSandbox) error {
				batches = append(batches, b)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(batches) < tc.minBatches {
				t.Errorf("%d batches, want at least %d", len(batches), tc.minBatches)
			}
			seen := map[string]bool{}
			next := 0
			for _, b := range batches {
				if len(b) == 0 {
					t.Fatal("empty batch")
				}
				if len(b) > streamBatchItems {
					t.Errorf("batch of %d items", len(b))
				}
				size := 0
				for _, it := range b {
					size += proto.Size(it)
					if seen[it.GetId()] {
						t.Fatalf("%s sent twice", it.GetId())
					}
					seen[it.GetId()] = true
					if it != tc.items[next] {
						t.Fatalf("item %d out of order", next)
					}
					next++
				}
				if len(b) > 1 && size > streamBatchBytes {
					t.Errorf("batch of %d bytes", size)
				}
			}
			if next != len(tc.items) {
				t.Fatalf("%d of %d items sent", next, len(tc.items))
			}
		})
	}
}

func TestSendBatchesStopsOnError(t *testing.T) {
	calls := 0
	err := sendBatches(context.Background(), pods(3*streamBatchItems, 1), func([]*runtimeapi.PodSandbox) error {
		calls++
		return fmt.Errorf("client gone")
	})
	if err == nil || calls != 1 {
		t.Fatalf("err %v after %d sends", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sendBatches(ctx, pods(3, 1), func([]*runtimeapi.PodSandbox) error { return nil }); err == nil {
		t.Fatal("cancelled stream went on")
	}
}
