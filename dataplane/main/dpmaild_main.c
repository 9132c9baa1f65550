/* SPDX-License-Identifier: MIT */
/*
 * dpmaild_main.c: entry point of the relay daemon. Parses the command line, loads the
 * configuration (a file, or the embedded default) and hands over to the dataplane runtime.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config/cfg.h"
#include "log.h"
#include "main/dp.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: dpmaild [-c FILE] [-t]\n"
		   "  -c FILE              configuration file (YAML); see docs/configuration.md.\n"
		   "                       Without -c, or with -c -, the embedded default is used.\n"
		   "  -t, --check-config   load and validate the configuration, then exit\n"
		   "  --dump-config-doc    print docs/configuration.md (generated from the parameter table)\n"
		   "  --print-default-config  print the embedded default configuration\n"
		   "  -h, --help           this help\n"
		   "Signals: SIGINT/SIGTERM stop (exit 0), SIGUSR2 logs per-worker counters.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 't' },
		{ "dump-config-doc", no_argument, NULL, 'D' },
		{ "print-default-config", no_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	int check_only = 0, opt;
	while ((opt = getopt_long(argc, argv, "hc:t", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			return 0;
		case 'c':
			path = optarg;
			break;
		case 't':
			check_only = 1;
			break;
		case 'D':
			return cfg_doc_write(stdout) == 0 ? 0 : 1;
		case 'P':
			fputs(cfg_default_yaml, stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	char err[1024];
	struct cfg *c = (!path || strcmp(path, "-") == 0) ? cfg_load_default(err, sizeof(err))
							    : cfg_load(path, err, sizeof(err));
	if (!c) {
		fprintf(stderr, "dpmaild: %s\n", err);
		return 1;
	}
	log_set_level((enum log_level)c->log.level);
	if (check_only) {
		printf("%s: configuration ok\n", c->file);
		cfg_free(c);
		return 0;
	}
	log_info("event=config_loaded file=%s", c->file);
	int status = dp_run(c);
	cfg_free(c);
	return status;
}
