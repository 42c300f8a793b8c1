/* buf: see buf.h. */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

static char empty_string[1];

void aigw_buf_init(struct aigw_buf *b)
{
	b->data = empty_string;
	b->len = 0;
	b->cap = 0;
}

void aigw_buf_release(struct aigw_buf *b)
{
	if (b->cap)
		free(b->data);
	aigw_buf_init(b);
}

void aigw_buf_reset(struct aigw_buf *b)
{
	b->len = 0;
	if (b->cap)
		b->data[0] = '\0';
}

void aigw_buf_reset_keep(struct aigw_buf *b, size_t keep)
{
	if (b->cap > keep)
		aigw_buf_release(b);
	else
		aigw_buf_reset(b);
}

void aigw_buf_grow(struct aigw_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	size_t cap;

	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	if (b->cap) {
		b->data = aigw_realloc(b->data, cap);
	} else {
		b->data = aigw_malloc(cap);
		b->data[0] = '\0';
	}
	b->cap = cap;
}

void aigw_buf_append(struct aigw_buf *b, const void *data, size_t n)
{
	aigw_buf_grow(b, n);
	if (n)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void aigw_buf_puts(struct aigw_buf *b, const char *s)
{
	aigw_buf_append(b, s, strlen(s));
}

void aigw_buf_putc(struct aigw_buf *b, char c)
{
	aigw_buf_append(b, &c, 1);
}

void aigw_buf_vprintf(struct aigw_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	aigw_buf_grow(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void aigw_buf_printf(struct aigw_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	aigw_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void aigw_buf_truncate(struct aigw_buf *b, size_t n)
{
	if (n >= b->len)
		return;
	b->len = n;
	b->data[n] = '\0';
}

char *aigw_buf_detach(struct aigw_buf *b)
{
	char *s = b->cap ? b->data : aigw_strdup("");
	aigw_buf_init(b);
	return s;
}

size_t aigw_u64_dec(char *out, uint64_t v)
{
	char tmp[AIGW_U64_DEC_MAX];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

void aigw_buf_put_u64(struct aigw_buf *b, uint64_t v)
{
	aigw_buf_grow(b, AIGW_U64_DEC_MAX);
	b->len += aigw_u64_dec(b->data + b->len, v);
	b->data[b->len] = '\0';
}
