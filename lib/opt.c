/* opt: see opt.h. */
#include "opt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

const struct aigw_opt aigw_global_opts[AIGW_GOPT_COUNT] = {
	[AIGW_GOPT_DB] = { 0, "db", AIGW_OPT_VALUE, "PATH",
			   "state database (default $AIGW_DB, then $XDG_STATE_HOME/aigw/aigw.db)",
			   "file" },
	[AIGW_GOPT_CONFIG] = { 0, "config", AIGW_OPT_VALUE, "PATH",
			       "config file (default $AIGW_CONFIG, ./aigw.yaml, then $XDG_CONFIG_HOME/aigw/aigw.yaml)",
			       "file" },
	[AIGW_GOPT_JSON] = { 0, "json", AIGW_OPT_FLAG, NULL,
			     "print JSON (lists: one object per line)", NULL },
	[AIGW_GOPT_QUIET] = { 'q', "quiet", AIGW_OPT_FLAG, NULL,
			      "print only names or ids, one per line", NULL },
	[AIGW_GOPT_HELP] = { 'h', "help", AIGW_OPT_FLAG, NULL, "show this help", NULL },
	[AIGW_GOPT_VERSION] = { 0, "version", AIGW_OPT_FLAG, NULL, "print the version", NULL },
};

void aigw_args_release(struct aigw_args *a)
{
	for (int i = 0; i < AIGW_OPT_MAX; i++)
		aigw_strv_release(&a->opt[i].list);
	for (int i = 0; i < AIGW_GOPT_COUNT; i++)
		aigw_strv_release(&a->global[i].list);
}

const struct aigw_verb *aigw_opt_verb(const struct aigw_cmdspec *spec, const char *name)
{
	for (size_t i = 0; i < spec->n_verbs; i++)
		if (spec->verbs[i].name && strcmp(spec->verbs[i].name, name) == 0)
			return &spec->verbs[i];
	return NULL;
}

static bool verb_allows(const struct aigw_verb *verb, int idx, bool *required)
{
	for (const int *o = verb->opts; o && *o != AIGW_OPT_END; o++) {
		if ((*o & ~AIGW_OPT_REQUIRED) == idx) {
			if (required)
				*required = (*o & AIGW_OPT_REQUIRED) != 0;
			return true;
		}
	}
	return false;
}

/* Finds an option by long name; sets *global and returns its index. */
static int find_long(const struct aigw_cmdspec *spec, const char *name, size_t len,
		     bool *global)
{
	for (int i = 0; i < AIGW_GOPT_COUNT; i++) {
		if (strlen(aigw_global_opts[i].long_name) == len &&
		    strncmp(aigw_global_opts[i].long_name, name, len) == 0) {
			*global = true;
			return i;
		}
	}
	for (size_t i = 0; i < spec->n_opts; i++) {
		if (spec->opts[i].long_name && strlen(spec->opts[i].long_name) == len &&
		    strncmp(spec->opts[i].long_name, name, len) == 0) {
			*global = false;
			return (int)i;
		}
	}
	return -1;
}

static int find_short(const struct aigw_cmdspec *spec, char c, bool *global)
{
	for (int i = 0; i < AIGW_GOPT_COUNT; i++) {
		if (aigw_global_opts[i].short_name == c) {
			*global = true;
			return i;
		}
	}
	for (size_t i = 0; i < spec->n_opts; i++) {
		if (spec->opts[i].short_name == c) {
			*global = false;
			return (int)i;
		}
	}
	return -1;
}

static int unknown_option(const struct aigw_cmdspec *spec, const char *word,
			  struct aigw_err *err)
{
	const char *names[AIGW_OPT_MAX + AIGW_GOPT_COUNT + 1];
	char dashed[AIGW_OPT_MAX + AIGW_GOPT_COUNT][72];
	size_t n = 0, wl = strcspn(word, "=");
	char typed[72];
	const char *guess;

