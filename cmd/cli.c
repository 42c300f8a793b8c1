/* cli: see cli.h. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "log.h"
#include "mem.h"

int cli_exit_code(int code)
{
	switch (code) {
	case AIGW_OK: return EXIT_OK;
	case AIGW_EINVAL: return EXIT_USAGE;
	case AIGW_ENOTFOUND: return EXIT_NOTFOUND;
	case AIGW_ECONFIG: return EXIT_CONFIG;
	default: return EXIT_FAIL;
	}
}

int cli_fail(struct cli *cli, const struct aigw_err *err)
{
	fprintf(stderr, "aigw %s: %s\n", cli->name, err->msg[0] ? err->msg : aigw_err_name(err->code));
	return cli_exit_code(err->code);
}

int cli_failf(struct cli *cli, int code, const char *fmt, ...)
{
	struct aigw_err err;
	va_list ap;
	va_start(ap, fmt);
	aigw_err_setv(&err, code, fmt, ap);
	va_end(ap);
	return cli_fail(cli, &err);
}

void cli_note(struct cli *cli, const char *fmt, ...)
{
	va_list ap;
	if (cli->quiet)
		return;
	fprintf(stderr, "aigw %s: ", cli->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Opens the database without printing; see cli_store. */
static int open_store(struct cli *cli, bool write, struct aigw_store **out,
		      struct aigw_err *err)
{
	char path[4096];
	int is_default = 0, flags = 0;

	if (cli->store) {
		*out = cli->store;
		return 0;
	}
	if (aigw_store_path(cli->args.global[AIGW_GOPT_DB].value, path, sizeof(path),
			    &is_default, err))
		return AIGW_EFAIL;
	/* The default directory need not exist yet: without CREATE, a
	 * missing one reads as an empty database (nothing is made). */
	if (is_default)
		flags |= AIGW_STORE_MKDIR;
	if (write)
		flags |= AIGW_STORE_CREATE;
	if (aigw_store_open(&cli->store, path, flags, err))
		return err->code ? err->code : AIGW_EFAIL;
	*out = cli->store;
	return 0;
}

int cli_store(struct cli *cli, bool write, struct aigw_store **out)
{
	struct aigw_err err = { 0 };
	if (open_store(cli, write, out, &err))
		return cli_fail(cli, &err);
	return 0;
}

/* True when the database file does not exist yet, so a write would make it. */
static bool store_absent(struct cli *cli)
{
	char path[4096];
	struct stat st;

	if (cli->store || aigw_store_path(cli->args.global[AIGW_GOPT_DB].value, path,
					  sizeof(path), NULL, NULL))
		return false;
	return stat(path, &st) != 0 && errno == ENOENT;
}

int cli_write(struct cli *cli, cli_write_fn *fn, void *arg, struct aigw_err *err)
{
	struct aigw_store *s;
	int rc;

	if (store_absent(cli)) {
		/* The rehearsal: an empty in-memory database is exactly the
		 * state the new file would start in. */
		rc = open_store(cli, false, &s, err);
		if (!rc)
			rc = fn(s, arg, err);
		aigw_store_close(cli->store);
		cli->store = NULL;
		if (rc)
			return rc;
	}
	if ((rc = open_store(cli, true, &s, err)))
		return rc;
	return fn(s, arg, err);
}

int cli_conf(struct cli *cli, const struct aigw_conf **out)
{
	struct aigw_err err = { 0 };
	char path[4096];

	if (!cli->conf_loaded) {
		aigw_conf_init(&cli->conf);
		/* Marked loaded at once: the defaults allocate, and the caller
		 * releases whatever is marked, failure or not. */
		cli->conf_loaded = true;
		if (aigw_conf_locate(cli->args.global[AIGW_GOPT_CONFIG].value, path, sizeof(path),
				     &err))
			return cli_fail(cli, &err);
		if (path[0] && aigw_conf_load_file(&cli->conf, path, &err))
			return cli_fail(cli, &err);
		aigw_log_set_level((enum aigw_log_level)cli->conf.log_level);
	}
	*out = &cli->conf;
	return 0;
}

static int bad_value(struct cli *cli, int opt, struct aigw_err *err)
{
	return cli_failf(cli, AIGW_EINVAL, "--%s: %s", cli->args.spec->opts[opt].long_name,
			 err->msg);
}

int cli_int(struct cli *cli, int opt, int64_t min, int64_t max, int64_t *out)
{
	struct aigw_err err;
	if (aigw_parse_int(cli_value(cli, opt), min, max, out, &err))
		return bad_value(cli, opt, &err);
	return 0;
}

