/* buf: a growable byte buffer that is always NUL-terminated.
 *
 * Lifecycle as in git's strbuf: aigw_buf_init (no allocation),
 * aigw_buf_release (free contents), aigw_buf_reset (keep capacity). */
#ifndef AIGW_BUF_H
#define AIGW_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct aigw_buf {
	char *data; /* NUL-terminated when cap > 0; "" otherwise */
	size_t len;
	size_t cap;
};

#define AIGW_BUF_INIT { (char *)"", 0, 0 }

void aigw_buf_init(struct aigw_buf *b);
void aigw_buf_release(struct aigw_buf *b);
void aigw_buf_reset(struct aigw_buf *b);
/* Resets a buffer that is reused: keeps its memory for the next use when
 * the capacity is at most keep bytes, else frees it (so one large use
 * does not pin a large buffer for good). */
void aigw_buf_reset_keep(struct aigw_buf *b, size_t keep);
/* Makes room for at least extra more bytes plus the terminator. */
void aigw_buf_grow(struct aigw_buf *b, size_t extra);
void aigw_buf_append(struct aigw_buf *b, const void *data, size_t n);
void aigw_buf_puts(struct aigw_buf *b, const char *s);
void aigw_buf_putc(struct aigw_buf *b, char c);
void aigw_buf_printf(struct aigw_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void aigw_buf_vprintf(struct aigw_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* v in decimal, without printf (hot paths format numbers on every
 * request). aigw_u64_dec writes at most AIGW_U64_DEC_MAX bytes, no
 * terminator, and returns how many. */
#define AIGW_U64_DEC_MAX 20
size_t aigw_u64_dec(char *out, uint64_t v);
void aigw_buf_put_u64(struct aigw_buf *b, uint64_t v);
/* Drops bytes from the end so that len becomes n (n <= len). */
void aigw_buf_truncate(struct aigw_buf *b, size_t n);
/* Hands the heap string to the caller (who frees it); b is re-initialised. */
char *aigw_buf_detach(struct aigw_buf *b);

#endif
