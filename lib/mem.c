/* mem: see mem.h. */
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
	fprintf(stderr, "aigw: out of memory allocating %zu bytes\n", n);
	abort();
}

void *aigw_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *aigw_calloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (!p)
		oom(count * size);
	return p;
}

void *aigw_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *aigw_strdup(const char *s)
{
	return aigw_strndup(s, strlen(s));
}

char *aigw_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = aigw_malloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}
