/* log: see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static _Atomic(aigw_log_sink) sink;
static void *_Atomic sink_ctx;
static _Atomic int current_level = AIGW_LOG_INFO;

static const char *const names[] = { "error", "warn", "info", "debug" };

void aigw_log_set_sink(aigw_log_sink s, void *ctx)
{
	atomic_store(&sink_ctx, ctx);
	atomic_store(&sink, s);
}

void aigw_log_set_level(enum aigw_log_level level)
{
	atomic_store(&current_level, (int)level);
}

enum aigw_log_level aigw_log_get_level(void)
{
	return (enum aigw_log_level)atomic_load(&current_level);
}

int aigw_log_level_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

const char *aigw_log_level_name(enum aigw_log_level level)
{
	return (unsigned)level < 4 ? names[level] : "?";
}

void aigw_log(enum aigw_log_level level, const char *fmt, ...)
{
	aigw_log_sink s = atomic_load(&sink);
	char msg[2048];
	va_list ap;

	if (!s || (int)level > atomic_load(&current_level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s(level, msg, atomic_load(&sink_ctx));
}
