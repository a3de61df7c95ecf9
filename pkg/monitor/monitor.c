// The container monitor: a small C program inside the cri-shim binary.
//
// When the binary runs as "cri-shim __monitor ...", the constructor below
// takes over before the Go runtime starts, so a monitor costs a few hundred
// kilobytes instead of a Go heap. It is the parent and subreaper of one
// container's init, owns the container's stdio, writes the CRI log file,
// serves attach and control requests on a unix socket, and records the exit
// status in a file. See monitor.go for the protocol.
//
// A spare monitor ("cri-shim __monitor --spare ...") is started before its
// container is known: it starts its create command at once, so the Go
// runtime of "cri-shim __create --spare" is up when the daemon hands over a
// container, then waits on the sync socket for its options (the same
// arguments as a monitor started for one container). It passes the
// container's stdio to the waiting create command, rewrites its own command
// line to the full monitor command line (recovery and operators find a
// monitor by it), and goes on as any monitor. EOF on the sync socket before
// a job ends it and its create command.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

// Frame types of the socket protocol; keep in step with monitor.go.
enum {
	FRAME_STDIN = 0,
	FRAME_STDOUT = 1,
	FRAME_STDERR = 2,
	FRAME_RESIZE = 3,
	FRAME_CLOSE_STDIN = 4,
	FRAME_REOPEN_LOG = 5,
	FRAME_EXIT = 6,
};

// Fds the create command finds: the container's stdio, the console socket
// (tty) and the pipe it writes the init's PID to.
enum {
	CHILD_STDIN = 3,
	CHILD_STDOUT = 4,
	CHILD_STDERR = 5,
	CHILD_CONSOLE = 6,
	CHILD_RESULT = 7,
};

#define MAX_CLIENTS 32
#define READ_CHUNK 32768
#define MAX_FRAME (1 << 20)
#define MAX_PENDING_STDIN (1 << 20)
#define DRAIN_MS 2000
#define MAX_JOB (64 * 1024)
#define SPARE_NICE 10 // a waiting spare yields the CPU to real work
#define MAX_JOB_ARGS 256

struct opts {
	const char *log_path;
	const char *log_dir; // the pod's log directory, which log_path lies under
	const char *exit_file;
	const char *socket_path;
	const char *oom_file;
	int tty, stdin_open, stdin_once;
	int sync_fd;
	size_t max_line;
	char **create_argv;
	int spare;             // started ahead of its container (see above)
	const char *debug_log; // a spare's diagnostics file, given with the job
};

struct stream {
	int fd;
	const char *name;
	int frame;
	char *line;
	size_t len;
};

struct client {
	int fd;
	// A frame being read: header then payload.
	unsigned char hdr[5];
	size_t hdr_len;
	char *payload;
	size_t payload_len, payload_want;
	int attached_stdin;
};

static struct opts o;
static int log_fd = -1;
static int epfd = -1;
static int listen_fd = -1;
static int stdin_fd = -1; // write end of the container's stdin, or a pty master
static int pty_fd = -1;
static char *pending;     // stdin bytes not yet taken by the container
static size_t pending_len;
static struct stream streams[2];
static struct client clients[MAX_CLIENTS];
static int stdin_used; // a client has sent stdin (for stdin_once)

static void logmsg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "cri-shim monitor[%d]: ", getpid());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void report(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	if (o.sync_fd < 0)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	ssize_t off = 0;
	while (off < n) {
		ssize_t w = write(o.sync_fd, buf + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += w;
	}
	close(o.sync_fd);
	o.sync_fd = -1;
}

static pid_t spare_create = -1; // a spare's create command, waiting for its job
static int spare_job = -1;      // the socket its job goes through

static void fail(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	logmsg("%s", buf);
	report("error %s", buf);
	if (o.socket_path)
		unlink(o.socket_path);
	if (spare_create > 0)
		kill(spare_create, SIGKILL); // a spare's create command, waiting or not
	_exit(1);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= w;
	}
	return 0;
}

