/* aigw keys: create, list, show, update, rotate, revoke and delete API keys.
 * Thin: parses options, calls lib/keys.c, prints. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "keys.h"
#include "records.h"

enum { O_NAME, O_RPM, O_TPM, O_BUDGET, O_EXPIRES, O_MODELS, O_ALL };

static const struct aigw_opt opts[] = {
	[O_NAME] = { 0, "name", AIGW_OPT_VALUE, "NAME", "the key's name (letters, digits, . _ -)", NULL },
	[O_RPM] = { 0, "rpm", AIGW_OPT_VALUE, "N", "requests per minute allowed (0 = unlimited)", NULL },
	[O_TPM] = { 0, "tpm", AIGW_OPT_VALUE, "N", "tokens per minute allowed (0 = unlimited)", NULL },
	[O_BUDGET] = { 0, "budget", AIGW_OPT_VALUE, "USD", "spending limit in US dollars (0 = none)", NULL },
	[O_EXPIRES] = { 0, "expires", AIGW_OPT_VALUE, "D",
			"expiry: a duration from now (30d), a date (2026-12-31) or never", NULL },
	[O_MODELS] = { 0, "models", AIGW_OPT_LIST, "GLOB,...",
		       "models the key may use, as globs (empty = all)", NULL },
	[O_ALL] = { 'a', "all", AIGW_OPT_FLAG, NULL, "include revoked keys", NULL },
};

static const int create_opts[] = { O_NAME | AIGW_OPT_REQUIRED, O_RPM, O_TPM, O_BUDGET,
				   O_EXPIRES, O_MODELS, AIGW_OPT_END };
static const int update_opts[] = { O_NAME, O_RPM, O_TPM, O_BUDGET, O_EXPIRES, O_MODELS,
				   AIGW_OPT_END };
static const int list_opts[] = { O_ALL, AIGW_OPT_END };
static const int no_opts[] = { AIGW_OPT_END };
static const char *const key_arg[] = { "key", NULL };

static const struct aigw_verb verbs[] = {
	{ "create", "", 0, 0, NULL, "create a key and print its secret (shown only this once)", create_opts },
	{ "list", "", 0, 0, NULL, "list keys (revoked ones with --all)", list_opts },
	{ "show", "ID", 1, 1, key_arg, "show one key", no_opts },
	{ "update", "ID", 1, 1, key_arg, "change a key's name, limits, expiry or models", update_opts },
	{ "rotate", "ID", 1, 1, key_arg, "issue a new secret with the same policy and revoke the old one", no_opts },
	{ "revoke", "ID", 1, 1, key_arg, "revoke a key (it stops working; the record stays)", no_opts },
	{ "delete", "ID", 1, 1, key_arg, "delete a key's record", no_opts },
};

const struct aigw_cmdspec cmd_keys_spec = {
	"keys", "create, list, rotate and revoke API keys", opts,
	sizeof(opts) / sizeof(opts[0]), verbs, sizeof(verbs) / sizeof(verbs[0]),
};

/* Collects the policy options into changes; values live in the holders. */
struct holders {
	int64_t rpm, tpm, budget, expires;
	struct aigw_strv models;
};

static int gather(struct cli *cli, struct aigw_key_changes *c, struct holders *h)
{
	struct aigw_err err;
	int rc;

	memset(c, 0, sizeof(*c));
	if (cli_has(cli, O_NAME))
		c->name = cli_value(cli, O_NAME);
	if (cli_has(cli, O_RPM)) {
		if ((rc = cli_int(cli, O_RPM, 0, AIGW_KEY_RATE_MAX, &h->rpm)))
			return rc;
		c->rpm = &h->rpm;
	}
	if (cli_has(cli, O_TPM)) {
		if ((rc = cli_int(cli, O_TPM, 0, AIGW_KEY_RATE_MAX, &h->tpm)))
			return rc;
		c->tpm = &h->tpm;
	}
	if (cli_has(cli, O_BUDGET)) {
		if (aigw_parse_usd(cli_value(cli, O_BUDGET), &h->budget, &err))
			return cli_failf(cli, AIGW_EINVAL, "--budget: %s", err.msg);
		c->budget_micro = &h->budget;
	}
	if (cli_has(cli, O_EXPIRES)) {
		if (aigw_keys_parse_expiry(cli_value(cli, O_EXPIRES), aigw_clock_wall_s(),
					   &h->expires, &err))
			return cli_failf(cli, AIGW_EINVAL, "--expires: %s", err.msg);
		c->expires_at = &h->expires;
	}
	if (cli_has(cli, O_MODELS)) {
		if ((rc = cli_list(cli, O_MODELS, &h->models)))
			return rc;
		c->models = &h->models;
	}
	return 0;
}