int cli_duration_ms(struct cli *cli, int opt, int64_t *out)
{
	struct aigw_err err;
	if (aigw_parse_duration_ms(cli_value(cli, opt), out, &err))
		return bad_value(cli, opt, &err);
	return 0;
}

int cli_list(struct cli *cli, int opt, struct aigw_strv *out)
{
	struct aigw_err err;
	const struct aigw_optval *v = &cli->args.opt[opt];
	const char *s = v->value;
	struct aigw_strv joined = AIGW_STRV_INIT;

	/* A list option may be given once as "a,b" or repeated. */
	if (v->list.n) {
		char *all = aigw_strv_join(&v->list, ",");
		int rc = aigw_strv_split(&joined, all, ',', &err);
		free(all);
		if (rc)
			return bad_value(cli, opt, &err);
		*out = joined;
		return 0;
	}
	if (aigw_strv_split(out, s ? s : "", ',', &err))
		return bad_value(cli, opt, &err);
	return 0;
}

int cli_enum(struct cli *cli, int opt, const char *const *names, const char *what, int *out)
{
	struct aigw_err err;
	int v = aigw_enum_parse(names, cli_value(cli, opt), what, &err);
	if (v < 0)
		return bad_value(cli, opt, &err);
	*out = v;
	return 0;
}

void cli_json(struct cli *cli, cJSON *v)
{
	char *s = cJSON_PrintUnformatted(v);
	if (s) {
		fputs(s, cli->out);
		fputc('\n', cli->out);
		cJSON_free(s);
	}
	cJSON_Delete(v);
}

cJSON *cli_json_time(int64_t t)
{
	char buf[32];
	if (!t)
		return cJSON_CreateNull();
	aigw_format_time(t, buf, sizeof(buf));
	return cJSON_CreateString(buf);
}

cJSON *cli_json_strv(const struct aigw_strv *sv)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < sv->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(sv->v[i]));
	return a;
}

void cli_table_init(struct cli_table *t, size_t ncols, const char *const *headers)
{
	t->ncols = ncols;
	t->cells.v = NULL;
	t->cells.n = 0;
	for (size_t i = 0; i < ncols; i++)
		aigw_strv_push(&t->cells, headers[i]);
}

void cli_table_row(struct cli_table *t, ...)
{
	va_list ap;
	va_start(ap, t);
	for (size_t i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);
		aigw_strv_push(&t->cells, s && *s ? s : "-");
	}
	va_end(ap);
}

void cli_table_print(struct cli *cli, struct cli_table *t)
{
	size_t width[32] = { 0 };
	size_t rows = t->cells.n / t->ncols;
	bool bold = cli->tty && !getenv("NO_COLOR");

	for (size_t i = 0; i < t->cells.n; i++) {
		size_t l = strlen(t->cells.v[i]);
		if (l > width[i % t->ncols])
			width[i % t->ncols] = l;
	}
	for (size_t r = 0; r < rows; r++) {
		if (r == 0 && bold)
			fputs("\033[1m", cli->out);
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells.v[r * t->ncols + c];
			if (c + 1 == t->ncols)
				fputs(s, cli->out);
			else
				fprintf(cli->out, "%-*s  ", (int)width[c], s);
		}
		if (r == 0 && bold)
			fputs("\033[0m", cli->out);
		fputc('\n', cli->out);
	}
	aigw_strv_release(&t->cells);
}

void cli_field(struct cli *cli, const char *label, const char *fmt, ...)
{
	va_list ap;
	fprintf(cli->out, "%-14s ", label);
	va_start(ap, fmt);
	vfprintf(cli->out, fmt, ap);
	va_end(ap);
	fputc('\n', cli->out);
}

int cli_read_file(struct cli *cli, const char *path, char **data, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	struct aigw_buf b = AIGW_BUF_INIT;
	char chunk[65536];
	size_t n;

	if (!f)
		return cli_failf(cli, AIGW_ENOTFOUND, "cannot read '%s': %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		aigw_buf_append(&b, chunk, n);
		if (b.len > 64u << 20) {
			if (f != stdin)
				fclose(f);
			aigw_buf_release(&b);
			return cli_failf(cli, AIGW_EINVAL, "'%s' is larger than 64 MiB", path);
		}
	}
	if (ferror(f)) {
		int e = errno;
		if (f != stdin)
			fclose(f);
		aigw_buf_release(&b);
		return cli_failf(cli, AIGW_EFAIL, "cannot read '%s': %s", path, strerror(e));
	}
	if (f != stdin)
		fclose(f);
	*len = b.len;
	*data = aigw_buf_detach(&b);
	return 0;
}
