package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/images/admin"
)

const imagesUsage = `usage: cri-shim images import [--config FILE] [--socket PATH] ARCHIVE

Imports the images of ARCHIVE (an OCI image layout or docker save tar; "-"
reads standard input) into the running daemon, through its admin socket
(<state_dir>/admin.sock by default). The images are then usable by their tags.
`

// runImages is `cri-shim images ...`.
func runImages(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprint(stderr, imagesUsage)
		return 2
	}
	fs := flag.NewFlagSet("cri-shim images import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, imagesUsage) }
	configPath := fs.String("config", "", "the daemon's configuration file (default "+config.DefaultPath+" if present)")
	socket := fs.String("socket", "", "the daemon's admin socket (default <state_dir>/"+admin.SocketName+")")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, imagesUsage)
		return 2
	}
	if err := importArchive(fs.Arg(0), *configPath, *socket, stdout); err != nil {
		fmt.Fprintf(stderr, "cri-shim images import: %v\n", err)
		return 1
	}
	return 0
}

func importArchive(path, configPath, socket string, stdout io.Writer) error {
	if socket == "" {
		var cfg *config.Config
		var err error
		if configPath != "" {
			cfg, err = config.Load(configPath)
		} else {
			cfg, err = config.LoadOptional(config.DefaultPath)
		}
		if err != nil {
			return err
		}
		socket = filepath.Join(cfg.StateDir, admin.SocketName)
	}
	in := io.Reader(os.Stdin)
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGINT, unix.SIGTERM)
	defer stop()
	imgs, err := admin.Import(ctx, socket, in)
	for _, img := range imgs {
		fmt.Fprintf(stdout, "imported %s %v\n", img.ID, img.RepoTags)
	}
	return err
}
