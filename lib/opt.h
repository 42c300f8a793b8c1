/* opt: command-line options from one table per command.
 *
 * A command describes its verbs and options once (struct aigw_cmdspec);
 * that description parses argv, prints -h, writes the SYNOPSIS and OPTIONS
 * of its man page, and answers shell completion. Nothing about a command's
 * options is written down twice, so help, man pages and completions cannot
 * drift apart (a test regenerates the man pages and compares).
 *
 * Syntax accepted: GNU style. Options may come before or after positional
 * arguments; "--name=value" or "--name value"; "-H value" or "-Hvalue";
 * "--" ends options; "--no-FLAG" turns a negatable flag off. Global options
 * (--db, --config, --json, -q, -h, --version) are accepted everywhere. */
#ifndef AIGW_OPT_H
#define AIGW_OPT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "str.h"

enum aigw_opt_kind {
	AIGW_OPT_FLAG,     /* no value */
	AIGW_OPT_NEGFLAG,  /* no value; --no-NAME also accepted (sets it false) */
	AIGW_OPT_VALUE,    /* one value; given twice, the last wins */
	AIGW_OPT_LIST,     /* repeatable; values collected in order */
};

struct aigw_opt {
	char short_name;       /* 0: none */
	const char *long_name; /* without the dashes */
	enum aigw_opt_kind kind;
	const char *arg;       /* value placeholder shown in help: "N", "URL" */
	const char *help;      /* one line, lowercase, no final period */
	/* What completes the value: "node", "route", "key" (live names),
	 * "file", "choice:a|b|c", or NULL. */
	const char *complete;
};

/* Verb option lists hold option indexes; OR with AIGW_OPT_REQUIRED when
 * the verb cannot run without it. The list ends with -1. */
#define AIGW_OPT_REQUIRED 0x1000
#define AIGW_OPT_END (-1)

struct aigw_verb {
	const char *name;      /* NULL for a command without verbs */
	const char *args;      /* positional usage, e.g. "ID", "[FILE|-]", "" */
	int min_args, max_args;
	/* Completion hint per positional ("key", "node", "route", "file",
	 * "choice:GET|POST"), NULL-terminated; the last repeats. */
	const char *const *complete_args;
	const char *summary;   /* one line for lists and help */
	const int *opts;       /* indexes into the command's opts, AIGW_OPT_END */
};

struct aigw_cmdspec {
	const char *name;      /* "keys" */
	const char *summary;   /* one line */
	const struct aigw_opt *opts;
	size_t n_opts;
	const struct aigw_verb *verbs;
	size_t n_verbs;
};

/* The options every command accepts. */
enum {
	AIGW_GOPT_DB,
	AIGW_GOPT_CONFIG,
	AIGW_GOPT_JSON,
	AIGW_GOPT_QUIET,
	AIGW_GOPT_HELP,
	AIGW_GOPT_VERSION,
	AIGW_GOPT_COUNT
};
extern const struct aigw_opt aigw_global_opts[AIGW_GOPT_COUNT];

#define AIGW_OPT_MAX 48

struct aigw_optval {
	bool set;
	bool on;                 /* flags: true, or false for --no-NAME */
	const char *value;       /* VALUE: the last one given (borrowed argv) */
	struct aigw_strv list;   /* LIST: every value */
};

struct aigw_args {
	const struct aigw_cmdspec *spec;
	const struct aigw_verb *verb;        /* NULL until a verb is found */
	struct aigw_optval opt[AIGW_OPT_MAX];
	struct aigw_optval global[AIGW_GOPT_COUNT];
	const char *pos[64];                 /* positionals after the verb */
	int n_pos;
};

void aigw_args_release(struct aigw_args *a);

/* Parses argv (argv[0] is the command name and is skipped). On a usage
 * mistake returns AIGW_EINVAL with a message such as "unknown option
 * '--nmae' (did you mean '--name'?)". When -h/--help or --version is
 * present, parsing still succeeds as far as it can so help can be shown
 * for the verb named, and argument-count checks are skipped. */
int aigw_opt_parse(const struct aigw_cmdspec *spec, int argc, char **argv,
		   struct aigw_args *out, struct aigw_err *err);

/* Looks a verb up; NULL when unknown. */
const struct aigw_verb *aigw_opt_verb(const struct aigw_cmdspec *spec, const char *name);

/* The usage line of a verb: "aigw keys create --name NAME [--rpm N] ...". */
void aigw_opt_usage(const struct aigw_cmdspec *spec, const struct aigw_verb *verb,
		    struct aigw_buf *out);
/* -h text for the command (verb NULL) or one verb. */
void aigw_opt_help(const struct aigw_cmdspec *spec, const struct aigw_verb *verb,
		   struct aigw_buf *out);
/* man(7) SYNOPSIS and OPTIONS sections (with their .SH lines). */
void aigw_opt_man(const struct aigw_cmdspec *spec, struct aigw_buf *out);

/* Completion: given the words typed after the command name, where the last
 * word is the one being completed (possibly ""), says what kind of value
 * fits there. Literal candidates are appended to out (one per line); when
 * the candidates are live names, *live is set to "node", "route", "key" or
 * "file" so the caller (which can reach the database) adds them. */
void aigw_opt_complete(const struct aigw_cmdspec *spec, int nwords, char **words,
		       struct aigw_buf *out, const char **live);

#endif