	for (int i = 0; i < AIGW_GOPT_COUNT; i++) {
		snprintf(dashed[n], sizeof(dashed[n]), "--%s", aigw_global_opts[i].long_name);
		names[n] = dashed[n];
		n++;
	}
	for (size_t i = 0; i < spec->n_opts && n < AIGW_OPT_MAX + AIGW_GOPT_COUNT; i++) {
		if (!spec->opts[i].long_name)
			continue;
		snprintf(dashed[n], sizeof(dashed[n]), "--%s", spec->opts[i].long_name);
		names[n] = dashed[n];
		n++;
	}
	names[n] = NULL;
	snprintf(typed, sizeof(typed), "%.*s", (int)(wl < 70 ? wl : 70), word);
	guess = aigw_str_prefix(typed, "--") ? aigw_suggest(typed, names) : NULL;
	if (guess)
		return aigw_err_set(err, AIGW_EINVAL, "unknown option '%s' (did you mean '%s'?)",
				    typed, guess);
	return aigw_err_set(err, AIGW_EINVAL, "unknown option '%s'", typed);
}

static int unknown_verb(const struct aigw_cmdspec *spec, const char *word,
			struct aigw_err *err)
{
	const char *names[32];
	size_t n = 0;
	const char *guess;

	for (size_t i = 0; i < spec->n_verbs && n < 31; i++)
		names[n++] = spec->verbs[i].name;
	names[n] = NULL;
	guess = aigw_suggest(word, names);
	if (guess)
		return aigw_err_set(err, AIGW_EINVAL, "unknown verb '%s' (did you mean '%s'?)",
				    word, guess);
	return aigw_err_set(err, AIGW_EINVAL, "unknown verb '%s' (see 'aigw %s -h')", word,
			    spec->name);
}

static void record(struct aigw_optval *v, const struct aigw_opt *o, const char *value,
		   bool on)
{
	v->set = true;
	v->on = on;
	if (o->kind == AIGW_OPT_LIST)
		aigw_strv_push(&v->list, value);
	else if (o->kind == AIGW_OPT_VALUE)
		v->value = value;
}

int aigw_opt_parse(const struct aigw_cmdspec *spec, int argc, char **argv,
		   struct aigw_args *out, struct aigw_err *err)
{
	bool options_done = false;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->spec = spec;
	if (spec->n_verbs == 1 && spec->verbs[0].name == NULL)
		out->verb = &spec->verbs[0];

