/* pool: see pool.h. */
#include "pool.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

#define ALIGN alignof(max_align_t)

struct block {
	struct block *next;
	size_t size, used;
	alignas(max_align_t) unsigned char data[];
};

struct cleanup {
	struct cleanup *next;
	void (*fn)(void *);
	void *arg;
};

struct aigw_pool {
	struct block *head; /* current block first */
	struct block *first; /* kept by reset (oversized blocks may follow it) */
	struct cleanup *cleanups;
	size_t block_size;
	size_t used;
};

static struct block *block_new(size_t size)
{
	struct block *b = aigw_malloc(sizeof(*b) + size);
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

struct aigw_pool *aigw_pool_new(size_t block_size)
{
	struct aigw_pool *p = aigw_malloc(sizeof(*p));
	p->block_size = block_size ? block_size : 4096;
	p->head = p->first = block_new(p->block_size);
	p->cleanups = NULL;
	p->used = 0;
	return p;
}

static void run_cleanups(struct aigw_pool *p)
{
	while (p->cleanups) {
		struct cleanup *c = p->cleanups;
		p->cleanups = c->next;
		c->fn(c->arg); /* c itself lives in the pool */
	}
}

void aigw_pool_reset(struct aigw_pool *p)
{
	struct block *b = p->head;

	run_cleanups(p);
	/* An oversized block can sit after the first one in the chain, so
	 * the first block is found by identity, not by position. */
	while (b) {
		struct block *next = b->next;
		if (b != p->first)
			free(b);
		b = next;
	}
	p->head = p->first;
	p->head->next = NULL;
	p->head->used = 0;
	p->used = 0;
}

void aigw_pool_free(struct aigw_pool *p)
{
	if (!p)
		return;
	aigw_pool_reset(p);
	free(p->head);
	free(p);
}

void *aigw_pool_alloc(struct aigw_pool *p, size_t n)
{
	size_t need = (n + ALIGN - 1) & ~(ALIGN - 1);
	struct block *b = p->head;

	if (need == 0)
		need = ALIGN;
	if (need > b->size - b->used) {
		/* Oversized requests get a block of their own, linked after the
		 * current one so the current block's free space is not lost. */
		if (need > p->block_size / 4) {
			struct block *big = block_new(need);
			big->used = need;
			big->next = b->next;
			b->next = big;
			p->used += n;
			return big->data;
		}
		b = block_new(p->block_size);
		b->next = p->head;
		p->head = b;
	}
	void *ptr = b->data + b->used;
	b->used += need;
	p->used += n;
	return ptr;
}

void *aigw_pool_calloc(struct aigw_pool *p, size_t n)
{
	void *ptr = aigw_pool_alloc(p, n);
	memset(ptr, 0, n);
	return ptr;
}

char *aigw_pool_strndup(struct aigw_pool *p, const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = aigw_pool_alloc(p, len + 1);
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *aigw_pool_strdup(struct aigw_pool *p, const char *s)
{
	return aigw_pool_strndup(p, s, strlen(s));
}

char *aigw_pool_printf(struct aigw_pool *p, const char *fmt, ...)
{
	va_list ap, cp;
	int n;
	char *d;

	va_start(ap, fmt);
	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		n = 0;
	d = aigw_pool_alloc(p, (size_t)n + 1);
	vsnprintf(d, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return d;
}

void aigw_pool_cleanup(struct aigw_pool *p, void (*fn)(void *), void *arg)
{
	struct cleanup *c = aigw_pool_alloc(p, sizeof(*c));
	c->fn = fn;
	c->arg = arg;
	c->next = p->cleanups;
	p->cleanups = c;
}

size_t aigw_pool_used(const struct aigw_pool *p)
{
	return p->used;
}