// --- the CRI log file -----------------------------------------------------

// open_log_file opens the log file for appending. Under the pod's log
// directory no component may be a symlink: the directory may be shared with
// a container, which could otherwise swap the file or a directory on its
// way for a symlink to a host file before a reopen, and have its output
// appended there. The directory itself (from the kubelet) is followed.
static int open_log_file(void)
{
	const int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY;
	size_t dl = o.log_dir ? strlen(o.log_dir) : 0;
	if (dl == 0 || strncmp(o.log_path, o.log_dir, dl) != 0 || o.log_path[dl] != '/')
		return open(o.log_path, flags | O_NOFOLLOW, 0640);
	int dfd = open(o.log_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	const char *rel = o.log_path + dl + 1;
	struct open_how how = {
		.flags = flags,
		.mode = 0640,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS) // before Linux 5.6: the last component only
		fd = openat(dfd, rel, flags | O_NOFOLLOW, 0640);
	int e = errno;
	close(dfd);
	errno = e;
	return fd;
}

// open_log (re)opens the log file; it returns 0, or -1 when the open
// failed (the previous file, if any, stays in use).
static int open_log(void)
{
	if (!o.log_path || !*o.log_path)
		return 0;
	int fd = open_log_file();
	if (fd < 0) {
		logmsg("open log %s: %s", o.log_path, strerror(errno));
		return -1;
	}
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	return 0;
}

static void timestamp(char *buf, size_t n)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t l = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + l, n - l, ".%09ldZ", ts.tv_nsec);
}

// write_record writes "TIMESTAMP STREAM P|F CONTENT\n".
static void write_record(const char *ts, struct stream *s, int partial, const char *p, size_t n)
{
	if (log_fd < 0)
		return;
	char head[96];
	int hl = snprintf(head, sizeof(head), "%s %s %c ", ts, s->name, partial ? 'P' : 'F');
	struct iovec iov[3] = {
		{head, (size_t)hl},
		{(void *)p, n},
		{"\n", 1},
	};
	size_t total = hl + n + 1;
	ssize_t w;
	do {
		w = writev(log_fd, iov, 3);
	} while (w < 0 && errno == EINTR);
	if (w >= 0 && (size_t)w != total) {
		// A short write (disk full): finish it plainly.
		char *all = malloc(total);
		if (all) {
			memcpy(all, head, hl);
			memcpy(all + hl, p, n);
			all[total - 1] = '\n';
			write_all(log_fd, all + w, total - w);
			free(all);
		}
	}
}

// log_data splits output into records: one per line, lines longer than
// max_line cut into partial records. A full buffer is kept until more of
// the line comes, so the line's last record is always an F record, even
// when a line without a newline ends the output at a multiple of max_line.
static void log_data(struct stream *s, const char *p, size_t n)
{
	char ts[64];
	timestamp(ts, sizeof(ts));
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;
		// Cut partials while more than max_line of the line is known.
		while (s->len + take > o.max_line) {
			size_t room = o.max_line - s->len;
			if (s->len == 0) {
				write_record(ts, s, 1, p, room);
			} else {
				memcpy(s->line + s->len, p, room);
				write_record(ts, s, 1, s->line, o.max_line);
				s->len = 0;
			}
			p += room;
			n -= room;
			take -= room;
		}
		if (nl) {
			if (s->len == 0) {
				write_record(ts, s, 0, p, take);
			} else {
				memcpy(s->line + s->len, p, take);
				write_record(ts, s, 0, s->line, s->len + take);
				s->len = 0;
			}
			p += take + 1;
			n -= take + 1;
		} else {
			memcpy(s->line + s->len, p, take);
			s->len += take;
			p += take;
			n -= take;
		}
	}
}

static void flush_stream(struct stream *s)
{
	if (s->len > 0) {
		char ts[64];
		timestamp(ts, sizeof(ts));
		write_record(ts, s, 0, s->line, s->len);
		s->len = 0;
	}
}