	for (int i = 1; i < argc; i++) {
		const char *w = argv[i];
		const struct aigw_opt *o;
		struct aigw_optval *slot;
		const char *value = NULL;
		bool global = false, on = true;
		int idx;

		if (!options_done && strcmp(w, "--") == 0) {
			options_done = true;
			continue;
		}
		if (!options_done && w[0] == '-' && w[1] == '-' && w[2]) {
			const char *name = w + 2;
			size_t len = strcspn(name, "=");
			idx = find_long(spec, name, len, &global);
			if (idx < 0 && len > 3 && strncmp(name, "no-", 3) == 0) {
				idx = find_long(spec, name + 3, len - 3, &global);
				o = idx < 0 ? NULL : global ? &aigw_global_opts[idx] : &spec->opts[idx];
				if (!o || o->kind != AIGW_OPT_NEGFLAG)
					idx = -1;
				on = false;
			}
			if (idx < 0) {
				rc = unknown_option(spec, w, err);
				goto fail;
			}
			o = global ? &aigw_global_opts[idx] : &spec->opts[idx];
			if (name[len] == '=') {
				if (o->kind == AIGW_OPT_FLAG || o->kind == AIGW_OPT_NEGFLAG) {
					/* As typed, so "--no-x=1" is not reported as "--x". */
					rc = aigw_err_set(err, AIGW_EINVAL,
							  "option '--%.*s' takes no value", (int)len,
							  name);
					goto fail;
				}
				value = name + len + 1;
			}
		} else if (!options_done && w[0] == '-' && w[1]) {
			idx = find_short(spec, w[1], &global);
			if (idx < 0) {
				rc = unknown_option(spec, w, err);
				goto fail;
			}
			o = global ? &aigw_global_opts[idx] : &spec->opts[idx];
			if (w[2]) {
				if (o->kind == AIGW_OPT_FLAG || o->kind == AIGW_OPT_NEGFLAG) {
					rc = aigw_err_set(err, AIGW_EINVAL,
							  "option '-%c' takes no value (write flags separately)",
							  w[1]);
					goto fail;
				}
				value = w + 2;
			}
		} else {
			if (!out->verb && spec->n_verbs) {
				out->verb = aigw_opt_verb(spec, w);
				if (!out->verb) {
					rc = unknown_verb(spec, w, err);
					goto fail;
				}
			} else if (out->n_pos < (int)(sizeof(out->pos) / sizeof(out->pos[0]))) {
				out->pos[out->n_pos++] = w;
			} else {
				rc = aigw_err_set(err, AIGW_EINVAL, "too many arguments");
				goto fail;
			}
			continue;
		}
		if ((o->kind == AIGW_OPT_VALUE || o->kind == AIGW_OPT_LIST) && !value) {
			if (i + 1 >= argc) {
				rc = aigw_err_set(err, AIGW_EINVAL, "option '%s%s' needs a value %s",
						  o->long_name ? "--" : "-",
						  o->long_name ? o->long_name : (char[]){ o->short_name, 0 },
						  o->arg ? o->arg : "");
				goto fail;
			}
			value = argv[++i];
		}
		slot = global ? &out->global[idx] : &out->opt[idx];
		record(slot, o, value, on);
	}

	if (out->global[AIGW_GOPT_HELP].set || out->global[AIGW_GOPT_VERSION].set)
		return 0;
	if (!out->verb) {
		struct aigw_buf names = AIGW_BUF_INIT;
		for (size_t v = 0; v < spec->n_verbs; v++)
			aigw_buf_printf(&names, "%s%s", v ? ", " : "", spec->verbs[v].name);
		rc = aigw_err_set(err, AIGW_EINVAL, "missing verb (one of: %s)", names.data);
		aigw_buf_release(&names);
		goto fail;
	}
	for (size_t i = 0; i < spec->n_opts; i++) {
		bool required = false;
		bool allowed = verb_allows(out->verb, (int)i, &required);
		if (out->opt[i].set && !allowed) {
			rc = aigw_err_set(err, AIGW_EINVAL, "option '--%s' does not apply to '%s%s%s'",
					  spec->opts[i].long_name, spec->name,
					  out->verb->name ? " " : "",
					  out->verb->name ? out->verb->name : "");
			goto fail;
		}
		if (required && !out->opt[i].set) {
			rc = aigw_err_set(err, AIGW_EINVAL, "missing required option '--%s%s%s'",
					  spec->opts[i].long_name, spec->opts[i].arg ? " " : "",
					  spec->opts[i].arg ? spec->opts[i].arg : "");
			goto fail;
		}
	}
	if (out->n_pos < out->verb->min_args) {
		rc = aigw_err_set(err, AIGW_EINVAL, "missing argument (usage: %s%s%s %s)",
				  spec->name, out->verb->name ? " " : "",
				  out->verb->name ? out->verb->name : "", out->verb->args);
		goto fail;
	}
	if (out->verb->max_args >= 0 && out->n_pos > out->verb->max_args) {
		rc = aigw_err_set(err, AIGW_EINVAL, "unexpected argument '%s'",
				  out->pos[out->verb->max_args]);
		goto fail;
	}
	return 0;
fail:
	aigw_args_release(out);
	return rc;
}

/* ---------------------------------------------------------------- help */

/* A repeatable option is shown with "..." unless its placeholder already
 * says it takes a list ("GLOB,..."). */
