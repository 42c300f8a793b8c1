/* opt_test: one made-up command with options of every kind, run through
 * the parser (a table of command lines), the help and man page writers,
 * and shell completion. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mem.h"
#include "opt.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

enum { O_NAME, O_HEADER, O_FORCE, O_COLOR, O_MODE, O_NODE, O_LIMIT, O_COUNT };

static const struct aigw_opt opts[] = {
	[O_NAME] = { 0, "name", AIGW_OPT_VALUE, "NAME", "the thing's name", NULL },
	[O_HEADER] = { 'H', "header", AIGW_OPT_LIST, "'K: V'", "a header to send", NULL },
	[O_FORCE] = { 'f', "force", AIGW_OPT_FLAG, NULL, "do it even if unsafe", NULL },
	[O_COLOR] = { 0, "color", AIGW_OPT_NEGFLAG, NULL, "colour the output", NULL },
	[O_MODE] = { 0, "mode", AIGW_OPT_VALUE, "M", "how to go about it", "choice:fast|slow" },
	[O_NODE] = { 0, "node", AIGW_OPT_VALUE, "NODE", "only this node", "node" },
	[O_LIMIT] = { 0, "limit", AIGW_OPT_VALUE, "N", "at most N entries", NULL },
};

static const int create_opts[] = { O_NAME | AIGW_OPT_REQUIRED, O_HEADER, O_FORCE, O_COLOR,
				   O_MODE, AIGW_OPT_END };
static const int show_opts[] = { O_COLOR, AIGW_OPT_END };
static const int list_opts[] = { O_LIMIT, O_NODE, AIGW_OPT_END };
static const int delete_opts[] = { O_FORCE, AIGW_OPT_END };
static const int no_opts[] = { AIGW_OPT_END };
static const char *const show_args[] = { "key", NULL };
static const char *const copy_args[] = { "node", "file", NULL };

static const struct aigw_verb verbs[] = {
	{ "create", "", 0, 0, NULL, "create a thing", create_opts },
	{ "show", "NAME", 1, 1, show_args, "show a thing", show_opts },
	{ "copy", "SRC DST...", 2, -1, copy_args, "copy things", no_opts },
	{ "list", "", 0, 0, NULL, "list things", list_opts },
	{ "delete", "NAME...", 1, 3, NULL, "delete up to three things", delete_opts },
};

static const struct aigw_cmdspec spec = {
	"test", "do things to things", opts, N_ELEMS(opts), verbs, N_ELEMS(verbs),
};

/* A command without verbs, with a required flag. */
static const int run_opts[] = { O_FORCE | AIGW_OPT_REQUIRED, O_MODE, AIGW_OPT_END };
static const struct aigw_verb run_verb[] = {
	{ NULL, "[FILE]", 0, 1, NULL, NULL, run_opts },
};
static const struct aigw_cmdspec run_spec = {
	"run", "run a thing", opts, N_ELEMS(opts), run_verb, 1,
};

/* ------------------------------------------------------------ parsing */

#define ARGV_MAX 12

struct parse_case {
	const char *argv[ARGV_MAX]; /* after argv[0]; NULL-terminated */
	const char *verb;
	const char *pos;            /* positionals joined by ' ' */
	const char *name;           /* --name, NULL when not set */
	const char *headers;        /* --header values joined by '|', NULL: not set */
	int force, color;           /* -1 not set; 0/1 on */
	const char *db;
	int json, quiet, help;
};