// --- attach and control clients ---------------------------------------------

static void drop_client(struct client *c)
{
	if (c->fd < 0)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	free(c->payload);
	c->payload = NULL;
	if (c->attached_stdin && o.stdin_once && stdin_fd >= 0 && pty_fd < 0) {
		// StdinOnce: the first attach session's end closes the container's stdin.
		epoll_ctl(epfd, EPOLL_CTL_DEL, stdin_fd, NULL);
		close(stdin_fd);
		stdin_fd = -1;
	}
}

static int send_frame(struct client *c, int type, const char *p, size_t n)
{
	unsigned char hdr[5] = {type, n >> 24, n >> 16, n >> 8, n};
	struct iovec iov[2] = {{hdr, 5}, {(void *)p, n}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	ssize_t w;
	do {
		w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (w < 0 && errno == EINTR);
	if (w != (ssize_t)(5 + n)) {
		// A client that cannot keep up is dropped rather than slowing the container.
		drop_client(c);
		return -1;
	}
	return 0;
}

static void broadcast(int type, const char *p, size_t n)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			send_frame(&clients[i], type, p, n);
}

static void flush_pending(void)
{
	while (pending_len > 0 && stdin_fd >= 0) {
		ssize_t w = write(stdin_fd, pending, pending_len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w < 0) {
			// The container closed its stdin.
			pending_len = 0;
			break;
		}
		memmove(pending, pending + w, pending_len - w);
		pending_len -= w;
	}
	if (stdin_fd >= 0 && pty_fd < 0) {
		struct epoll_event ev = {.events = pending_len ? EPOLLOUT : 0, .data.fd = stdin_fd};
		epoll_ctl(epfd, EPOLL_CTL_MOD, stdin_fd, &ev);
	}
}

static void do_stdin(struct client *c, const char *p, size_t n)
{
	int fd = pty_fd >= 0 ? pty_fd : stdin_fd;
	if (fd < 0)
		return;
	c->attached_stdin = 1;
	stdin_used = 1;
	if (pending_len + n > MAX_PENDING_STDIN) {
		drop_client(c);
		return;
	}
	char *np = realloc(pending, pending_len + n);
	if (!np) {
		drop_client(c);
		return;
	}
	pending = np;
	memcpy(pending + pending_len, p, n);
	pending_len += n;
	if (pty_fd >= 0) {
		// The pty master is blocking-safe for small writes; push it now.
		int saved = stdin_fd;
		stdin_fd = pty_fd;
		flush_pending();
		stdin_fd = saved;
	} else {
		flush_pending();
	}
}

static void handle_frame(struct client *c, int type, const char *p, size_t n)
{
	switch (type) {
	case FRAME_STDIN:
		do_stdin(c, p, n);
		break;
	case FRAME_RESIZE:
		if (pty_fd >= 0 && n == 4) {
			struct winsize ws = {
				.ws_row = ((unsigned char)p[0] << 8) | (unsigned char)p[1],
				.ws_col = ((unsigned char)p[2] << 8) | (unsigned char)p[3],
			};
			ioctl(pty_fd, TIOCSWINSZ, &ws);
		}
		break;
	case FRAME_CLOSE_STDIN:
		if (stdin_fd >= 0 && pty_fd < 0) {
			flush_pending();
			epoll_ctl(epfd, EPOLL_CTL_DEL, stdin_fd, NULL);
			close(stdin_fd);
			stdin_fd = -1;
		}
		break;
	case FRAME_REOPEN_LOG:
		if (open_log() == 0)
			send_frame(c, FRAME_REOPEN_LOG, "", 0);
		else
			send_frame(c, FRAME_REOPEN_LOG, "cannot open log", 15);
		break;
	}
}

static void read_client(struct client *c)
{
	char buf[READ_CHUNK];
	ssize_t n = read(c->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		drop_client(c);
		return;
	}
	size_t off = 0;
	while (off < (size_t)n && c->fd >= 0) {
		if (c->hdr_len < 5) {
			c->hdr[c->hdr_len++] = buf[off++];
			if (c->hdr_len == 5) {
				c->payload_want = ((size_t)c->hdr[1] << 24) | (c->hdr[2] << 16) | (c->hdr[3] << 8) | c->hdr[4];
				if (c->payload_want > MAX_FRAME) {
					drop_client(c);
					return;
				}
				c->payload = malloc(c->payload_want + 1);
				c->payload_len = 0;
				if (!c->payload) {
					drop_client(c);
					return;
				}
			}
		}
		if (c->hdr_len == 5) {
			size_t take = c->payload_want - c->payload_len;
			if (take > (size_t)n - off)
				take = n - off;
			memcpy(c->payload + c->payload_len, buf + off, take);
			c->payload_len += take;
			off += take;
			if (c->payload_len == c->payload_want) {
				handle_frame(c, c->hdr[0], c->payload, c->payload_len);
				if (c->fd < 0)
					return;
				free(c->payload);
				c->payload = NULL;
				c->hdr_len = 0;
			}
		}
	}
}

static void accept_client(void)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (clients[i].fd < 0) {
			memset(&clients[i], 0, sizeof(clients[i]));
			clients[i].fd = fd;
			// Larger send buffer so bursts of output reach attach clients.
			int sz = 1 << 20;
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
			struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1000 + i};
			epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
			return;
		}
	}
	close(fd);
}

