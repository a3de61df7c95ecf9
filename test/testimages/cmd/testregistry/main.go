// Command testregistry builds the critest look-alike images (package
// testimages), serves them from an in-process plain-HTTP registry and keeps
// serving until SIGTERM or SIGINT.
//
//	testregistry --addr 127.0.0.1:0 --ready-file F --workdir D
//
// Once every image is pushed, the actual host:port is written to the ready
// file (atomically: temp file + rename). The ready file is removed on exit.
//
//	testregistry --list [--public]
//
// prints the image keys (repository:tag), or with --public the public
// references critest uses, one per line, without building anything.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/cri-shim/cri-shim/test/testimages"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (host:port; port 0 picks a free port)")
	readyFile := flag.String("ready-file", "", "file to write the registry's host:port to once all images are pushed")
	workDir := flag.String("workdir", "", "cache directory for the built helper programs (default: $TESTIMAGES_WORKDIR or $XDG_CACHE_HOME/cri-shim-testimages)")
	list := flag.Bool("list", false, "print the image keys (repository:tag) and exit")
	public := flag.Bool("public", false, "with --list: print the public references critest uses instead")
	verbose := flag.Bool("v", false, "log every registry request")
	flag.Parse()

	log.SetFlags(log.LstdFlags)
	log.SetPrefix("testregistry: ")

	if *list {
		printList(os.Stdout, *public)
		return
	}

	if err := run(*addr, *readyFile, *workDir, *verbose); err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

func printList(w io.Writer, public bool) {
	if !public {
		for _, n := range testimages.ImageNames() {
			fmt.Fprintln(w, n)
		}
		return
	}
	var refs []string
	for _, info := range testimages.Catalog() {
		refs = append(refs, info.Public...)
	}
	sort.Strings(refs)
	for _, r := range refs {
		fmt.Fprintln(w, r)
	}
}

func run(addr, readyFile, workDir string, verbose bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if workDir == "" {
		workDir = testimages.DefaultWorkDir()
	}

	start := time.Now()
	images, err := testimages.BuildAll(ctx, workDir)
	if err != nil {
		return err
	}
	log.Printf("built %d image tags in %v", len(images), time.Since(start).Round(time.Millisecond))

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	logger := log.New(io.Discard, "", 0)
	if verbose {
		logger = log.New(os.Stderr, "testregistry: registry: ", log.LstdFlags)
	}
	srv := &http.Server{
		Handler:           registry.New(registry.Logger(logger)),
		ReadHeaderTimeout: time.Minute,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	host := ln.Addr().String()
	start = time.Now()
	if err := testimages.Push(ctx, host, images); err != nil {
		_ = srv.Close()
		return err
	}
	log.Printf("pushed to %s in %v", host, time.Since(start).Round(time.Millisecond))

	if readyFile != "" {
		if err := writeAtomic(readyFile, host); err != nil {
			_ = srv.Close()
			return err
		}
		defer os.Remove(readyFile)
	}
	log.Printf("serving on %s", host)

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	log.Printf("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

func writeAtomic(path, content string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
