// The pod's PID 1, in C: when the binary runs as "cri-shim pod-init ID",
// this constructor takes over before the Go runtime starts, so a pod's PID
// namespace costs a few hundred kilobytes instead of a Go heap. It reaps the
// zombies the pod's processes leave and exits 0 on SIGTERM or SIGINT.

#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int pod_init_main(void)
{
	sigset_t set;
	// It never gains a privilege, even through exec.
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (;;) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		int sig = 0;
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT)
			return 0;
	}
}

__attribute__((constructor)) static void cri_shim_pod_init(int argc, char **argv, char **envp)
{
	(void)envp;
	if (argc >= 3 && argv && argv[1] && !strcmp(argv[1], "pod-init"))
		_exit(pod_init_main());
}