// --- set-up -------------------------------------------------------------------

static void parse_args(int argc, char **argv)
{
	o.sync_fd = -1;
	o.max_line = 16 * 1024;
	int i;
	for (i = 2; i < argc; i++) {
		char *a = argv[i];
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strncmp(a, "--log=", 6))
			o.log_path = a + 6;
		else if (!strncmp(a, "--log-dir=", 10))
			o.log_dir = a + 10;
		else if (!strncmp(a, "--exit-file=", 12))
			o.exit_file = a + 12;
		else if (!strncmp(a, "--socket=", 9))
			o.socket_path = a + 9;
		else if (!strncmp(a, "--oom-file=", 11))
			o.oom_file = a + 11;
		else if (!strcmp(a, "--tty"))
			o.tty = 1;
		else if (!strcmp(a, "--stdin"))
			o.stdin_open = 1;
		else if (!strcmp(a, "--stdin-once"))
			o.stdin_once = 1;
		else if (!strncmp(a, "--sync-fd=", 10))
			o.sync_fd = atoi(a + 10);
		else if (!strncmp(a, "--max-line=", 11))
			o.max_line = strtoul(a + 11, NULL, 10);
		else if (!strcmp(a, "--spare"))
			o.spare = 1;
		else if (!strncmp(a, "--spare-of=", 11) || !strncmp(a, "--pad=", 6))
			; // what a spare is for, and room for its command line
		else if (!strncmp(a, "--debug-log=", 12))
			o.debug_log = a + 12;
		else
			fail("unknown monitor argument %s", a);
	}
	if (o.sync_fd >= 0)
		fcntl(o.sync_fd, F_SETFD, FD_CLOEXEC);
	if (i >= argc)
		fail("no create command");
	if (!o.spare && (!o.exit_file || !o.socket_path))
		fail("--exit-file and --socket are required");
	if (o.max_line < 64 || o.max_line > (1 << 20))
		o.max_line = 16 * 1024;
	o.create_argv = argv + i;
}

static int listen_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		fail("socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 || listen(fd, 16) < 0)
		fail("listen on %s: %s", path, strerror(errno));
	return fd;
}