static const struct parse_case parse_cases[] = {
	/* value syntaxes */
	{ { "create", "--name=x", NULL }, "create", "", "x", NULL, -1, -1, NULL, 0, 0, 0 },
	{ { "create", "--name", "x", NULL }, "create", "", "x", NULL, -1, -1, NULL, 0, 0, 0 },
	{ { "create", "--name=", NULL }, "create", "", "", NULL, -1, -1, NULL, 0, 0, 0 },
	{ { "create", "--name", "-x", NULL }, "create", "", "-x", NULL, -1, -1, NULL, 0, 0, 0 },
	{ { "create", "--name=a=b", NULL }, "create", "", "a=b", NULL, -1, -1, NULL, 0, 0, 0 },
	{ { "create", "--name", "x", "-HX-A: 1", NULL }, "create", "", "x", "X-A: 1", -1, -1,
	  NULL, 0, 0, 0 },
	{ { "create", "--name", "x", "-H", "X-A: 1", NULL }, "create", "", "x", "X-A: 1", -1,
	  -1, NULL, 0, 0, 0 },
	/* LIST collects in order; VALUE: the last wins */
	{ { "create", "-H", "a: 1", "--name", "x", "--header", "b: 2", "--header=c: 3", "-Hd: 4",
	    NULL }, "create", "", "x", "a: 1|b: 2|c: 3|d: 4", -1, -1, NULL, 0, 0, 0 },
	{ { "create", "--name", "a", "--name=b", "--name", "c", NULL }, "create", "", "c",
	  NULL, -1, -1, NULL, 0, 0, 0 },
	/* flags */
	{ { "create", "--name", "x", "-f", NULL }, "create", "", "x", NULL, 1, -1, NULL, 0, 0,
	  0 },
	{ { "create", "--name", "x", "--force", NULL }, "create", "", "x", NULL, 1, -1, NULL,
	  0, 0, 0 },
	{ { "create", "--name", "x", "--color", NULL }, "create", "", "x", NULL, -1, 1, NULL,
	  0, 0, 0 },
	{ { "create", "--name", "x", "--no-color", NULL }, "create", "", "x", NULL, -1, 0,
	  NULL, 0, 0, 0 },
	{ { "create", "--no-color", "--name", "x", "--color", NULL }, "create", "", "x", NULL,
	  -1, 1, NULL, 0, 0, 0 },
	{ { "create", "--color", "--name", "x", "--no-color", NULL }, "create", "", "x", NULL,
	  -1, 0, NULL, 0, 0, 0 },
	/* positionals, "--" and "-" */
	{ { "show", "k1", NULL }, "show", "k1", NULL, NULL, -1, -1, NULL, 0, 0, 0 },
	{ { "show", "-", NULL }, "show", "-", NULL, NULL, -1, -1, NULL, 0, 0, 0 },
	{ { "delete", "--", "--force", NULL }, "delete", "--force", NULL, NULL, -1, -1, NULL,
	  0, 0, 0 },
	{ { "delete", "--", "-f", "--", NULL }, "delete", "-f --", NULL, NULL, -1, -1, NULL, 0,
	  0, 0 },
	{ { "delete", "a", "-f", "b", NULL }, "delete", "a b", NULL, NULL, 1, -1, NULL, 0, 0,
	  0 },
	{ { "-f", "delete", "a", NULL }, "delete", "a", NULL, NULL, 1, -1, NULL, 0, 0, 0 },
	{ { "copy", "a", "b", "c", "d", "e", NULL }, "copy", "a b c d e", NULL, NULL, -1, -1,
	  NULL, 0, 0, 0 },
	/* global options anywhere */
	{ { "--db", "/tmp/x.db", "create", "--json", "--name", "x", "-q", NULL }, "create", "",
	  "x", NULL, -1, -1, "/tmp/x.db", 1, 1, 0 },
	{ { "show", "k", "--db=/y.db", NULL }, "show", "k", NULL, NULL, -1, -1, "/y.db", 0, 0,
	  0 },
	{ { "list", "--quiet", "--db", "a", "--db", "b", NULL }, "list", "", NULL, NULL, -1,
	  -1, "b", 0, 1, 0 },
	/* -h and --version skip the checks */
	{ { "create", "-h", NULL }, "create", "", NULL, NULL, -1, -1, NULL, 0, 0, 1 },
	{ { "show", "--help", NULL }, "show", "", NULL, NULL, -1, -1, NULL, 0, 0, 1 },
	{ { "show", "a", "b", "-h", NULL }, "show", "a b", NULL, NULL, -1, -1, NULL, 0, 0, 1 },
	{ { "-h", NULL }, NULL, "", NULL, NULL, -1, -1, NULL, 0, 0, 1 },
	{ { "--version", NULL }, NULL, "", NULL, NULL, -1, -1, NULL, 0, 0, 0 },
};

