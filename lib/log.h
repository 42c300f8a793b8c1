/* log: leveled logging through a replaceable sink.
 *
 * lib/ never writes to the terminal itself: messages go to the sink the
 * program installs (cmd/ installs one that writes to stderr). With no sink
 * messages are dropped. Secrets must never be passed to the logger. */
#ifndef AIGW_LOG_H
#define AIGW_LOG_H

enum aigw_log_level {
	AIGW_LOG_ERROR,
	AIGW_LOG_WARN,
	AIGW_LOG_INFO,
	AIGW_LOG_DEBUG,
};

typedef void (*aigw_log_sink)(enum aigw_log_level level, const char *msg,
			      void *ctx);

void aigw_log_set_sink(aigw_log_sink sink, void *ctx);
void aigw_log_set_level(enum aigw_log_level level);
enum aigw_log_level aigw_log_get_level(void);
/* "error", "warn", "info", "debug" <-> level; -1 for an unknown name. */
int aigw_log_level_parse(const char *name);
const char *aigw_log_level_name(enum aigw_log_level level);

void aigw_log(enum aigw_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define aigw_log_error(...) aigw_log(AIGW_LOG_ERROR, __VA_ARGS__)
#define aigw_log_warn(...) aigw_log(AIGW_LOG_WARN, __VA_ARGS__)
#define aigw_log_info(...) aigw_log(AIGW_LOG_INFO, __VA_ARGS__)
#define aigw_log_debug(...) aigw_log(AIGW_LOG_DEBUG, __VA_ARGS__)

#endif
