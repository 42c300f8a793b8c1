/* sse: an incremental Server-Sent Events parser (text/event-stream).
 *
 * The gateway relays streams untouched and reads them on the side (to
 * find the usage chunk); the load tester times each event. Bytes arrive
 * in arbitrary pieces; complete events are reported as they end (at a
 * blank line). Only what the providers use is kept: the event name and
 * the data lines (joined with '\n'); id, retry and comments are skipped.
 * Lines may end in LF, CRLF or CR, as the format allows. */
#ifndef AIGW_SSE_H
#define AIGW_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct aigw_sse_event {
	const char *event; /* "" when the stream named none */
	const char *data;  /* data lines joined with '\n' (NUL-terminated) */
	size_t data_len;
};

/* Return nonzero to stop parsing (aigw_sse_feed then returns that value). */
typedef int aigw_sse_fn(const struct aigw_sse_event *ev, void *arg);

struct aigw_sse {
	struct aigw_buf line;   /* the line being assembled */
	struct aigw_buf event;
	struct aigw_buf data;
	bool has_data;
	bool skip_lf;           /* a CR ended the last line: drop a following LF */
	size_t max_event;       /* an event larger than this is an error */
	size_t events;          /* events reported so far */
};

/* max_event bounds memory per event (0: 1 MiB). */
void aigw_sse_init(struct aigw_sse *p, size_t max_event);
void aigw_sse_release(struct aigw_sse *p);
/* Feeds bytes; calls fn for every complete event. Returns 0, fn's nonzero
 * value, or -1 when an event exceeds max_event. */
int aigw_sse_feed(struct aigw_sse *p, const char *data, size_t len, aigw_sse_fn *fn,
		  void *arg);

#endif