struct error_case {
	const char *argv[ARGV_MAX];
	const char *error; /* fragment of the message */
};

static const struct error_case error_cases[] = {
	{ { "create", "--nmae", "x", NULL }, "unknown option '--nmae' (did you mean '--name'?)" },
	{ { "create", "--nmae=x", NULL }, "unknown option '--nmae' (did you mean '--name'?)" },
	{ { "create", "--zzzzzzzz", NULL }, "unknown option '--zzzzzzzz'" },
	{ { "create", "-z", NULL }, "unknown option '-z'" },
	{ { "create", "--no-force", NULL }, "unknown option '--no-force'" },
	{ { "create", "--no-name", "x", NULL }, "unknown option '--no-name'" },
	{ { "craete", NULL }, "unknown verb 'craete' (did you mean 'create'?)" },
	{ { "frobnicate", NULL }, "unknown verb 'frobnicate' (see 'aigw test -h')" },
	{ { NULL }, "missing verb (one of: create, show, copy, list, delete)" },
	{ { "--json", "-q", NULL }, "missing verb (one of: create, show, copy, list, delete)" },
	{ { "create", NULL }, "missing required option '--name NAME'" },
	{ { "create", "-f", NULL }, "missing required option '--name NAME'" },
	{ { "show", "k", "--force", NULL }, "option '--force' does not apply to 'test show'" },
	{ { "--limit", "5", "create", "--name", "x", NULL },
	  "option '--limit' does not apply to 'test create'" },
	{ { "delete", "a", "-H", "x: 1", NULL }, "option '--header' does not apply to 'test delete'" },
	{ { "create", "--name", NULL }, "option '--name' needs a value NAME" },
	{ { "create", "--name", "x", "-H", NULL }, "option '--header' needs a value" },
	{ { "show", "k", "--db", NULL }, "option '--db' needs a value PATH" },
	{ { "create", "--name", "x", "--json=1", NULL }, "option '--json' takes no value" },
	{ { "create", "--name", "x", "--force=yes", NULL }, "option '--force' takes no value" },
	{ { "create", "--name", "x", "--no-color=1", NULL }, "option '--no-color' takes no value" },
	{ { "create", "--name", "x", "-fq", NULL }, "option '-f' takes no value" },
	{ { "show", NULL }, "missing argument (usage: test show NAME)" },
	{ { "copy", "a", NULL }, "missing argument (usage: test copy SRC DST...)" },
	{ { "show", "a", "b", NULL }, "unexpected argument 'b'" },
	{ { "delete", "a", "b", "c", "d", "e", NULL }, "unexpected argument 'd'" },
	{ { "create", "extra", "--name", "x", NULL }, "unexpected argument 'extra'" },
	/* -h does not excuse an unknown option */
	{ { "create", "-h", "--nmae", NULL }, "unknown option '--nmae'" },
};

static void join_into(char *out, size_t n, const char *const *items, size_t count,
		      const char *sep)
{
	out[0] = '\0';
	for (size_t i = 0; i < count; i++) {
		size_t l = strlen(out);
		snprintf(out + l, n - l, "%s%s", i ? sep : "", items[i]);
	}
}

static void check_flag(const struct parse_case *c, const struct aigw_optval *v, int want,
		       const char *what)
{
	int have = v->set ? (v->on ? 1 : 0) : -1;
	if (have != want)
		fail_msg("case '%s ...': %s is %d, want %d", c->argv[0] ? c->argv[0] : "",
			 what, have, want);
}

static int run_parse(const struct aigw_cmdspec *s, const char *const *words,
		     struct aigw_args *args, struct aigw_err *err)
{
	char *argv[ARGV_MAX + 1];
	int argc = 0;

