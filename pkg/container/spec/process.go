package spec

import (
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// process sets the command line, working directory, terminal and environment.
func (b *builder) process() error {
	in := b.in
	args, err := in.processArgs()
	if err != nil {
		return err
	}
	hostname := in.Sandbox.Hostname
	if hostname == "" {
		if hostname, err = os.Hostname(); err != nil {
			return in.wrap(err, "read host name")
		}
	}
	cwd := in.workingDir()
	if !filepath.IsAbs(cwd) {
		return in.errorf(errdefs.ErrInvalidArgument, "working directory %q is not absolute", cwd)
	}
	opts := []oci.SpecOpts{
		oci.WithProcessArgs(args...),
		oci.WithDefaultPathEnv,
		oci.WithProcessCwd(cwd),
	}
	if in.TTY {
		opts = append(opts, oci.WithTTY)
	}
	env := make([]string, 0, len(in.Env))
	for _, e := range in.Env {
		env = append(env, e.Key+"="+e.Value)
	}
	// Separate steps so that a request variable replaces the image's
	// (one WithEnv call only replaces keys already in the spec).
	opts = append(opts,
		oci.WithEnv([]string{"HOSTNAME=" + hostname}),
		oci.WithEnv(in.ImageConfig.Env),
		oci.WithEnv(env),
	)
	return b.apply(opts...)
}

// processArgs merges the request's command and args with the image's
// Entrypoint and Cmd the way Docker and containerd do.
func (in *Input) processArgs() ([]string, error) {
	command, args := in.Command, in.Args
	if len(command) == 0 {
		if len(args) == 0 {
			args = in.ImageConfig.Cmd
		}
		// An entrypoint of [""] means "no entrypoint" (docker build ENTRYPOINT []).
		if ep := in.ImageConfig.Entrypoint; len(ep) != 1 || ep[0] != "" {
			command = ep
		}
	}
	if len(command) == 0 && len(args) == 0 {
		return nil, in.errorf(errdefs.ErrInvalidArgument, "no command specified (neither the request nor the image has one)")
	}
	out := make([]string, 0, len(command)+len(args))
	out = append(out, command...)
	return append(out, args...), nil
}

// workingDir is the request's, else the image's, else "/".
func (in *Input) workingDir() string {
	switch {
	case in.WorkingDir != "":
		return in.WorkingDir
	case in.ImageConfig.WorkingDir != "":
		return in.ImageConfig.WorkingDir
	default:
		return "/"
	}
}
