/* sse: see sse.h. */
#include "sse.h"

#include <string.h>

void aigw_sse_init(struct aigw_sse *p, size_t max_event)
{
	aigw_buf_init(&p->line);
	aigw_buf_init(&p->event);
	aigw_buf_init(&p->data);
	p->has_data = false;
	p->skip_lf = false;
	p->max_event = max_event ? max_event : (1u << 20);
	p->events = 0;
}

void aigw_sse_release(struct aigw_sse *p)
{
	aigw_buf_release(&p->line);
	aigw_buf_release(&p->event);
	aigw_buf_release(&p->data);
}

/* One complete line (without its end). */
static int line_done(struct aigw_sse *p, aigw_sse_fn *fn, void *arg)
{
	const char *l = p->line.data, *value;
	size_t n = p->line.len, field_len;
	int rc = 0;

	if (n == 0) {
		/* Blank line: dispatch, if any data was given. */
		if (p->has_data) {
			struct aigw_sse_event ev = { p->event.data, p->data.data, p->data.len };
			p->events++;
			rc = fn ? fn(&ev, arg) : 0;
		}
		aigw_buf_reset(&p->event);
		aigw_buf_reset(&p->data);
		p->has_data = false;
		return rc;
	}
	if (l[0] == ':')
		goto out; /* comment */
	value = memchr(l, ':', n);
	field_len = value ? (size_t)(value - l) : n;
	if (value) {
		value++;
		if (value < l + n && *value == ' ')
			value++;
	} else {
		value = l + n;
	}
	if (field_len == 4 && memcmp(l, "data", 4) == 0) {
		if (p->has_data)
			aigw_buf_putc(&p->data, '\n');
		aigw_buf_append(&p->data, value, (size_t)(l + n - value));
		p->has_data = true;
	} else if (field_len == 5 && memcmp(l, "event", 5) == 0) {
		aigw_buf_reset(&p->event);
		aigw_buf_append(&p->event, value, (size_t)(l + n - value));
	}
out:
	aigw_buf_reset(&p->line);
	return rc;
}

int aigw_sse_feed(struct aigw_sse *p, const char *data, size_t len, aigw_sse_fn *fn,
		  void *arg)
{
	const char *end = data + len;

	while (data < end) {
		const char *stop = data;
		int rc;

		if (p->skip_lf) {
			p->skip_lf = false;
			if (*data == '\n') {
				data++;
				continue;
			}
		}
		while (stop < end && *stop != '\n' && *stop != '\r')
			stop++;
		if (p->line.len + (size_t)(stop - data) + p->data.len > p->max_event)
			return -1;
		aigw_buf_append(&p->line, data, (size_t)(stop - data));
		if (stop == end)
			break;
		p->skip_lf = *stop == '\r';
		data = stop + 1;
		if ((rc = line_done(p, fn, arg)))
			return rc;
	}
	return 0;
}
