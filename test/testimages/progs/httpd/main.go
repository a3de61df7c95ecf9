// Command httpd is a tiny Apache httpd look-alike used by the cri-shim test
// image registry.k8s.io/e2e-test-images/httpd. It is built as a static binary
// and installed as /usr/local/apache2/bin/httpd.
//
// It logs Apache-like start-up lines (mentioning "httpd") to stderr and answers
// every request on port 80 (or -p PORT; other options are ignored) with 200 "It works!". SIGTERM, SIGINT,
// SIGWINCH (graceful stop) and SIGQUIT stop it with exit status 0.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/cri-shim/cri-shim/test/testimages/progs/internal/tinyhttp"
)

const (
	version   = "Apache/2.4.39 (Unix)"
	indexPath = "/usr/local/apache2/htdocs/index.html"
	pidPath   = "/usr/local/apache2/logs/httpd.pid"
	page      = "<html><body><h1>It works!</h1></body></html>\n"
)

func main() {
	// Real httpd options such as -DFOREGROUND or "-D FOREGROUND" are accepted
	// and ignored; only -v and -p PORT mean something here.
	port := 80
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-v", "-V":
			fmt.Println("Server version: " + version)
			return
		case "-p":
			if i+1 < len(args) {
				if p, err := strconv.Atoi(args[i+1]); err == nil && p > 0 && p < 65536 {
					port = p
				}
				i++
			}
		}
	}

	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "(98)Address in use: AH00072: make_sock: could not bind to address [::]:%d: %v\n", port, err)
		fmt.Fprintln(os.Stderr, "AH00015: Unable to open logs")
		os.Exit(1)
	}

	host, _ := os.Hostname()
	fmt.Fprintf(os.Stderr, "AH00558: httpd: Could not reliably determine the server's fully qualified domain name, using %s. Set the 'ServerName' directive globally to suppress this message\n", host)
	fmt.Fprintf(os.Stderr, "[%s] [mpm_event:notice] [pid %d:tid 1] AH00489: %s configured -- resuming normal operations\n",
		time.Now().Format("Mon Jan 02 15:04:05.000000 2006"), os.Getpid(), version)
	fmt.Fprintf(os.Stderr, "[%s] [core:notice] [pid %d:tid 1] AH00094: Command line: 'httpd -D FOREGROUND'\n",
		time.Now().Format("Mon Jan 02 15:04:05.000000 2006"), os.Getpid())

	_ = os.WriteFile(pidPath, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGWINCH, syscall.SIGQUIT)

	go func() {
		<-sigs
		_ = os.Remove(pidPath)
		fmt.Fprintln(os.Stderr, "httpd: caught signal, shutting down")
		os.Exit(0)
	}()

	body := []byte(page)
	if b, err := os.ReadFile(indexPath); err == nil {
		body = b
	}

	err = tinyhttp.Serve(ln, version, "text/html", body, func(r tinyhttp.Request) {
		fmt.Printf("%s - - [%s] \"%s %s %s\" 200 %d\n", r.RemoteAddr,
			time.Now().Format("02/Jan/2006:15:04:05 -0700"), r.Method, r.URI, r.Proto, r.Bytes)
	})
	fmt.Fprintf(os.Stderr, "httpd: %v\n", err)
	os.Exit(1)
}
