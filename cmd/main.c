/* main: dispatch. `aigw <cmd> ...` or a symlink named aigw-<cmd> (busybox
 * style) runs a command from commands.def; this file also answers --list,
 * --version, help, and the hidden __complete (shell completion) and __doc
 * (generated man page sections) commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "catalog.h"
#include "cli.h"
#include "conf.h"
#include "log.h"
#include "opt.h"
#include "store.h"

#define AIGW_COMMAND(name)                                                   \
	extern const struct aigw_cmdspec cmd_##name##_spec;                  \
	int cmd_##name(struct cli *cli);
#include "commands.def"
#undef AIGW_COMMAND

const struct cli_command cli_commands[] = {
#define AIGW_COMMAND(name) { #name, &cmd_##name##_spec, cmd_##name },
#include "commands.def"
#undef AIGW_COMMAND
};
const size_t cli_n_commands = sizeof(cli_commands) / sizeof(cli_commands[0]);

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < cli_n_commands; i++)
		if (strcmp(cli_commands[i].name, name) == 0)
			return &cli_commands[i];
	return NULL;
}

static void stderr_sink(enum aigw_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "aigw: %s: %s\n", aigw_log_level_name(level), msg);
}

static void print_overview(FILE *f)
{
	fprintf(f, "usage: aigw <command> [options]\n"
		   "       aigw help <command>\n\n"
		   "aigw is an AI gateway and the tools to run it.\n\ncommands:\n");
	for (size_t i = 0; i < cli_n_commands; i++)
		fprintf(f, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].spec->summary);
	fprintf(f, "\nglobal options:\n");
	for (int i = 0; i < AIGW_GOPT_COUNT; i++) {
		const struct aigw_opt *o = &aigw_global_opts[i];
		char tok[40];
		if (o->short_name)
			snprintf(tok, sizeof(tok), "-%c, --%s%s%s", o->short_name, o->long_name,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(tok, sizeof(tok), "--%s%s%s", o->long_name, o->arg ? " " : "",
				 o->arg ? o->arg : "");
		fprintf(f, "  %-22s %s\n", tok, o->help);
	}
	fprintf(f, "\nexit codes: 0 ok, 1 failure, 2 usage error, 3 not found, 4 config error\n");
}

static int unknown_command(const char *name)
{
	const char *names[64];
	size_t n = 0;
	const char *guess;

	for (size_t i = 0; i < cli_n_commands && n < 63; i++)
		names[n++] = cli_commands[i].name;
	names[n] = NULL;
	guess = aigw_suggest(name, names);
	if (guess)
		fprintf(stderr, "aigw: unknown command '%s' (did you mean '%s'?)\n", name, guess);
	else
		fprintf(stderr, "aigw: unknown command '%s' (see 'aigw --list')\n", name);
	return EXIT_USAGE;
}

/* Runs a command: argv[0] is the command name. */
static int run_command(const struct cli_command *cmd, int argc, char **argv)
{
	struct cli cli;
	struct aigw_err err = { 0 };
	int rc;

	memset(&cli, 0, sizeof(cli));
	cli.name = cmd->name;
	cli.out = stdout;
	cli.tty = isatty(STDOUT_FILENO);
	if (aigw_opt_parse(cmd->spec, argc, argv, &cli.args, &err)) {
		fprintf(stderr, "aigw %s: %s\n", cmd->name, err.msg);
		return EXIT_USAGE;
	}
	if (cli.args.global[AIGW_GOPT_HELP].set) {
		struct aigw_buf b = AIGW_BUF_INIT;
		aigw_opt_help(cmd->spec, cli.args.verb, &b);
		fputs(b.data, stdout);
		aigw_buf_release(&b);
		rc = EXIT_OK;
	} else if (cli.args.global[AIGW_GOPT_VERSION].set) {
		printf("aigw %s\n", AIGW_VERSION);
		rc = EXIT_OK;
	} else {
		cli.json = cli.args.global[AIGW_GOPT_JSON].set;
		cli.quiet = cli.args.global[AIGW_GOPT_QUIET].set;
		rc = cmd->run(&cli);
	}
	aigw_store_close(cli.store);
	if (cli.conf_loaded)
		aigw_conf_release(&cli.conf);
	aigw_args_release(&cli.args);
	/* Like git: a full disk or closed pipe on stdout is a failure, not a
	 * silently truncated listing. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (rc == EXIT_OK)
			fprintf(stderr, "aigw %s: cannot write output\n", cmd->name);
		return rc ? rc : EXIT_FAIL;
	}
	return rc;
}

/* ------------------------------------------------------------ __complete */

/* Finds --db/--config values among the typed words so live names come
 * from the same database the finished command would use. */
static const char *word_value(int n, char **words, const char *opt)
{
	size_t l = strlen(opt);
	for (int i = 0; i < n - 1; i++) {
		if (strcmp(words[i], opt) == 0 && i + 1 < n - 1)
			return words[i + 1];
		if (strncmp(words[i], opt, l) == 0 && words[i][l] == '=')
			return words[i] + l + 1;
	}
	return NULL;
}

static void complete_live(const char *kind, const char *cur, int n, char **words)
{
	struct aigw_store *store = NULL;
	struct aigw_conf conf;
	char path[4096];
	int is_default;

	if (strcmp(kind, "file") == 0) {
		puts(":file");
		return;
	}
	aigw_conf_init(&conf);
	if (aigw_conf_locate(word_value(n, words, "--config"), path, sizeof(path), NULL) == 0 &&
	    path[0])
		aigw_conf_load_file(&conf, path, NULL);
	if (aigw_store_path(word_value(n, words, "--db"), path, sizeof(path), &is_default,
			    NULL) == 0)
		aigw_store_open(&store, path, 0, NULL);
	if (strcmp(kind, "key") == 0 && store) {
		struct aigw_key *keys;
		size_t nk;
		if (aigw_store_key_list(store, &keys, &nk, NULL) == 0) {
			for (size_t i = 0; i < nk; i++)
				if (!keys[i].revoked_at && aigw_str_prefix(keys[i].name, cur))
					puts(keys[i].name);
			aigw_keys_free(keys, nk);
		}
	} else if (strcmp(kind, "node") == 0 || strcmp(kind, "route") == 0) {
		struct aigw_catalog cat;
		if (aigw_catalog_load(&cat, &conf, store, NULL) == 0) {
			if (kind[0] == 'n') {
				for (size_t i = 0; i < cat.n_nodes; i++)
					if (aigw_str_prefix(cat.nodes[i].name, cur))
						puts(cat.nodes[i].name);
			} else {
				for (size_t i = 0; i < cat.n_routes; i++)
					if (aigw_str_prefix(cat.routes[i].name, cur))
						puts(cat.routes[i].name);
			}
			aigw_catalog_release(&cat);
		}
	}
	aigw_store_close(store);
	aigw_conf_release(&conf);
}

/* words: everything typed after "aigw", the last being the word under the
 * cursor (possibly empty). Prints candidates, one per line; ":file" asks
 * the shell for file names. */
static int complete(int n, char **words)
{
	const char *cur = n ? words[n - 1] : "";
	const struct cli_command *cmd;

	if (n <= 1) {
		for (size_t i = 0; i < cli_n_commands; i++)
			if (aigw_str_prefix(cli_commands[i].name, cur))
				puts(cli_commands[i].name);
		if (aigw_str_prefix("help", cur))
			puts("help");
		if (cur[0] == '-') {
			for (int i = 0; i < AIGW_GOPT_COUNT; i++) {
				char w[64];
				snprintf(w, sizeof(w), "--%s", aigw_global_opts[i].long_name);
				if (aigw_str_prefix(w, cur))
					puts(w);
			}
			if (aigw_str_prefix("--list", cur))
				puts("--list");
		}
		return 0;
	}
	if (strcmp(words[0], "help") == 0) {
		if (n == 2)
			for (size_t i = 0; i < cli_n_commands; i++)
				if (aigw_str_prefix(cli_commands[i].name, cur))
					puts(cli_commands[i].name);
		return 0;
	}
	cmd = find_command(words[0]);
	if (!cmd)
		return 0;
	{
		struct aigw_buf b = AIGW_BUF_INIT;
		const char *live = NULL;
		aigw_opt_complete(cmd->spec, n - 1, words + 1, &b, &live);
		fputs(b.data, stdout);
		aigw_buf_release(&b);
		if (live)
			complete_live(live, cur, n, words);
	}
	return 0;
}

/* ----------------------------------------------------------------- __doc */

static int doc(int argc, char **argv)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	const struct cli_command *cmd;

	if (argc == 3 && strcmp(argv[1], "man") == 0 && (cmd = find_command(argv[2]))) {
		aigw_opt_man(cmd->spec, &b);
	} else if (argc == 2 && strcmp(argv[1], "yaml") == 0) {
		aigw_conf_doc_roff(&b);
	} else if (argc == 2 && strcmp(argv[1], "commands") == 0) {
		for (size_t i = 0; i < cli_n_commands; i++)
			aigw_buf_printf(&b, ".TP\n.BR aigw\\-%s (1)\n%s.\n", cli_commands[i].name,
					cli_commands[i].spec->summary);
	} else {
		fprintf(stderr, "aigw __doc: usage: aigw __doc man CMD | yaml | commands\n");
		return EXIT_USAGE;
	}
	fputs(b.data, stdout);
	aigw_buf_release(&b);
	return EXIT_OK;
}

