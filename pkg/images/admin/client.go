package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/cri-shim/cri-shim/pkg/images"
)

// Import sends the archive read from r to the daemon's admin socket and
// returns the images it stored.
func Import(ctx context.Context, socket string, r io.Reader) ([]images.ImportedImage, error) {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://cri-shim"+ImportPath, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", socket, err)
	}
	defer resp.Body.Close()
	var res ImportResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&res); err != nil {
		return nil, fmt.Errorf("admin socket %s: %s: unreadable answer: %w", socket, resp.Status, err)
	}
	if res.Error != "" {
		return res.Images, fmt.Errorf("%s", res.Error)
	}
	if resp.StatusCode != http.StatusOK {
		return res.Images, fmt.Errorf("admin socket %s: %s", socket, resp.Status)
	}
	return res.Images, nil
}
