package events

import (
	"context"
	"testing"
)

func TestFanOutAndSlowSubscriber(t *testing.T) {
	b := NewBroker()
	ctx, cancel := context.WithCancel(context.Background())
	fast := b.Subscribe(ctx)
	slow := b.Subscribe(context.Background())
	for i := 0; i < Buffer+1; i++ {
		b.Publish(Event{ID: "c", Kind: Started})
		<-fast
	}
	n := 0
	for range slow {
		n++
	}
	if n != Buffer {
		t.Fatalf("slow subscriber got %d events before being cut off, want %d", n, Buffer)
	}
	cancel()
	if _, ok := <-fast; ok {
		t.Fatal("channel open after its context ended")
	}
	b.Publish(Event{ID: "c"}) // no subscribers left: must not block or panic
}