static long read_oom_kills(void)
{
	if (!o.oom_file)
		return -1;
	FILE *f = fopen(o.oom_file, "re");
	if (!f)
		return -1;
	char key[64];
	long v, found = -1;
	while (fscanf(f, "%63s %ld", key, &v) == 2)
		if (!strcmp(key, "oom_kill"))
			found = v;
	fclose(f);
	return found;
}

// recv_fd takes the pty master the create command sent on the console socket.
static int recv_fd(int sock)
{
	char data[256];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {data, sizeof(data)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	if (recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) < 0)
		return -1;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

static void write_exit_file(int status, long long finished, int oom)
{
	int code = 0, sig = 0;
	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status)) {
		sig = WTERMSIG(status);
		code = 128 + sig;
	}
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s.tmp", o.exit_file);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		logmsg("exit file %s: %s", tmp, strerror(errno));
		return;
	}
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "{\"exit_code\":%d,\"signal\":%d,\"finished_at\":%lld,\"oom_killed\":%s}\n",
			 code, sig, finished, oom ? "true" : "false");
	if (write_all(fd, buf, n) < 0 || fsync(fd) < 0 || close(fd) < 0 || rename(tmp, o.exit_file) < 0)
		logmsg("exit file %s: %s", o.exit_file, strerror(errno));
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

// --- spares -------------------------------------------------------------------


// exec_create runs the create command in a forked child, its fds in place,
// with the signal mask and SIGPIPE disposition the monitor had before it
// took signals over.
static void exec_create(const sigset_t *old)
{
	sigprocmask(SIG_SETMASK, old, NULL);
	signal(SIGPIPE, SIG_DFL);
	execvp(o.create_argv[0], o.create_argv);
	dprintf(2, "exec %s: %s", o.create_argv[0], strerror(errno));
	_exit(127);
}

// set_cmdline rewrites the command line /proc shows in place (argv's own
// memory, as setproctitle does): args, NUL-separated, then NULs to the end
// of the original area. It returns -1 when they do not fit.
static int set_cmdline(char **argv, int argc, char **args)
{
	char *start = argv[0], *end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
	size_t need = 0;
	for (char **a = args; *a; a++)
		need += strlen(*a) + 1;
	if (need > (size_t)(end - start))
		return -1;
	static char copy[MAX_JOB];
	char *p = copy;
	for (char **a = args; *a; a++) {
		size_t l = strlen(*a) + 1;
		memcpy(p, *a, l);
		p += l;
	}
	memcpy(start, copy, need);
	memset(start + need, 0, end - start - need);
	return 0;
}