static bool list_marker(const struct aigw_opt *o)
{
	return o->kind == AIGW_OPT_LIST && !(o->arg && aigw_str_suffix(o->arg, "..."));
}

static void opt_token(const struct aigw_opt *o, struct aigw_buf *out)
{
	if (o->long_name)
		aigw_buf_printf(out, "--%s", o->long_name);
	else
		aigw_buf_printf(out, "-%c", o->short_name);
	if (o->arg)
		aigw_buf_printf(out, " %s", o->arg);
}

void aigw_opt_usage(const struct aigw_cmdspec *spec, const struct aigw_verb *verb,
		    struct aigw_buf *out)
{
	aigw_buf_printf(out, "aigw %s", spec->name);
	if (!verb) {
		if (spec->n_verbs > 1 || (spec->n_verbs == 1 && spec->verbs[0].name))
			aigw_buf_puts(out, " <verb> [options]");
		return;
	}
	if (verb->name)
		aigw_buf_printf(out, " %s", verb->name);
	if (verb->args && *verb->args)
		aigw_buf_printf(out, " %s", verb->args);
	/* Required options first, in table order, then the optional ones. */
	for (int pass = 0; pass < 2; pass++) {
		for (const int *o = verb->opts; o && *o != AIGW_OPT_END; o++) {
			bool req = (*o & AIGW_OPT_REQUIRED) != 0;
			const struct aigw_opt *opt = &spec->opts[*o & ~AIGW_OPT_REQUIRED];
			if (req != (pass == 0))
				continue;
			aigw_buf_puts(out, req ? " " : " [");
			opt_token(opt, out);
			if (list_marker(opt))
				aigw_buf_puts(out, "...");
			if (!req)
				aigw_buf_puts(out, "]");
		}
	}
}

static void help_line(struct aigw_buf *out, const struct aigw_opt *o)
{
	struct aigw_buf tok = AIGW_BUF_INIT;
	if (o->short_name && o->long_name)
		aigw_buf_printf(&tok, "-%c, ", o->short_name);
	opt_token(o, &tok);
	if (o->kind == AIGW_OPT_NEGFLAG)
		aigw_buf_printf(&tok, ", --no-%s", o->long_name);
	aigw_buf_printf(out, "  %-26s %s\n", tok.data, o->help);
	aigw_buf_release(&tok);
}

void aigw_opt_help(const struct aigw_cmdspec *spec, const struct aigw_verb *verb,
		   struct aigw_buf *out)
{
	aigw_buf_puts(out, "usage: ");
	if (!verb && spec->n_verbs == 1 && !spec->verbs[0].name)
		verb = &spec->verbs[0];
	aigw_opt_usage(spec, verb, out);
	aigw_buf_printf(out, "\n\n%s\n", verb && verb->summary ? verb->summary : spec->summary);
	if (!verb) {
		aigw_buf_puts(out, "\nverbs:\n");
		for (size_t i = 0; i < spec->n_verbs; i++) {
			char head[64];
			snprintf(head, sizeof(head), "%s %s", spec->verbs[i].name,
				 spec->verbs[i].args ? spec->verbs[i].args : "");
			aigw_buf_printf(out, "  %-26s %s\n", head, spec->verbs[i].summary);
		}
		aigw_buf_printf(out, "\nrun 'aigw %s <verb> -h' for the options of a verb\n",
				spec->name);
	} else if (verb->opts && *verb->opts != AIGW_OPT_END) {
		aigw_buf_puts(out, "\noptions:\n");
		for (const int *o = verb->opts; *o != AIGW_OPT_END; o++)
			help_line(out, &spec->opts[*o & ~AIGW_OPT_REQUIRED]);
	}
	aigw_buf_puts(out, "\nglobal options:\n");
	for (int i = 0; i < AIGW_GOPT_COUNT; i++)
		help_line(out, &aigw_global_opts[i]);
}