	argv[argc++] = (char *)s->name;
	for (size_t i = 0; i < ARGV_MAX && words[i]; i++)
		argv[argc++] = (char *)words[i];
	argv[argc] = NULL;
	return aigw_opt_parse(s, argc, argv, args, err);
}

static void test_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(parse_cases); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct aigw_args args;
		struct aigw_err err = { 0, "" };
		char joined[256];
		int rc = run_parse(&spec, c->argv, &args, &err);

		if (rc != 0)
			fail_msg("case %zu: refused: %s", i, err.msg);
		if (!c->verb)
			assert_null(args.verb);
		else if (!args.verb || strcmp(args.verb->name, c->verb) != 0)
			fail_msg("case %zu: verb %s, want %s", i,
				 args.verb ? args.verb->name : "(none)", c->verb);
		join_into(joined, sizeof(joined), args.pos, (size_t)args.n_pos, " ");
		if (strcmp(joined, c->pos) != 0)
			fail_msg("case %zu: positionals '%s', want '%s'", i, joined, c->pos);

		const struct aigw_optval *name = &args.opt[O_NAME];
		if (c->name) {
			assert_true(name->set);
			assert_string_equal(name->value, c->name);
		} else {
			assert_false(name->set);
		}
		const struct aigw_optval *h = &args.opt[O_HEADER];
		if (c->headers) {
			assert_true(h->set);
			join_into(joined, sizeof(joined), (const char *const *)h->list.v,
				  h->list.n, "|");
			assert_string_equal(joined, c->headers);
		} else {
			assert_false(h->set);
			assert_int_equal(h->list.n, 0);
		}
		check_flag(c, &args.opt[O_FORCE], c->force, "--force");
		check_flag(c, &args.opt[O_COLOR], c->color, "--color");
		if (c->db)
			assert_string_equal(args.global[AIGW_GOPT_DB].value, c->db);
		else
			assert_false(args.global[AIGW_GOPT_DB].set);
		assert_int_equal(args.global[AIGW_GOPT_JSON].set, c->json);
		assert_int_equal(args.global[AIGW_GOPT_QUIET].set, c->quiet);
		assert_int_equal(args.global[AIGW_GOPT_HELP].set, c->help);
		/* Options no case uses stay unset. */
		assert_false(args.opt[O_MODE].set);
		aigw_args_release(&args);
	}
}

static void test_parse_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(error_cases); i++) {
		const struct error_case *c = &error_cases[i];
		struct aigw_args args;
		struct aigw_err err = { 0, "" };
		int rc = run_parse(&spec, c->argv, &args, &err);

		if (rc != AIGW_EINVAL)
			fail_msg("error case %zu: rc %d, want '%s'", i, rc, c->error);
		assert_int_equal(err.code, AIGW_EINVAL);
		if (!strstr(err.msg, c->error))
			fail_msg("error case %zu: message '%s' lacks '%s'", i, err.msg, c->error);
		/* Nothing is left allocated after a failure, and releasing
		 * again is safe. */
		for (int o = 0; o < O_COUNT; o++)
			assert_null(args.opt[o].list.v);
		aigw_args_release(&args);
	}
}

