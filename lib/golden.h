/* golden: helpers of the golden-file tests (provider_test.c,
 * messages_test.c): reading case files, and comparing JSON and SSE texts
 * as what they mean rather than byte for byte. Test code only: include
 * after cmocka.h. */
#ifndef AIGW_GOLDEN_H
#define AIGW_GOLDEN_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "buf.h"
#include "sse.h"
#include "str.h"

static bool slurp(const char *dir, const char *file, struct aigw_buf *out)
{
	char path[1024];
	FILE *f;
	char chunk[4096];
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (!(f = fopen(path, "rb")))
		return false;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		aigw_buf_append(out, chunk, n);
	fclose(f);
	if (!out->data)
		aigw_buf_puts(out, "");
	return true;
}

static void chomp(struct aigw_buf *b)
{
	while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
		aigw_buf_truncate(b, b->len - 1);
}

static void assert_json_equal(const char *what, const char *casename, const char *got,
			      size_t got_len, const char *want, size_t want_len)
{
	cJSON *g = cJSON_ParseWithLength(got, got_len);
	cJSON *w = cJSON_ParseWithLength(want, want_len);

	if (!w)
		fail_msg("%s: %s: the expected file is not JSON", casename, what);
	if (!g || !cJSON_Compare(g, w, true)) {
		char *gs = g ? cJSON_PrintUnformatted(g) : NULL;
		char *ws = cJSON_PrintUnformatted(w);
		print_error("%s: %s differs\n got:  %s\n want: %s\n", casename, what,
			    gs ? gs : "(not JSON)", ws);
		cJSON_free(gs);
		cJSON_free(ws);
		cJSON_Delete(g);
		cJSON_Delete(w);
		fail_msg("%s: %s differs", casename, what);
	}
	cJSON_Delete(g);
	cJSON_Delete(w);
}

static int collect_event(const struct aigw_sse_event *ev, void *arg)
{
	struct aigw_strv *v = arg;
	char *s = malloc(strlen(ev->event) + ev->data_len + 2);
	sprintf(s, "%s\n%s", ev->event, ev->data);
	aigw_strv_push(v, s);
	free(s);
	return 0;
}

/* Compares two SSE texts event by event; data that is JSON is compared as
 * JSON (member order and spacing aside). */
static void assert_sse_equal(const char *casename, const struct aigw_buf *got,
			     const struct aigw_buf *want)
{
	struct aigw_strv g = AIGW_STRV_INIT, w = AIGW_STRV_INIT;
	struct aigw_sse p;

	aigw_sse_init(&p, 0);
	assert_int_equal(aigw_sse_feed(&p, got->data, got->len, collect_event, &g), 0);
	aigw_sse_release(&p);
	aigw_sse_init(&p, 0);
	assert_int_equal(aigw_sse_feed(&p, want->data, want->len, collect_event, &w), 0);
	aigw_sse_release(&p);
	for (size_t i = 0; i < g.n || i < w.n; i++) {
		char what[64];
		if (i >= g.n || i >= w.n) {
			print_error("%s: got %zu events, want %zu\n got:\n%s\n", casename, g.n, w.n,
				    got->data);
			fail_msg("%s: event count differs", casename);
		}
		const char *gd = strchr(g.v[i], '\n') + 1, *wd = strchr(w.v[i], '\n') + 1;
		if ((size_t)(gd - g.v[i]) != (size_t)(wd - w.v[i]) ||
		    memcmp(g.v[i], w.v[i], (size_t)(gd - g.v[i])) != 0)
			fail_msg("%s: event %zu: name '%.*s', want '%.*s'", casename, i,
				 (int)(gd - g.v[i] - 1), g.v[i], (int)(wd - w.v[i] - 1), w.v[i]);
		snprintf(what, sizeof(what), "event %zu", i);
		if (wd[0] == '{')
			assert_json_equal(what, casename, gd, strlen(gd), wd, strlen(wd));
		else if (strcmp(gd, wd) != 0)
			fail_msg("%s: %s: got '%s' want '%s'", casename, what, gd, wd);
	}
	aigw_strv_release(&g);
	aigw_strv_release(&w);
}

#endif