// take_job starts a spare's create command (its job socket on fd 3, fds 4-7
// held by /dev/null so its Go runtime opens nothing there), waits for the
// job on the sync socket and parses it into o. EOF ends the spare.
static void take_job(int argc, char **argv, sigset_t *old)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		fail("job socketpair: %s", strerror(errno));
	// Starting the create command (the Go runtime of the cri-shim binary)
	// is background work: niced, so that it does not slow the calls and
	// containers running meanwhile. The job brings the daemon's niceness
	// back, to the monitor first and then, from it, to the create command.
	errno = 0;
	int nice0 = getpriority(PRIO_PROCESS, 0);
	int niced = errno == 0 && nice0 + SPARE_NICE <= 19 && setpriority(PRIO_PROCESS, 0, nice0 + SPARE_NICE) == 0;
	pid_t c = fork();
	if (c < 0)
		fail("fork: %s", strerror(errno));
	if (c == 0) {
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		int job = fcntl(sp[1], F_DUPFD_CLOEXEC, 64);
		if (devnull < 0 || job < 0 || dup2(job, CHILD_STDIN) < 0)
			_exit(120);
		for (int fd = CHILD_STDOUT; fd <= CHILD_RESULT; fd++)
			if (dup2(devnull, fd) < 0)
				_exit(120);
		if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0)
			_exit(121);
		exec_create(old);
	}
	close(sp[1]);
	spare_create = c;
	spare_job = sp[0];

	static char job[MAX_JOB];
	ssize_t n;
	do
		n = recv(o.sync_fd, job, sizeof(job) - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		// Let go: no container for this spare.
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		_exit(0);
	}
	job[n] = 0;
	if (niced && setpriority(PRIO_PROCESS, 0, nice0) < 0) {
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		report("retry the spare monitor cannot take back its priority: %s", strerror(errno));
		_exit(1);
	}
	static char *args[MAX_JOB_ARGS + 1];
	int na = 0;
	args[na++] = argv[0];
	args[na++] = argv[1];
	// The sync fd first, so that a job that does not parse is reported.
	static char sync_arg[32];
	snprintf(sync_arg, sizeof(sync_arg), "--sync-fd=%d", o.sync_fd);
	args[na++] = sync_arg;
	for (char *p = job; p < job + n && na < MAX_JOB_ARGS; p += strlen(p) + 1)
		args[na++] = p;
	args[na] = NULL;
	memset(&o, 0, sizeof(o));
	parse_args(na, args);
	if (o.debug_log) {
		int fd = open(o.debug_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
	}
	// The full command line: "cri-shim __monitor OPTIONS -- create command".
	static char *full[MAX_JOB_ARGS + 8];
	int nf = 0;
	for (int i = 0; i < na; i++) {
		if (args[i] == sync_arg)
			continue; // it goes last, as in a monitor started for its container
		if (!strcmp(args[i], "--")) {
			full[nf++] = sync_arg;
			full[nf++] = "--spare";
			full[nf++] = "--";
			for (char **a = o.create_argv; *a && nf < MAX_JOB_ARGS + 6; a++)
				full[nf++] = *a;
			break;
		}
		full[nf++] = args[i];
	}
	full[nf] = NULL;
	if (set_cmdline(argv, argc, full) < 0) {
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		report("retry the container's command line does not fit in a spare monitor's");
		_exit(1);
	}
	// A daemon that died after sending the job may already be recovering:
	// it finds this monitor by its command line from now on, but not
	// before. Make nothing for a daemon gone before that.
	struct pollfd pfd = {.fd = o.sync_fd, .events = POLLRDHUP};
	if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		_exit(0);
	}
	// The create command is told only its own arguments (after "__create").
	for (int i = 0; o.create_argv[i]; i++)
		if (!strcmp(o.create_argv[i], "__create")) {
			o.create_argv += i + 1;
			break;
		}
}