/* --------------------------------------------------------------- man */

static void roff_escaped(struct aigw_buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '-')
			aigw_buf_puts(out, "\\-");
		else if (*s == '\\')
			aigw_buf_puts(out, "\\e");
		else
			aigw_buf_putc(out, *s);
	}
}

static void roff_opt(struct aigw_buf *out, const struct aigw_opt *o, bool synopsis)
{
	if (o->long_name) {
		aigw_buf_puts(out, "\\fB");
		roff_escaped(out, "--");
		roff_escaped(out, o->long_name);
		aigw_buf_puts(out, "\\fR");
	} else {
		aigw_buf_printf(out, "\\fB\\-%c\\fR", o->short_name);
	}
	if (o->arg) {
		aigw_buf_puts(out, " \\fI");
		roff_escaped(out, o->arg);
		aigw_buf_puts(out, "\\fR");
	}
	if (synopsis && list_marker(o))
		aigw_buf_puts(out, "...");
}

void aigw_opt_man(const struct aigw_cmdspec *spec, struct aigw_buf *out)
{
	aigw_buf_puts(out, ".SH SYNOPSIS\n.nf\n");
	for (size_t v = 0; v < spec->n_verbs; v++) {
		const struct aigw_verb *verb = &spec->verbs[v];
		aigw_buf_printf(out, "\\fBaigw %s", spec->name);
		if (verb->name)
			aigw_buf_printf(out, " %s", verb->name);
		aigw_buf_puts(out, "\\fR");
		if (verb->args && *verb->args) {
			aigw_buf_puts(out, " ");
			roff_escaped(out, verb->args);
		}
		for (int pass = 0; pass < 2; pass++) {
			for (const int *o = verb->opts; o && *o != AIGW_OPT_END; o++) {
				bool req = (*o & AIGW_OPT_REQUIRED) != 0;
				if (req != (pass == 0))
					continue;
				aigw_buf_puts(out, req ? " " : " [");
				roff_opt(out, &spec->opts[*o & ~AIGW_OPT_REQUIRED], true);
				if (!req)
					aigw_buf_puts(out, "]");
			}
		}
		aigw_buf_puts(out, "\n");
	}
	aigw_buf_puts(out, ".fi\n.SH OPTIONS\n");
	for (size_t i = 0; i < spec->n_opts; i++) {
		const struct aigw_opt *o = &spec->opts[i];
		bool first = true;
		aigw_buf_puts(out, ".TP\n");
		if (o->short_name && o->long_name)
			aigw_buf_printf(out, "\\fB\\-%c\\fR, ", o->short_name);
		roff_opt(out, o, false);
		if (o->kind == AIGW_OPT_NEGFLAG) {
			aigw_buf_puts(out, ", \\fB\\-\\-no\\-");
			roff_escaped(out, o->long_name);
			aigw_buf_puts(out, "\\fR");
		}
		aigw_buf_puts(out, "\n");
		roff_escaped(out, o->help);
		aigw_buf_puts(out, ".");
		if (o->kind == AIGW_OPT_LIST)
			aigw_buf_puts(out, " May be repeated.");
		for (size_t v = 0; v < spec->n_verbs; v++) {
			if (!spec->verbs[v].name || !verb_allows(&spec->verbs[v], (int)i, NULL))
				continue;
			aigw_buf_printf(out, "%s%s", first ? " Used by: " : ", ",
					spec->verbs[v].name);
			first = false;
		}
		aigw_buf_puts(out, first ? "\n" : ".\n");
	}
	aigw_buf_puts(out, ".SS Global options\n");
	for (int i = 0; i < AIGW_GOPT_COUNT; i++) {
		const struct aigw_opt *o = &aigw_global_opts[i];
		aigw_buf_puts(out, ".TP\n");
		if (o->short_name)
			aigw_buf_printf(out, "\\fB\\-%c\\fR, ", o->short_name);
		roff_opt(out, o, false);
		aigw_buf_puts(out, "\n");
		roff_escaped(out, o->help);
		aigw_buf_puts(out, ".\n");
	}
}

