/* cli: what every command shares: the parsed global options, lazily opened
 * database and config, error reporting with DESIGN's exit codes, and the
 * two output forms (tables for people, JSON lines for scripts). */
#ifndef AIGW_CLI_H
#define AIGW_CLI_H

#include <cJSON.h>
#include <stdbool.h>
#include <stdio.h>

#include "conf.h"
#include "err.h"
#include "opt.h"
#include "store.h"

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_NOTFOUND = 3,
	EXIT_CONFIG = 4,
};

struct cli {
	const char *name;          /* "keys": messages say "aigw keys: ..." */
	struct aigw_args args;
	bool json, quiet, tty;
	struct aigw_store *store;
	struct aigw_conf conf;
	bool conf_loaded;
	FILE *out;
};

/* The command table entry type (commands.def). */
struct cli_command {
	const char *name;
	const struct aigw_cmdspec *spec;
	int (*run)(struct cli *cli);
};
extern const struct cli_command cli_commands[];
extern const size_t cli_n_commands;

/* Maps an AIGW_E* code to an exit code. */
int cli_exit_code(int code);
/* Prints "aigw NAME: message" to stderr and returns the exit code. */
int cli_fail(struct cli *cli, const struct aigw_err *err);
int cli_failf(struct cli *cli, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Notes for people on stderr (suppressed by -q). */
void cli_note(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Opens the database (creating it when write is true). Returns 0 or an
 * exit code after printing the error. */
int cli_store(struct cli *cli, bool write, struct aigw_store **out);
/* Runs a write that may create the database: fn(store, arg, err). When
 * the file does not exist yet, fn first runs against an empty in-memory
 * database (the state the new file would start in) and the file is made
 * only if that succeeds, so a refused command leaves nothing behind, while
 * concurrent first writers still share one file. fn must be safe to run
 * twice. Returns fn's (or the open's) AIGW_E* code with err filled in. */
typedef int cli_write_fn(struct aigw_store *s, void *arg, struct aigw_err *err);
int cli_write(struct cli *cli, cli_write_fn *fn, void *arg, struct aigw_err *err);
/* Loads the config (once). Returns 0 or an exit code after printing. */
int cli_conf(struct cli *cli, const struct aigw_conf **out);

/* Option access helpers for the command's own options. */
static inline bool cli_has(const struct cli *cli, int opt)
{
	return cli->args.opt[opt].set;
}
static inline const char *cli_value(const struct cli *cli, int opt)
{
	return cli->args.opt[opt].value;
}
/* Parses an option value; prints the error naming the option. */
int cli_int(struct cli *cli, int opt, int64_t min, int64_t max, int64_t *out);
int cli_duration_ms(struct cli *cli, int opt, int64_t *out);
int cli_list(struct cli *cli, int opt, struct aigw_strv *out);
int cli_enum(struct cli *cli, int opt, const char *const *names, const char *what, int *out);

/* Prints one JSON value on one line and frees it. */
void cli_json(struct cli *cli, cJSON *v);
/* "2026-11-23T01:45:00Z", or JSON null for 0. */
cJSON *cli_json_time(int64_t t);
cJSON *cli_json_strv(const struct aigw_strv *sv);

/* A simple aligned table: columns separated by two spaces. */
struct cli_table {
	size_t ncols;
	struct aigw_strv cells; /* row-major, header row first */
};
void cli_table_init(struct cli_table *t, size_t ncols, const char *const *headers);
void cli_table_row(struct cli_table *t, ...); /* ncols const char * (NULL prints "-") */
void cli_table_print(struct cli *cli, struct cli_table *t); /* and releases it */

/* "key: value" lines for show; label padded to width. */
void cli_field(struct cli *cli, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Reads a whole file ("-" = stdin) into a heap buffer; prints on error. */
int cli_read_file(struct cli *cli, const char *path, char **data, size_t *len);

#endif
