package cri

import (
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
)

// RPCObserver hears of every finished CRI call: its method, its status
// code and how long it took (a stream: until it ended).
type RPCObserver func(method string, code codes.Code, took time.Duration)

var rpcObserver atomic.Pointer[RPCObserver]

// SetRPCObserver makes fn hear of every finished call of every server
// NewServer made; nil stops it. fn must be quick and must not block.
func SetRPCObserver(fn RPCObserver) {
	if fn == nil {
		rpcObserver.Store(nil)
		return
	}
	rpcObserver.Store(&fn)
}

// observeRPC tells the observer, if any, of one finished call.
func observeRPC(method string, code codes.Code, took time.Duration) {
	if fn := rpcObserver.Load(); fn != nil {
		(*fn)(method, code, took)
	}
}
