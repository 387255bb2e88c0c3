/* cli.h - the one option table of edgeshake, its parser and its help.
 *
 * Every option of every subcommand is one row of the table in cli.c; the
 * parser walks it and `--help` / `COMMAND --help` are generated from it.
 * Errors (unknown option, missing argument, bad value, option of another
 * subcommand) print one line naming the option and what was expected, and
 * exit 2 (ES_EXIT_USAGE). */
#ifndef EDGESHAKE_CLI_H
#define EDGESHAKE_CLI_H

#include <stdio.h>

#include "edgeshake/config-t.h"

/* Parses argv (argv[0] is the program, argv[1] the subcommand) into *cfg.
 * Prints help or the version and exits 0 when asked; exits 2 on any usage
 * error. On return cfg->cmd is set and every default applied. */
void es_cli_parse(int argc, char **argv, struct es_config *cfg);

/* Frees the lists es_cli_parse allocated (the strings are argv's). */
void es_cli_free(struct es_config *cfg);

/* Prints the help of one subcommand (ES_CMD_NONE: the overview) to f. */
void es_cli_help(FILE *f, enum es_command cmd);

/* The name of a subcommand ("scan"). */
const char *es_cli_command_name(enum es_command cmd);

/* Reports a usage error of the current subcommand ("edgeshake scan: MSG")
 * and exits 2. For validation done after parsing, e.g. by the planner. */
_Noreturn void es_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