static void fmt_limit(int64_t v, char *out, size_t n)
{
	if (v)
		snprintf(out, n, "%lld", (long long)v);
	else
		snprintf(out, n, "-");
}

static void fmt_time(int64_t t, char *out, size_t n)
{
	if (t)
		aigw_format_time(t, out, n);
	else
		snprintf(out, n, "never");
}

static void show_key(struct cli *cli, const struct aigw_key *k)
{
	char buf[64], *models;

	if (cli->json) {
		cli_json(cli, aigw_key_json(k, NULL));
		return;
	}
	if (cli->quiet) {
		fprintf(cli->out, "%s\n", k->name);
		return;
	}
	cli_field(cli, "id", "%lld", (long long)k->id);
	cli_field(cli, "name", "%s", k->name);
	cli_field(cli, "prefix", "%s...", k->display);
	cli_field(cli, "status", "%s", aigw_key_status_names[aigw_key_status(k, aigw_clock_wall_s())]);
	fmt_limit(k->rpm, buf, sizeof(buf));
	cli_field(cli, "rpm", "%s", k->rpm ? buf : "unlimited");
	fmt_limit(k->tpm, buf, sizeof(buf));
	cli_field(cli, "tpm", "%s", k->tpm ? buf : "unlimited");
	if (k->budget_micro)
		aigw_format_usd(k->budget_micro, buf, sizeof(buf));
	cli_field(cli, "budget", "%s%s", k->budget_micro ? "$" : "", k->budget_micro ? buf : "none");
	models = aigw_strv_join(&k->models, ",");
	cli_field(cli, "models", "%s", *models ? models : "all");
	free(models);
	aigw_format_time(k->created_at, buf, sizeof(buf));
	cli_field(cli, "created", "%s", buf);
	fmt_time(k->expires_at, buf, sizeof(buf));
	cli_field(cli, "expires", "%s", buf);
	if (k->revoked_at) {
		aigw_format_time(k->revoked_at, buf, sizeof(buf));
		cli_field(cli, "revoked", "%s", buf);
	}
	if (k->rotated_from)
		cli_field(cli, "rotated from", "%lld", (long long)k->rotated_from);
}

/* The secret goes alone on stdout so `KEY=$(aigw keys create ...)` works;
 * the note about it goes to stderr. */
static void print_secret(struct cli *cli, const struct aigw_key *k, const char *secret,
			 const char *what)
{
	if (cli->json) {
		cli_json(cli, aigw_key_json(k, secret));
		return;
	}
	fprintf(cli->out, "%s\n", secret);
	cli_note(cli, "%s key '%s' (id %lld); the secret above is shown only this once", what,
		 k->name, (long long)k->id);
}

static int do_list(struct cli *cli, struct aigw_store *s)
{
	static const char *const head[] = { "ID", "NAME", "PREFIX", "STATUS", "RPM", "TPM",
					    "BUDGET", "MODELS", "EXPIRES" };
	struct aigw_key *keys;
	struct aigw_err err;
	struct cli_table t;
	size_t n;
	int64_t now = aigw_clock_wall_s();
	bool all = cli_has(cli, O_ALL);

	if (aigw_store_key_list(s, &keys, &n, &err))
		return cli_fail(cli, &err);
	cli_table_init(&t, 9, head);
	for (size_t i = 0; i < n; i++) {
		const struct aigw_key *k = &keys[i];
		char id[24], rpm[24], tpm[24], budget[32] = "", expires[32] = "", *models;
		if (k->revoked_at && !all)
			continue;
		if (cli->json) {
			cli_json(cli, aigw_key_json(k, NULL));
			continue;
		}
		if (cli->quiet) {
			fprintf(cli->out, "%s\n", k->name);
			continue;
		}
		snprintf(id, sizeof(id), "%lld", (long long)k->id);
		fmt_limit(k->rpm, rpm, sizeof(rpm));
		fmt_limit(k->tpm, tpm, sizeof(tpm));
		if (k->budget_micro) {
			budget[0] = '$';
			aigw_format_usd(k->budget_micro, budget + 1, sizeof(budget) - 1);
		}
		if (k->expires_at)
			aigw_format_time(k->expires_at, expires, sizeof(expires));
		models = aigw_strv_join(&k->models, ",");
		cli_table_row(&t, id, k->name, k->display,
			      aigw_key_status_names[aigw_key_status(k, now)], rpm, tpm, budget,
			      *models ? models : "all", expires);
		free(models);
	}
	if (!cli->json && !cli->quiet && t.cells.n > t.ncols)
		cli_table_print(cli, &t);
	else
		aigw_strv_release(&t.cells);
	aigw_keys_free(keys, n);
	return 0;
}