static void test_parse_no_verbs(void **state)
{
	static const char *const ok1[] = { "file.txt", "--force", NULL };
	static const char *const ok2[] = { "-f", "--mode", "fast", NULL };
	static const char *const missing[] = { "file.txt", NULL };
	static const char *const extra[] = { "-f", "a", "b", NULL };
	static const char *const wrong[] = { "-f", "--name", "x", NULL };
	struct aigw_args args;
	struct aigw_err err;
	(void)state;

	assert_int_equal(run_parse(&run_spec, ok1, &args, &err), 0);
	assert_non_null(args.verb);
	assert_null(args.verb->name);
	assert_int_equal(args.n_pos, 1);
	assert_string_equal(args.pos[0], "file.txt");
	assert_true(args.opt[O_FORCE].set);
	aigw_args_release(&args);

	assert_int_equal(run_parse(&run_spec, ok2, &args, &err), 0);
	assert_int_equal(args.n_pos, 0);
	assert_string_equal(args.opt[O_MODE].value, "fast");
	aigw_args_release(&args);

	/* A required option without a value placeholder. */
	assert_int_equal(run_parse(&run_spec, missing, &args, &err), AIGW_EINVAL);
	assert_string_equal(err.msg, "missing required option '--force'");
	aigw_args_release(&args);

	assert_int_equal(run_parse(&run_spec, extra, &args, &err), AIGW_EINVAL);
	assert_string_equal(err.msg, "unexpected argument 'b'");
	aigw_args_release(&args);

	assert_int_equal(run_parse(&run_spec, wrong, &args, &err), AIGW_EINVAL);
	assert_string_equal(err.msg, "option '--name' does not apply to 'run'");
	aigw_args_release(&args);
}

static void test_parse_many_list_values(void **state)
{
	char *argv[2 + 2 * 40];
	char values[40][16];
	struct aigw_args args;
	struct aigw_err err;
	int argc = 0;
	(void)state;

	argv[argc++] = (char *)"test";
	argv[argc++] = (char *)"create";
	for (int i = 0; i < 39; i++) {
		snprintf(values[i], sizeof(values[i]), "h%d: v", i);
		argv[argc++] = (char *)"-H";
		argv[argc++] = values[i];
	}
	argv[argc++] = (char *)"--name=n";
	assert_int_equal(aigw_opt_parse(&spec, argc, argv, &args, &err), 0);
	assert_int_equal(args.opt[O_HEADER].list.n, 39);
	for (int i = 0; i < 39; i++)
		assert_string_equal(args.opt[O_HEADER].list.v[i], values[i]);
	aigw_args_release(&args);
	aigw_args_release(&args); /* twice is harmless */
}

static void test_verb_lookup(void **state)
{
	(void)state;
	assert_ptr_equal(aigw_opt_verb(&spec, "copy"), &verbs[2]);
	assert_null(aigw_opt_verb(&spec, "cop"));
	assert_null(aigw_opt_verb(&spec, ""));
	assert_null(aigw_opt_verb(&run_spec, "run"));
}

/* ---------------------------------------------------------------- help */

/* Is "--name" in text as a whole option (not the start of "--names")? */
static bool has_option(const char *text, const char *dashed)
{
	size_t l = strlen(dashed);
	for (const char *p = strstr(text, dashed); p; p = strstr(p + 1, dashed)) {
		char next = p[l];
		bool starts = p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '-');
		if (starts && !(isalnum((unsigned char)next) || next == '-'))
			return true;
	}
	return false;
}

static bool verb_has(const struct aigw_verb *v, int idx)
{
	for (const int *o = v->opts; *o != AIGW_OPT_END; o++)
		if ((*o & ~AIGW_OPT_REQUIRED) == idx)
			return true;
	return false;
}

static void test_usage_exact(void **state)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	(void)state;

	aigw_opt_usage(&spec, &verbs[0], &b);
	assert_string_equal(b.data, "aigw test create --name NAME [--header 'K: V'...] "
				    "[--force] [--color] [--mode M]");
	aigw_buf_reset(&b);
	aigw_opt_usage(&spec, &verbs[1], &b);
	assert_string_equal(b.data, "aigw test show NAME [--color]");
	aigw_buf_reset(&b);
	aigw_opt_usage(&spec, &verbs[2], &b);
	assert_string_equal(b.data, "aigw test copy SRC DST...");
	aigw_buf_reset(&b);
	aigw_opt_usage(&spec, NULL, &b);
	assert_string_equal(b.data, "aigw test <verb> [options]");
	aigw_buf_reset(&b);
	aigw_opt_usage(&run_spec, &run_verb[0], &b);
	assert_string_equal(b.data, "aigw run [FILE] --force [--mode M]");
	aigw_buf_release(&b);
}

