// Command pgrep is a small procps-compatible pgrep for the cri-shim busybox
// test images (Debian's busybox has no pgrep applet, and procps' pgrep drags in
// libsystemd and friends).
//
// Usage: pgrep [-flaxvcno] [-d DELIM] PATTERN
//
// PATTERN is an extended regular expression matched against the process name
// (comm), or against the full command line with -f. pgrep never reports
// itself. Exit status: 0 if something matched, 1 if nothing did, 2 on usage
// errors, 3 on fatal errors - as procps.
package main

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

type proc struct {
	pid   int
	start uint64
	comm  string
	cmd   string
}

func usage(msg string) {
	if msg != "" {
		fmt.Fprintf(os.Stderr, "pgrep: %s\n", msg)
	}
	fmt.Fprintln(os.Stderr, "Usage: pgrep [-flaxvcno] [-d DELIM] PATTERN")
	os.Exit(2)
}

func main() {
	var full, list, listFull, exact, invert, count, newest, oldest bool
	delim := "\n"
	var pattern string
	havePattern := false

	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		if havePattern || !strings.HasPrefix(a, "-") || a == "-" {
			if havePattern {
				usage("only one pattern can be provided")
			}
			pattern, havePattern = a, true
			continue
		}
		if a == "--" {
			if i+1 < len(args) {
				pattern, havePattern = args[i+1], true
				i++
			}
			continue
		}
		switch a {
		case "--full":
			full = true
			continue
		case "--list-name":
			list = true
			continue
		case "--list-full":
			listFull = true
			continue
		case "--exact":
			exact = true
			continue
		case "--inverse":
			invert = true
			continue
		case "--count":
			count = true
			continue
		case "--newest":
			newest = true
			continue
		case "--oldest":
			oldest = true
			continue
		}
		for j := 1; j < len(a); j++ {
			switch a[j] {
			case 'f':
				full = true
			case 'l':
				list = true
			case 'a':
				listFull = true
			case 'x':
				exact = true
			case 'v':
				invert = true
			case 'c':
				count = true
			case 'n':
				newest = true
			case 'o':
				oldest = true
			case 'd':
				if j+1 < len(a) {
					delim = a[j+1:]
				} else if i+1 < len(args) {
					delim = args[i+1]
					i++
				} else {
					usage("option requires an argument -- 'd'")
				}
				j = len(a)
			default:
				usage(fmt.Sprintf("invalid option -- '%c'", a[j]))
			}
		}
	}
	if !havePattern {
		usage("no matching criteria specified")
	}

	expr := pattern
	if exact {
		expr = "^(?:" + pattern + ")$"
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgrep: invalid regular expression: %v\n", err)
		os.Exit(2)
	}

	procs, err := listProcs()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgrep: %v\n", err)
		os.Exit(3)
	}

	self := os.Getpid()
	var matched []proc
	for _, p := range procs {
		if p.pid == self {
			continue
		}
		subject := p.comm
		if full {
			subject = p.cmd
		}
		if re.MatchString(subject) != invert {
			matched = append(matched, p)
		}
	}

	if (newest || oldest) && len(matched) > 0 {
		best := matched[0]
		for _, p := range matched[1:] {
			if (newest && (p.start > best.start || p.start == best.start && p.pid > best.pid)) ||
				(oldest && (p.start < best.start || p.start == best.start && p.pid < best.pid)) {
				best = p
			}
		}
		matched = []proc{best}
	}

	if count {
		fmt.Println(len(matched))
	} else {
		out := make([]string, 0, len(matched))
		for _, p := range matched {
			s := strconv.Itoa(p.pid)
			switch {
			case listFull:
				s += " " + p.cmd
			case list:
				s += " " + p.comm
			}
			out = append(out, s)
		}
		if len(out) > 0 {
			fmt.Print(strings.Join(out, delim) + "\n")
		}
	}
	if len(matched) == 0 {
		os.Exit(1)
	}
}

// listProcs reads /proc; processes that vanish while being read are skipped.
func listProcs() ([]proc, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var procs []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		p := proc{pid: pid, comm: s[open+1 : closing]}
		// Fields after the comm: state is field 3, starttime field 22.
		if fields := strings.Fields(s[closing+1:]); len(fields) > 19 {
			p.start, _ = strconv.ParseUint(fields[19], 10, 64)
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		p.cmd = strings.TrimRight(strings.ReplaceAll(string(cmdline), "\x00", " "), " ")
		if p.cmd == "" {
			p.cmd = p.comm
		}
		procs = append(procs, p)
	}
	sort.Slice(procs, func(i, j int) bool { return procs[i].pid < procs[j].pid })
	return procs, nil
}
