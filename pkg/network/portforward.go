package network

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"

	"github.com/vishvananda/netns"
)

// DialInNetNS opens a TCP connection to localhost:port inside the network
// namespace pinned at nsPath ("" is the caller's own). The socket is made on
// a thread switched into that namespace, which is switched back (or, failing
// that, never reused).
func DialInNetNS(ctx context.Context, nsPath string, port int32) (net.Conn, error) {
	if nsPath == "" {
		return dialLocal(ctx, port)
	}
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", nsPath, err)
	}
	defer target.Close()
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, err}
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, fmt.Errorf("enter netns %s: %w", nsPath, err)}
			return
		}
		c, err := dialLocal(ctx, port)
		if rerr := netns.Set(orig); rerr != nil {
			// Leave the thread locked: it dies with this goroutine instead of
			// serving others from the wrong namespace.
			done <- result{c, err}
			return
		}
		runtime.UnlockOSThread()
		done <- result{c, err}
	}()
	r := <-done
	if r.err != nil {
		return nil, fmt.Errorf("dial port %d in netns %s: %w", port, nsPath, r.err)
	}
	return r.c, nil
}

// dialLocal dials localhost:port over IPv4, then IPv6.
func dialLocal(ctx context.Context, port int32) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		if c6, err6 := d.DialContext(ctx, "tcp6", net.JoinHostPort("::1", strconv.Itoa(int(port)))); err6 == nil {
			return c6, nil
		}
	}
	return c, err
}

// PortForward copies stream to and from localhost:port in the namespace at
// nsPath until either side ends.
func PortForward(ctx context.Context, nsPath string, port int32, stream io.ReadWriteCloser) error {
	c, err := DialInNetNS(ctx, nsPath, port)
	if err != nil {
		return err
	}
	defer c.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(c, stream)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	_, err = io.Copy(stream, c)
	_ = stream.Close()
	wg.Wait()
	return err
}