static void test_usage_and_help_options(void **state)
{
	(void)state;
	for (size_t v = 0; v < N_ELEMS(verbs); v++) {
		struct aigw_buf usage = AIGW_BUF_INIT, help = AIGW_BUF_INIT;

		aigw_opt_usage(&spec, &verbs[v], &usage);
		aigw_opt_help(&spec, &verbs[v], &help);
		for (int o = 0; o < O_COUNT; o++) {
			char dashed[32];
			bool want = verb_has(&verbs[v], o);
			snprintf(dashed, sizeof(dashed), "--%s", opts[o].long_name);
			if (has_option(usage.data, dashed) != want)
				fail_msg("usage of '%s' %s %s: %s", verbs[v].name,
					 want ? "lacks" : "has", dashed, usage.data);
			if (has_option(help.data, dashed) != want)
				fail_msg("help of '%s' %s %s:\n%s", verbs[v].name,
					 want ? "lacks" : "has", dashed, help.data);
			if (want)
				assert_non_null(strstr(help.data, opts[o].help));
		}
		/* Help starts with the usage line, then the summary, and ends
		 * with the global options. */
		assert_true(strncmp(help.data, "usage: ", 7) == 0);
		assert_true(strncmp(help.data + 7, usage.data, usage.len) == 0);
		assert_non_null(strstr(help.data, verbs[v].summary));
		for (int g = 0; g < AIGW_GOPT_COUNT; g++) {
			char dashed[32];
			snprintf(dashed, sizeof(dashed), "--%s", aigw_global_opts[g].long_name);
			assert_true(has_option(help.data, dashed));
		}
		aigw_buf_release(&usage);
		aigw_buf_release(&help);
	}
}

static void test_help_details(void **state)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	(void)state;

	aigw_opt_help(&spec, &verbs[0], &b);
	assert_non_null(strstr(b.data, "-H, --header 'K: V'"));
	assert_non_null(strstr(b.data, "-f, --force"));
	assert_non_null(strstr(b.data, "--color, --no-color"));
	assert_non_null(strstr(b.data, "-q, --quiet"));
	assert_non_null(strstr(b.data, "\noptions:\n"));
	aigw_buf_reset(&b);

	/* A verb without options has no options section. */
	aigw_opt_help(&spec, &verbs[2], &b);
	assert_null(strstr(b.data, "\noptions:\n"));
	assert_non_null(strstr(b.data, "\nglobal options:\n"));
	aigw_buf_reset(&b);

	/* The command's help lists every verb. */
	aigw_opt_help(&spec, NULL, &b);
	assert_non_null(strstr(b.data, "usage: aigw test <verb> [options]\n"));
	assert_non_null(strstr(b.data, spec.summary));
	for (size_t v = 0; v < N_ELEMS(verbs); v++) {
		assert_non_null(strstr(b.data, verbs[v].name));
		assert_non_null(strstr(b.data, verbs[v].summary));
	}
	assert_non_null(strstr(b.data, "run 'aigw test <verb> -h'"));
	for (int o = 0; o < O_COUNT; o++) {
		char dashed[32];
		snprintf(dashed, sizeof(dashed), "--%s", opts[o].long_name);
		assert_false(has_option(b.data, dashed));
	}
	aigw_buf_reset(&b);

	/* A command without verbs: help is the verb's. */
	aigw_opt_help(&run_spec, NULL, &b);
	assert_non_null(strstr(b.data, "usage: aigw run [FILE] --force [--mode M]\n"));
	assert_non_null(strstr(b.data, "run a thing"));
	assert_true(has_option(b.data, "--mode"));
	assert_false(has_option(b.data, "--name"));
	aigw_buf_release(&b);
}

/* ----------------------------------------------------------------- man */