// send_job gives the spare's create command its arguments and fds
// (stdin, stdout, stderr, console, result, error): 0, or -1 when it is gone.
static int send_job(int fds[6])
{
	static char buf[MAX_JOB];
	size_t len = 0;
	for (char **a = o.create_argv; *a; a++) {
		size_t l = strlen(*a) + 1;
		if (len + l > sizeof(buf))
			return -1;
		memcpy(buf + len, *a, l);
		len += l;
	}
	char cbuf[CMSG_SPACE(6 * sizeof(int))];
	memset(cbuf, 0, sizeof(cbuf));
	struct iovec iov = {buf, len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(6 * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, 6 * sizeof(int));
	ssize_t n;
	do
		n = sendmsg(spare_job, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	close(spare_job);
	spare_job = -1;
	return n == (ssize_t)len ? 0 : -1;
}

static int monitor_main(int argc, char **argv)
{
	parse_args(argc, argv);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;

	sigset_t mask, old;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &old);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		fail("signalfd: %s", strerror(errno));
	if (o.spare)
		take_job(argc, argv, &old);

	open_log();
	listen_fd = listen_socket(o.socket_path);

	// The container's stdio and the create command's channels.
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, console[2] = {-1, -1}, res[2], errp[2];
	if (o.tty) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, console) < 0)
			fail("console socketpair: %s", strerror(errno));
	} else {
		if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
			fail("stdio pipes: %s", strerror(errno));
		if (o.stdin_open && pipe2(in, O_CLOEXEC) < 0)
			fail("stdin pipe: %s", strerror(errno));
	}
	if (pipe2(res, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
		fail("pipes: %s", strerror(errno));

	pid_t create = spare_create;
	if (create > 0) {
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		int fds[6] = {in[0] >= 0 ? in[0] : devnull, out[1] >= 0 ? out[1] : devnull,
			      err[1] >= 0 ? err[1] : devnull, console[1] >= 0 ? console[1] : devnull, res[1], errp[1]};
		int sent = devnull >= 0 ? send_job(fds) : -1;
		if (devnull >= 0)
			close(devnull);
		if (sent < 0) {
			kill(create, SIGKILL);
			waitpid(create, NULL, 0);
			unlink(o.socket_path);
			report("retry the spare create command is gone");
			_exit(1);
		}
	} else if ((create = fork()) < 0) {
		fail("fork: %s", strerror(errno));
	} else if (create == 0) {
		// The create command: fds 3..7 as documented, stdout to /dev/null, stderr to errp.
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		int want[5] = {in[0] >= 0 ? in[0] : devnull, out[1] >= 0 ? out[1] : devnull,
			       err[1] >= 0 ? err[1] : devnull, console[1] >= 0 ? console[1] : devnull, res[1]};
		// Move sources above the target range first so dup2 cannot clobber them.
		for (int i = 0; i < 5; i++)
			want[i] = fcntl(want[i], F_DUPFD_CLOEXEC, 64);
		for (int i = 0; i < 5; i++)
			if (want[i] < 0 || dup2(want[i], CHILD_STDIN + i) < 0)
				_exit(120);
		if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(errp[1], 2) < 0)
			_exit(121);
		exec_create(&old);
	}
	close(res[1]);
	close(errp[1]);
	if (in[0] >= 0)
		close(in[0]);
	if (out[1] >= 0)
		close(out[1]);
	if (err[1] >= 0)
		close(err[1]);
	if (console[1] >= 0)
		close(console[1]);

	// The create command reports the init's PID, then exits.
	char rbuf[64] = {0}, ebuf[2048] = {0};
	size_t rl = 0, el = 0;
	ssize_t n;
	while ((n = read(res[0], rbuf + rl, sizeof(rbuf) - 1 - rl)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			rl += n;
	while ((n = read(errp[0], ebuf + el, sizeof(ebuf) - 1 - el)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			el += n;
	close(res[0]);
	close(errp[0]);
	int cstatus = 0;
	while (waitpid(create, &cstatus, 0) < 0 && errno == EINTR)
		;
	pid_t init = (pid_t)atoi(rbuf);
	if (!WIFEXITED(cstatus) || WEXITSTATUS(cstatus) != 0 || init <= 0) {
		while (el > 0 && (ebuf[el - 1] == '\n' || ebuf[el - 1] == ' '))
			ebuf[--el] = 0;
		for (size_t i = 0; i < el; i++)
			if (ebuf[i] == '\n')
				ebuf[i] = ' ';
		if (init > 0) {
			kill(init, SIGKILL);
			waitpid(init, NULL, 0);
		}
		fail("create failed (status %d): %s", cstatus, el ? ebuf : "no output");
	}
	if (o.tty) {
		pty_fd = recv_fd(console[0]);
		close(console[0]);
		if (pty_fd < 0)
			fail("no pty master from the create command");
		fcntl(pty_fd, F_SETFL, O_NONBLOCK);
	} else if (in[1] >= 0) {
		stdin_fd = in[1];
		fcntl(stdin_fd, F_SETFL, O_NONBLOCK);
	}

	long oom_before = read_oom_kills();
	report("ok %d", init);

	epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN};
	streams[0] = (struct stream){.fd = o.tty ? pty_fd : out[0], .name = "stdout", .frame = FRAME_STDOUT};
	streams[1] = (struct stream){.fd = o.tty ? -1 : err[0], .name = "stderr", .frame = FRAME_STDERR};
	for (int i = 0; i < 2; i++) {
		if (streams[i].fd < 0)
			continue;
		streams[i].line = malloc(o.max_line);
		if (!streams[i].line)
			fail("out of memory");
		ev.data.u64 = 10 + i;
		epoll_ctl(epfd, EPOLL_CTL_ADD, streams[i].fd, &ev);
	}
	ev.data.u64 = 1;
	epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev);
	ev.data.u64 = 2;
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
	if (stdin_fd >= 0) {
		struct epoll_event sev = {.events = 0, .data.u64 = 3};
		epoll_ctl(epfd, EPOLL_CTL_ADD, stdin_fd, &sev);
	}

	int exited = 0, status = 0;
	long long finished = 0, drain_until = 0;
	char buf[READ_CHUNK];
	// The init is our child now (the create command is gone), unless the
	// create command reaped it itself: then no SIGCHLD will ever come and
	// its status is lost; report 255 rather than wait for ever.
	{
		int st;
		pid_t p = waitpid(init, &st, WNOHANG);
		if (p == init || (p < 0 && errno == ECHILD)) {
			if (p < 0) {
				logmsg("init %d was reaped by the create command: exit status lost", init);
				st = 255 << 8;
			}
			exited = 1;
			status = st;
			finished = now_ns();
			drain_until = mono_ms() + DRAIN_MS;
		}
	}
	for (;;) {
		int open_streams = (streams[0].fd >= 0) + (streams[1].fd >= 0);
		if (exited && (open_streams == 0 || mono_ms() >= drain_until))
			break;
		int timeout = exited ? (int)(drain_until - mono_ms()) : -1;
		if (exited && timeout < 0)
			timeout = 0;
		struct epoll_event evs[16];
		int k = epoll_wait(epfd, evs, 16, timeout);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			fail("epoll: %s", strerror(errno));
		for (int e = 0; e < k; e++) {
			uint64_t id = evs[e].data.u64;
			if (id == 10 || id == 11) {
				struct stream *s = &streams[id - 10];
				if (s->fd < 0)
					continue;
				n = read(s->fd, buf, sizeof(buf));
				if (n < 0 && (errno == EINTR || errno == EAGAIN))
					continue;
				if (n <= 0) {
					// EOF, or EIO on a pty whose other side closed.
					flush_stream(s);
					epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
					if (s->fd != pty_fd)
						close(s->fd);
					s->fd = -1;
					continue;
				}
				log_data(s, buf, n);
				broadcast(s->frame, buf, n);
			} else if (id == 1) {
				accept_client();
			} else if (id == 2) {
				struct signalfd_siginfo si;
				while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGUSR1)
						open_log();
				}
				int st;
				pid_t p;
				while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
					if (p == init && !exited) {
						exited = 1;
						status = st;
						finished = now_ns();
						drain_until = mono_ms() + DRAIN_MS;
					}
				}
			} else if (id == 3) {
				flush_pending();
			} else if (id >= 1000 && id < 1000 + MAX_CLIENTS) {
				struct client *c = &clients[id - 1000];
				if (c->fd >= 0)
					read_client(c);
			}
		}
	}
	for (int i = 0; i < 2; i++)
		flush_stream(&streams[i]);
	long oom_after = read_oom_kills();
	int oom = oom_before >= 0 && oom_after > oom_before;
	write_exit_file(status, finished, oom);
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	unsigned char cb[4] = {code >> 24, code >> 16, code >> 8, code};
	broadcast(FRAME_EXIT, (const char *)cb, 4);
	unlink(o.socket_path);
	if (log_fd >= 0)
		close(log_fd);
	return 0;
}

__attribute__((constructor)) static void cri_shim_monitor(int argc, char **argv, char **envp)
{
	(void)envp;
	if (argc >= 2 && argv && argv[1] && !strcmp(argv[1], "__monitor"))
		_exit(monitor_main(argc, argv));
}
