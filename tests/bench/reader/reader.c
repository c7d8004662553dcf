/*
 * reader: times open + read-to-EOF + close of files, the way a tool such as free or top
 * reads /proc, from inside a container. Built static on the host (gcc -static) and
 * bind-mounted into the container, so the same binary runs in every image.
 *
 * usage: reader [-n ITER] [-w WARMUP] [-s FILE]... FILE...
 *
 * Output, one line per record, tab-separated:
 *   mount  FILE  FSTYPE  MOUNTPOINT     the mount that serves FILE (longest mount point
 *                                       prefix in /proc/self/mountinfo, last one wins)
 *   size   FILE  BYTES                  bytes read by the first timed iteration
 *   fresh  FILE  MS|unchanged           for each -s FILE: the file is read once, kept open and
 *                                       re-read after lseek(0) every 10 ms; MS is the time
 *                                       until the content differed (procfs semantics: fresh
 *                                       data on every read), or "unchanged" after 1.5 s
 *   ns     FILE  NS                     one line per timed iteration
 * Errors go to stderr and the exit status is 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ (256 * 1024)

static char buf[BUFSZ];
static char buf2[BUFSZ];

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* read_all reads fd to EOF into b; returns the byte count or -1. */
static ssize_t read_all(int fd, char *b)
{
	ssize_t total = 0, n;

	for (;;) {
		n = read(fd, b + total, BUFSZ - total);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return total;
		total += n;
		if (total == BUFSZ)
			return total;
	}
}

/* once does one open + read-to-EOF + close; returns the byte count or -1. */
static ssize_t once(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read_all(fd, buf);
	close(fd);
	return n;
}

/* is_under reports whether path equals mountpoint mp or lies below it. */
static int is_under(const char *path, const char *mp)
{
	size_t l = strlen(mp);

	if (strcmp(mp, "/") == 0)
		return 1;
	return strncmp(path, mp, l) == 0 && (path[l] == '\0' || path[l] == '/');
}

static void print_mount(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096], best_mp[1024] = "?", best_fs[256] = "?";
	size_t best_len = 0;

	if (!f) {
		printf("mount\t%s\t?\t?\n", path);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		/* id parent major:minor root mountpoint options [optional...] - fstype source super */
		char mp[1024], fs[256];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %*s %1023s", mp) != 1 ||
		    sscanf(sep + 3, "%255s", fs) != 1)
			continue;
		if (is_under(path, mp) && strlen(mp) >= best_len) {
			best_len = strlen(mp);
			snprintf(best_mp, sizeof(best_mp), "%s", mp);
			snprintf(best_fs, sizeof(best_fs), "%s", fs);
		}
	}
	fclose(f);
	printf("mount\t%s\t%s\t%s\n", path, best_fs, best_mp);
}

/* print_fresh checks that a kept-open file gives new content after lseek(0). */
static int print_fresh(const char *path)
{
	struct timespec ten_ms = {0, 10 * 1000 * 1000};
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n0, n;
	int i;

	if (fd < 0 || (n0 = read_all(fd, buf2)) < 0) {
		fprintf(stderr, "reader: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (i = 1; i <= 150; i++) {
		nanosleep(&ten_ms, NULL);
		if (lseek(fd, 0, SEEK_SET) < 0 || (n = read_all(fd, buf)) < 0) {
			fprintf(stderr, "reader: %s: re-read after seek: %s\n", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (n != n0 || memcmp(buf, buf2, n) != 0) {
			printf("fresh\t%s\t%d\n", path, i * 10);
			close(fd);
			return 0;
		}
	}
	printf("fresh\t%s\tunchanged\n", path);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	long iters = 2000, warmup = 100;
	const char *fresh[16];
	int nfresh = 0, opt, rc = 0;
	long long *samples;

	while ((opt = getopt(argc, argv, "n:w:s:")) != -1) {
		switch (opt) {
		case 'n':
			iters = atol(optarg);
			break;
		case 'w':
			warmup = atol(optarg);
			break;
		case 's':
			if (nfresh == (int)(sizeof(fresh) / sizeof(fresh[0]))) {
				fprintf(stderr, "reader: too many -s files\n");
				return 2;
			}
			fresh[nfresh++] = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [-n ITER] [-w WARMUP] [-s FILE]... FILE...\n", argv[0]);
			return 2;
		}
	}
	if (optind >= argc || iters <= 0 || warmup < 0) {
		fprintf(stderr, "usage: %s [-n ITER] [-w WARMUP] [-s FILE]... FILE...\n", argv[0]);
		return 2;
	}
	samples = calloc(iters, sizeof(*samples));
	if (!samples) {
		perror("reader: calloc");
		return 1;
	}
	for (int a = optind; a < argc; a++) {
		const char *path = argv[a];
		ssize_t size = 0;

		print_mount(path);
		for (long i = 0; i < warmup; i++)
			if (once(path) < 0)
				break;
		for (long i = 0; i < iters; i++) {
			long long t0 = now_ns();
			ssize_t n = once(path);

			samples[i] = now_ns() - t0;
			if (n < 0) {
				fprintf(stderr, "reader: %s: %s\n", path, strerror(errno));
				rc = 1;
				goto next;
			}
			if (i == 0)
				size = n;
		}
		printf("size\t%s\t%zd\n", path, size);
		for (long i = 0; i < iters; i++)
			printf("ns\t%s\t%lld\n", path, samples[i]);
next:;
	}
	for (int i = 0; i < nfresh; i++)
		if (print_fresh(fresh[i]) < 0)
			rc = 1;
	free(samples);
	return rc;
}
