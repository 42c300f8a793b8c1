/* testutil: helpers shared by the cmocka tests (not part of libaigw). */
#ifndef AIGW_TESTUTIL_H
#define AIGW_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static inline int aigw_test_remove_entry(const char *path, const struct stat *st, int flag,
					 struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes a directory tree made by a test (no shell involved). */
static inline void aigw_test_rmtree(const char *dir)
{
	nftw(dir, aigw_test_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Makes a fresh directory /tmp/aigw-<what>-XXXXXX into dir (>= 64 bytes);
 * returns dir, or NULL on failure. */
static inline char *aigw_test_tmpdir(char *dir, size_t n, const char *what)
{
	snprintf(dir, n, "/tmp/aigw-%s-XXXXXX", what);
	return mkdtemp(dir);
}

#endif
