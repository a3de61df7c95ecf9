// Command nginx is a tiny nginx look-alike used by the cri-shim test images
// (registry.k8s.io/e2e-test-images/nginx and the cri-tools hostnet-nginx
// image). It is built as a static binary and installed as /usr/sbin/nginx.
//
// What the critest specs rely on, and how it is provided:
//   - HTTP 200 on the port given by "listen N;" in /etc/nginx/nginx.conf
//     (default 80);
//   - its PID written to /var/run/nginx.pid;
//   - process name (comm) "nginx", so `pidof nginx` finds it;
//   - /proc/<pid>/cmdline containing "master process": the program re-executes
//     itself once with argv[0] set to the title real nginx gives its master
//     process. Executing the real path (not /proc/self/exe) keeps comm "nginx".
//
// SIGTERM, SIGINT and SIGQUIT stop it with exit status 0.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/cri-shim/cri-shim/test/testimages/progs/internal/tinyhttp"
)

const (
	masterTitle = "nginx: master process nginx -g daemon off;"
	reexecEnv   = "CRI_SHIM_TESTIMAGES_NGINX_MASTER"
	confPath    = "/etc/nginx/nginx.conf"
	pidPath     = "/var/run/nginx.pid"
	indexPath   = "/usr/share/nginx/html/index.html"
	version     = "nginx/1.14.2"
)

const defaultPage = `<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>
</body>
</html>
`

func main() {
	for _, a := range os.Args[1:] {
		switch a {
		case "-v", "-V":
			fmt.Fprintln(os.Stderr, "nginx version: "+version)
			os.Exit(0)
		case "-t":
			fmt.Fprintln(os.Stderr, "nginx: the configuration file "+confPath+" syntax is ok")
			os.Exit(0)
		}
	}

	if os.Getenv(reexecEnv) == "" {
		if exe, err := os.Executable(); err == nil {
			env := append(os.Environ(), reexecEnv+"=1")
			err = syscall.Exec(exe, []string{masterTitle}, env)
			fmt.Fprintf(os.Stderr, "nginx: [warn] re-exec as master failed: %v\n", err)
		}
	}

	port := listenPort()
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "nginx: [emerg] bind() to 0.0.0.0:%d failed (%v)\n", port, err)
		os.Exit(1)
	}

	if err := os.WriteFile(pidPath, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "nginx: [alert] could not write pid file %s: %v\n", pidPath, err)
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP)

	go func() {
		for s := range sigs {
			if s == syscall.SIGHUP {
				continue // "reload": nothing to do
			}
			_ = os.Remove(pidPath)
			os.Exit(0)
		}
	}()

	page := []byte(defaultPage)
	if b, err := os.ReadFile(indexPath); err == nil {
		page = b
	}

	err = tinyhttp.Serve(ln, version, "text/html", page, func(r tinyhttp.Request) {
		fmt.Printf("%s - - [%s] \"%s %s %s\" 200 %d \"-\" \"%s\"\n",
			r.RemoteAddr, time.Now().Format("02/Jan/2006:15:04:05 -0700"),
			r.Method, r.URI, r.Proto, r.Bytes, r.UserAgent)
	})
	fmt.Fprintf(os.Stderr, "nginx: [emerg] %v\n", err)
	os.Exit(1)
}

var listenRe = regexp.MustCompile(`(?m)^\s*listen\s+(?:[^;\s]*:)?(\d+)`)

// listenPort returns the first "listen N;" port of the configuration, or 80.
func listenPort() int {
	b, err := os.ReadFile(confPath)
	if err != nil {
		return 80
	}
	m := listenRe.FindSubmatch(b)
	if m == nil {
		return 80
	}
	p, err := strconv.Atoi(string(m[1]))
	if err != nil || p <= 0 || p > 65535 {
		return 80
	}
	return p
}