static size_t count(const char *text, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_man(void **state)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	const char *syn, *fi;
	(void)state;

	aigw_opt_man(&spec, &b);
	assert_int_equal(count(b.data, ".TP\n"), O_COUNT + AIGW_GOPT_COUNT);
	assert_int_equal(count(b.data, ".SH SYNOPSIS\n"), 1);
	assert_int_equal(count(b.data, ".SH OPTIONS\n"), 1);
	assert_int_equal(count(b.data, ".SS Global options\n"), 1);

	/* One SYNOPSIS line per verb, in table order. */
	syn = strstr(b.data, ".SH SYNOPSIS\n.nf\n");
	assert_non_null(syn);
	syn += strlen(".SH SYNOPSIS\n.nf\n");
	fi = strstr(syn, ".fi\n");
	assert_non_null(fi);
	const char *line = syn;
	for (size_t v = 0; v < N_ELEMS(verbs); v++) {
		char head[64];
		const char *nl = strchr(line, '\n');
		snprintf(head, sizeof(head), "\\fBaigw test %s\\fR", verbs[v].name);
		assert_true(nl && nl < fi);
		if (strncmp(line, head, strlen(head)) != 0)
			fail_msg("synopsis line %zu: '%.*s'", v, (int)(nl - line), line);
		line = nl + 1;
	}
	assert_ptr_equal(line, fi);
	assert_non_null(strstr(syn, "\\fBaigw test create\\fR \\fB\\-\\-name\\fR \\fINAME\\fR "
				    "[\\fB\\-\\-header\\fR \\fI'K: V'\\fR...]"));

	/* Each option's entry: its forms, its help, the verbs using it. */
	assert_non_null(strstr(b.data, ".TP\n\\fB\\-\\-name\\fR \\fINAME\\fR\nthe thing's name. "
				       "Used by: create.\n"));
	assert_non_null(strstr(b.data, ".TP\n\\fB\\-H\\fR, \\fB\\-\\-header\\fR \\fI'K: V'\\fR\n"
				       "a header to send. May be repeated. Used by: create.\n"));
	assert_non_null(strstr(b.data, "\\fB\\-\\-color\\fR, \\fB\\-\\-no\\-color\\fR\n"
				       "colour the output. Used by: create, show.\n"));
	assert_non_null(strstr(b.data, "do it even if unsafe. Used by: create, delete.\n"));
	assert_non_null(strstr(b.data, "\\fB\\-q\\fR, \\fB\\-\\-quiet\\fR\n"));
	/* Hyphens in text are escaped for roff. */
	assert_null(strstr(b.data, " --"));
	aigw_buf_release(&b);
}

/* ---------------------------------------------------------- completion */

struct complete_case {
	const char *words[8]; /* NULL-terminated; the last is the word completed */
	const char *want;     /* candidates, one per line, in order */
	const char *live;
};

static const struct complete_case complete_cases[] = {
	{ { "", NULL }, "create\nshow\ncopy\nlist\ndelete\n", NULL },
	{ { "c", NULL }, "create\ncopy\n", NULL },
	{ { "cr", NULL }, "create\n", NULL },
	{ { "x", NULL }, "", NULL },
	{ { "--db", "my.db", "d", NULL }, "delete\n", NULL },
	{ { "-q", "l", NULL }, "list\n", NULL },
	{ { "create", "--n", NULL }, "--name\n--no-color\n", NULL },
	{ { "create", "--no", NULL }, "--no-color\n", NULL },
	{ { "show", "--", NULL },
	  "--db\n--config\n--json\n--quiet\n--help\n--version\n--color\n--no-color\n", NULL },
	{ { "copy", "a", "--", NULL }, "--db\n--config\n--json\n--quiet\n--help\n--version\n",
	  NULL },
	{ { "create", "--mode", "", NULL }, "fast\nslow\n", NULL },
	{ { "create", "--mode", "s", NULL }, "slow\n", NULL },
	{ { "create", "--mode", "x", NULL }, "", NULL },
	{ { "list", "--node", "", NULL }, "", "node" },
	{ { "list", "--node", "ab", NULL }, "", "node" },
	{ { "list", "--db", "", NULL }, "", "file" },
	{ { "create", "-H", "", NULL }, "", NULL },
	{ { "show", "", NULL }, "", "key" },
	{ { "show", "--color", "", NULL }, "", "key" },
	{ { "copy", "", NULL }, "", "node" },
	{ { "copy", "a", "", NULL }, "", "file" },
	{ { "copy", "a", "b", "c", "", NULL }, "", "file" }, /* the last hint repeats */
	{ { "copy", "--db", "x", "", NULL }, "", "node" },   /* an option's value is no positional */
	{ { "create", "", NULL }, "", NULL },
	{ { "create", "--name=x", "--mode", "", NULL }, "fast\nslow\n", NULL },
};