/* -------------------------------------------------------------- main */

/* Global options typed before the command ("aigw --db x keys list") are
 * moved after it, where the command's parser accepts them. */
static int leading_globals(int argc, char **argv)
{
	int i = 1;
	while (i < argc && argv[i][0] == '-') {
		const char *w = argv[i];
		if (strcmp(w, "--db") == 0 || strcmp(w, "--config") == 0)
			i += 2;
		else if (strncmp(w, "--db=", 5) == 0 || strncmp(w, "--config=", 9) == 0 ||
			 strcmp(w, "--json") == 0 || strcmp(w, "-q") == 0 ||
			 strcmp(w, "--quiet") == 0)
			i++;
		else
			break;
	}
	return i > argc ? argc : i;
}

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');
	const struct cli_command *cmd;
	char **cargv;
	int lead, rc;

	base = base ? base + 1 : argv[0];
	aigw_log_set_sink(stderr_sink, NULL);

	if (strncmp(base, "aigw-", 5) == 0) {
		cmd = find_command(base + 5);
		if (!cmd)
			return unknown_command(base + 5);
		argv[0] = (char *)cmd->name;
		return run_command(cmd, argc, argv);
	}
	lead = leading_globals(argc, argv);
	if (lead > 1 && lead >= argc && argc > 1 &&
	    (strcmp(argv[argc - 1], "--db") == 0 || strcmp(argv[argc - 1], "--config") == 0)) {
		fprintf(stderr, "aigw: option '%s' needs a value\n", argv[argc - 1]);
		return EXIT_USAGE;
	}
	if (lead >= argc) {
		if (argc > 1 && lead == argc) {
			fprintf(stderr, "aigw: missing command (see 'aigw --list')\n");
			return EXIT_USAGE;
		}
		print_overview(stderr);
		return EXIT_USAGE;
	}
	if (lead == 1) {
		const char *a = argv[1];
		if (strcmp(a, "--version") == 0) {
			printf("aigw %s\n", AIGW_VERSION);
			return EXIT_OK;
		}
		if (strcmp(a, "--list") == 0) {
			for (size_t i = 0; i < cli_n_commands; i++)
				printf("%s\n", cli_commands[i].name);
			return EXIT_OK;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 ||
		    (strcmp(a, "help") == 0 && argc == 2)) {
			print_overview(stdout);
			return EXIT_OK;
		}
		if (strcmp(a, "help") == 0) {
			char *hargv[4] = { argv[2], argc > 3 ? argv[3] : "--help", "--help", NULL };
			cmd = find_command(argv[2]);
			if (!cmd)
				return unknown_command(argv[2]);
			if (argc > 4) {
				fprintf(stderr, "aigw help: too many arguments\n");
				return EXIT_USAGE;
			}
			return run_command(cmd, argc > 3 ? 3 : 2, hargv);
		}
		if (strcmp(a, "__complete") == 0)
			return complete(argc - 2, argv + 2);
		if (strcmp(a, "__doc") == 0)
			return doc(argc - 1, argv + 1);
	}
	if (argv[lead][0] == '-') {
		fprintf(stderr, "aigw: unknown option '%s' (see 'aigw --help')\n", argv[lead]);
		return EXIT_USAGE;
	}
	cmd = find_command(argv[lead]);
	if (!cmd)
		return unknown_command(argv[lead]);
	/* Reorder: command name, its arguments, then the leading globals. */
	cargv = malloc(sizeof(char *) * (size_t)(argc + 1));
	if (!cargv)
		return EXIT_FAIL;
	{
		int k = 0;
		cargv[k++] = argv[lead];
		for (int i = lead + 1; i < argc; i++)
			cargv[k++] = argv[i];
		for (int i = 1; i < lead; i++)
			cargv[k++] = argv[i];
		cargv[k] = NULL;
	}
	rc = run_command(cmd, argc - 1, cargv);
	free(cargv);
	return rc;
}
