// SPDX-License-Identifier: GPL-2.0
/*
 * xenib-backd: lends a process context to ib_back.
 *
 * It finds the uverbs device of the RDMA device ib_back is bound to. One
 * thread calls XENIB_BACK_SERVE, inside which the kernel dispatches every
 * frontend's requests; the main thread forks a context server whenever
 * the kernel asks (XENIB_BACK_POOL_WAIT): one process per guest context,
 * in which the kernel executes that context's verbs. Until SIGTERM or
 * SIGINT.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../uapi.h"

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	if (!f || !fgets(buf, len, f)) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int find_uverbs(const char *ibdev, char *path, size_t len)
{
	DIR *d = opendir("/sys/class/infiniband_verbs");
	struct dirent *e;
	char p[512], name[64];

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "uverbs", 6) || strlen(e->d_name) > 32)
			continue;
		snprintf(p, sizeof(p), "/sys/class/infiniband_verbs/%s/ibdev", e->d_name);
		if (read_line(p, name, sizeof(name)) == 0 && !strcmp(name, ibdev)) {
			snprintf(path, len, "/dev/infiniband/%.32s", e->d_name);
			closedir(d);
			return 0;
		}
	}
	closedir(d);
	return -1;
}

static int fd = -1;
static pthread_t main_thread;
static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;	/* interrupts the ioctls */
	stopping = 1;
}

/* The dispatcher thread: serves the rings until it is signalled. */
static void *dispatch(void *arg)
{
	if (ioctl(fd, XENIB_BACK_SERVE, arg) && errno != EINTR)
		perror("xenib-backd: XENIB_BACK_SERVE");
	stopping = 1;
	pthread_kill(main_thread, SIGTERM);
	return NULL;
}

/*
 * A forked child becomes a context server. The kernel empties its address
 * space, drops its capabilities and serves one guest context in it; the
 * child never comes back (it is killed when the context ends).
 */
static void serve_context(pid_t daemon)
{
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	/* A context server must not outlive the daemon that dispatches to it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != daemon)
		_exit(1);
	ioctl(fd, XENIB_BACK_SERVE_CONTEXT);
	_exit(1);
}


int main(void)
{
	struct xenib_back_serve req = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	pthread_t dispatcher;
	char ibdev[64];
	pid_t pid;

	if (read_line("/sys/module/ib_back/parameters/dev", ibdev, sizeof(ibdev))) {
		fprintf(stderr, "xenib-backd: ib_back is not loaded\n");
		return 1;
	}
	if (find_uverbs(ibdev, req.uverbs_path, sizeof(req.uverbs_path))) {
		fprintf(stderr, "xenib-backd: no uverbs device for %s\n", ibdev);
		return 1;
	}
	fd = open("/dev/xenib_back", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		perror("xenib-backd: /dev/xenib_back");
		return 1;
	}
	/*
	 * Context servers pin guests' registered memory without
	 * CAP_IPC_LOCK, so RLIMIT_MEMLOCK would apply to them; ib_back
	 * bounds what each guest may register itself.
	 */
	if (setrlimit(RLIMIT_MEMLOCK, &(struct rlimit){ RLIM_INFINITY, RLIM_INFINITY }))
		perror("xenib-backd: RLIMIT_MEMLOCK (guests may register little)");
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* Context servers are reaped by the kernel as they end. */
	signal(SIGCHLD, SIG_IGN);
	main_thread = pthread_self();
	if (pthread_create(&dispatcher, NULL, dispatch, &req)) {
		fprintf(stderr, "xenib-backd: cannot start the dispatcher\n");
		return 1;
	}
	/* Keep processes ready for new guest contexts, as the kernel asks. */
	while (!stopping) {
		if (ioctl(fd, XENIB_BACK_POOL_WAIT)) {
			if (errno == ESHUTDOWN)
				usleep(10000);	/* the dispatcher is not in yet */
			else if (errno != EINTR)
				break;
			continue;
		}
		pid = fork();
		if (pid == 0)
			serve_context(getppid());
		if (pid < 0) {
			perror("xenib-backd: fork");
			sleep(1);
		}
	}
	pthread_kill(dispatcher, SIGTERM);
	pthread_join(dispatcher, NULL);
	/*
	 * The dispatcher has closed every context: the servers are going.
	 * With SIGCHLD ignored, wait() returns once all of them have.
	 */
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return 0;
}