/* keys create through cli_write, which may run it twice (rehearsal). */
struct create_job {
	const struct aigw_key_changes *changes;
	struct aigw_key key;
	char secret[AIGW_APIKEY_LEN + 1];
	bool made;
};

static void create_job_clear(struct create_job *job)
{
	if (job->made)
		aigw_key_release(&job->key);
	memset(job->secret, 0, sizeof(job->secret));
	job->made = false;
}

static int create_key(struct aigw_store *s, void *arg, struct aigw_err *err)
{
	struct create_job *job = arg;
	int rc;

	create_job_clear(job);
	rc = aigw_keys_create(s, job->changes, &job->key, job->secret, err);
	job->made = rc == 0;
	return rc;
}

int cmd_keys(struct cli *cli);
int cmd_keys(struct cli *cli)
{
	const char *verb = cli->args.verb->name;
	const char *ref = cli->args.n_pos ? cli->args.pos[0] : NULL;
	struct aigw_key_changes changes;
	struct holders h = { 0 };
	struct aigw_store *s;
	struct aigw_key k;
	struct aigw_err err = { 0 };
	char secret[AIGW_APIKEY_LEN + 1];
	int rc;

	/* Check every value before touching the database. */
	if ((rc = gather(cli, &changes, &h)))
		goto out;
	if (strcmp(verb, "update") == 0 && !changes.name && !changes.rpm && !changes.tpm &&
	    !changes.budget_micro && !changes.expires_at && !changes.models) {
		rc = cli_failf(cli, AIGW_EINVAL, "nothing to update (give at least one option)");
		goto out;
	}
	if (strcmp(verb, "create") == 0) {
		struct create_job job = { .changes = &changes };
		if (cli_write(cli, create_key, &job, &err))
			rc = cli_fail(cli, &err);
		else
			print_secret(cli, &job.key, job.secret, "created");
		create_job_clear(&job);
		goto out;
	}
	/* The other verbs need a key that exists: on a missing file they
	 * fail without creating it. */
	if ((rc = cli_store(cli, false, &s)))
		goto out;

	if (strcmp(verb, "list") == 0) {
		rc = do_list(cli, s);
	} else if (strcmp(verb, "show") == 0) {
		if (aigw_store_key_get(s, ref, &k, &err)) {
			rc = cli_fail(cli, &err);
		} else {
			show_key(cli, &k);
			aigw_key_release(&k);
		}
	} else if (strcmp(verb, "rotate") == 0) {
		if (aigw_keys_rotate(s, ref, &k, secret, &err)) {
			rc = cli_fail(cli, &err);
		} else {
			print_secret(cli, &k, secret, "rotated");
			memset(secret, 0, sizeof(secret));
			aigw_key_release(&k);
		}
	} else {
		if (strcmp(verb, "update") == 0)
			rc = aigw_keys_update(s, ref, &changes, &k, &err);
		else if (strcmp(verb, "revoke") == 0)
			rc = aigw_keys_revoke(s, ref, &k, &err);
		else
			rc = aigw_keys_delete(s, ref, &k, &err);
		if (rc) {
			rc = cli_fail(cli, &err);
		} else {
			if (cli->json || cli->quiet)
				show_key(cli, &k);
			else
				cli_note(cli, "%s key '%s' (id %lld)",
					 verb[0] == 'u' ? "updated" : verb[0] == 'r' ? "revoked" : "deleted",
					 k.name, (long long)k.id);
			aigw_key_release(&k);
		}
	}
out:
	aigw_strv_release(&h.models);
	return rc;
}