static void test_complete(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(complete_cases); i++) {
		const struct complete_case *c = &complete_cases[i];
		struct aigw_buf out = AIGW_BUF_INIT;
		const char *live = "junk";
		char *words[8];
		int n = 0;

		while (c->words[n]) {
			words[n] = (char *)c->words[n];
			n++;
		}
		aigw_opt_complete(&spec, n, words, &out, &live);
		if (strcmp(out.data, c->want) != 0)
			fail_msg("case %zu: candidates\n%s\nwant\n%s", i, out.data, c->want);
		if (!aigw_str_eq(live, c->live))
			fail_msg("case %zu: live '%s', want '%s'", i, live ? live : "(null)",
				 c->live ? c->live : "(null)");
		aigw_buf_release(&out);
	}
}

/* "--" at any verb offers exactly that verb's options (with --no-X for
 * negatable ones) and the global options. */
static void test_complete_options_exact(void **state)
{
	(void)state;
	for (size_t v = 0; v < N_ELEMS(verbs); v++) {
		struct aigw_buf out = AIGW_BUF_INIT, want = AIGW_BUF_INIT;
		const char *live;
		char *words[2] = { (char *)verbs[v].name, (char *)"--" };

		for (int g = 0; g < AIGW_GOPT_COUNT; g++)
			aigw_buf_printf(&want, "--%s\n", aigw_global_opts[g].long_name);
		for (int o = 0; o < O_COUNT; o++) {
			if (!verb_has(&verbs[v], o))
				continue;
			aigw_buf_printf(&want, "--%s\n", opts[o].long_name);
			if (opts[o].kind == AIGW_OPT_NEGFLAG)
				aigw_buf_printf(&want, "--no-%s\n", opts[o].long_name);
		}
		aigw_opt_complete(&spec, 2, words, &out, &live);
		assert_string_equal(out.data, want.data);
		assert_null(live);
		aigw_buf_release(&out);
		aigw_buf_release(&want);
	}
}

static void test_complete_no_verbs(void **state)
{
	struct aigw_buf out = AIGW_BUF_INIT;
	const char *live;
	char *w1[] = { (char *)"--m" };
	char *w2[] = { (char *)"" };
	(void)state;

	aigw_opt_complete(&run_spec, 1, w1, &out, &live);
	assert_string_equal(out.data, "--mode\n");
	aigw_buf_reset(&out);
	/* No verbs to offer and no positional hint. */
	aigw_opt_complete(&run_spec, 1, w2, &out, &live);
	assert_string_equal(out.data, "");
	assert_null(live);
	aigw_opt_complete(&spec, 0, NULL, &out, &live);
	assert_string_equal(out.data, "create\nshow\ncopy\nlist\ndelete\n");
	aigw_buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_no_verbs),
		cmocka_unit_test(test_parse_many_list_values),
		cmocka_unit_test(test_verb_lookup),
		cmocka_unit_test(test_usage_exact),
		cmocka_unit_test(test_usage_and_help_options),
		cmocka_unit_test(test_help_details),
		cmocka_unit_test(test_man),
		cmocka_unit_test(test_complete),
		cmocka_unit_test(test_complete_options_exact),
		cmocka_unit_test(test_complete_no_verbs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
