/*
 * replay.c: runs one fuzz target's LLVMFuzzerTestOneInput without
 * libFuzzer, over every file of the target's regression inputs
 * (t/data/fuzz-regressions/TARGET/) and seed corpus (t/fuzz/seeds/TARGET/),
 * each whole and cut at 16 points, so that make check compiles and
 * exercises every target and every input a fuzzer once crashed on stays
 * fixed. Built once per target by make check (FUZZ_TARGET, FUZZ_SRCDIR).
 *
 *   t/fuzz/replay_TARGET [FILE-OR-DIR...]    (default: the two directories)
 *
 * Exit 0 when every input ran, 99 when no input was found or one could
 * not be read. A failing property aborts (a sanitizer build reports it).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t inputs, runs;

static int
run_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd == -1 || fstat(fd, &st) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	size_t len = (size_t)st.st_size, got = 0;
	uint8_t *buf = malloc(len ? len : 1);
	while (buf && got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (buf == NULL || got != len) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(buf);
		return -1;
	}
	printf("%s (%zu bytes)\n", path, len);
	fflush(stdout);
	LLVMFuzzerTestOneInput(buf, len);
	runs++;
	/* every prefix at 16 cut points: truncated input is input too (each
	 * copied to an exact-size buffer so a sanitizer sees any overread) */
	for (unsigned i = 0; i < 16 && len > 0; i++) {
		size_t cut = len * i / 16;
		uint8_t *p = malloc(cut ? cut : 1);
		if (p == NULL)
			break;
		memcpy(p, buf, cut);
		LLVMFuzzerTestOneInput(p, cut);
		free(p);
		runs++;
	}
	free(buf);
	inputs++;
	return 0;
}

static int
run_path(const char *path, int must_exist)
{
	struct stat st;
	if (stat(path, &st) == -1) {
		if (!must_exist && errno == ENOENT)
			return 0;
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	struct dirent **names;
	int n = scandir(path, &names, NULL, alphasort), rc = 0;
	if (n == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.' && rc == 0) {
			char *p;
			if (asprintf(&p, "%s/%s", path, names[i]->d_name) == -1)
				rc = -1;
			else {
				rc = run_file(p);
				free(p);
			}
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int
main(int argc, char **argv)
{
	int rc = 0;

	if (argc > 1) {
		for (int i = 1; i < argc && rc == 0; i++)
			rc = run_path(argv[i], 1);
	} else {
		rc = run_path(FUZZ_SRCDIR "/data/fuzz-regressions/" FUZZ_TARGET, 0);
		if (rc == 0)
			rc = run_path(FUZZ_SRCDIR "/fuzz/seeds/" FUZZ_TARGET, 1);
	}
	printf("%s: %zu inputs, %zu runs\n", FUZZ_TARGET, inputs, runs);
	if (rc != 0 || inputs == 0)
		return 99;
	return 0;
}