/* --------------------------------------------------------- completion */

static void candidate(struct aigw_buf *out, const char *cur, const char *word)
{
	if (aigw_str_prefix(word, cur))
		aigw_buf_printf(out, "%s\n", word);
}

static void hint(const char *h, const char *cur, struct aigw_buf *out, const char **live)
{
	if (!h)
		return;
	if (aigw_str_prefix(h, "choice:")) {
		const char *p = h + 7;
		while (*p) {
			size_t l = strcspn(p, "|");
			char word[64];
			snprintf(word, sizeof(word), "%.*s", (int)(l < 63 ? l : 63), p);
			candidate(out, cur, word);
			p += l;
			if (*p == '|')
				p++;
		}
	} else {
		*live = h;
	}
}

static const struct aigw_opt *opt_for_word(const struct aigw_cmdspec *spec, const char *w)
{
	bool global;
	int idx = -1;
	if (w[0] == '-' && w[1] == '-') {
		if (strchr(w, '='))
			return NULL;
		idx = find_long(spec, w + 2, strlen(w + 2), &global);
	} else if (w[0] == '-' && w[1] && !w[2]) {
		idx = find_short(spec, w[1], &global);
	}
	if (idx < 0)
		return NULL;
	return global ? &aigw_global_opts[idx] : &spec->opts[idx];
}

void aigw_opt_complete(const struct aigw_cmdspec *spec, int nwords, char **words,
		       struct aigw_buf *out, const char **live)
{
	const struct aigw_verb *verb = NULL;
	const char *cur = nwords > 0 ? words[nwords - 1] : "";
	int npos = 0;

	*live = NULL;
	if (spec->n_verbs == 1 && !spec->verbs[0].name)
		verb = &spec->verbs[0];
	for (int i = 0; i < nwords - 1; i++) {
		const struct aigw_opt *o;
		if (words[i][0] == '-' && words[i][1]) {
			o = opt_for_word(spec, words[i]);
			if (o && (o->kind == AIGW_OPT_VALUE || o->kind == AIGW_OPT_LIST))
				i++; /* skip its value */
			continue;
		}
		if (!verb && spec->n_verbs)
			verb = aigw_opt_verb(spec, words[i]);
		else
			npos++;
	}
	if (nwords >= 2) {
		const struct aigw_opt *o = opt_for_word(spec, words[nwords - 2]);
		if (o && (o->kind == AIGW_OPT_VALUE || o->kind == AIGW_OPT_LIST)) {
			hint(o->complete, cur, out, live);
			return;
		}
	}
	if (cur[0] == '-') {
		for (int i = 0; i < AIGW_GOPT_COUNT; i++) {
			char w[72];
			snprintf(w, sizeof(w), "--%s", aigw_global_opts[i].long_name);
			candidate(out, cur, w);
		}
		for (size_t i = 0; i < spec->n_opts; i++) {
			char w[72];
			if (verb && !verb_allows(verb, (int)i, NULL))
				continue;
			snprintf(w, sizeof(w), "--%s", spec->opts[i].long_name);
			candidate(out, cur, w);
			if (spec->opts[i].kind == AIGW_OPT_NEGFLAG) {
				snprintf(w, sizeof(w), "--no-%s", spec->opts[i].long_name);
				candidate(out, cur, w);
			}
		}
		return;
	}
	if (!verb) {
		for (size_t i = 0; i < spec->n_verbs; i++)
			candidate(out, cur, spec->verbs[i].name);
		return;
	}
	if (verb->complete_args && verb->complete_args[0]) {
		int last = 0;
		while (verb->complete_args[last + 1])
			last++;
		hint(verb->complete_args[npos < last ? npos : last], cur, out, live);
	}
}
