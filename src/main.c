/* main.c - parse the command line, run the subcommand. */
#include <signal.h>
#include <stdio.h>

#include "edgeshake/bench.h"
#include "edgeshake/cli.h"
#include "edgeshake/demo.h"
#include "edgeshake/enum.h"
#include "edgeshake/lab.h"
#include "edgeshake/report.h"
#include "edgeshake/scan.h"
#include "edgeshake/util.h"

/* Runs the parsed subcommand; returns its exit status. */
static int run(const struct es_config *cfg)
{
    static const struct {
        enum es_command cmd;
        const char *name;
        int (*main)(const struct es_config *cfg);
    } table[] = {
        {ES_CMD_SCAN, "edgeshake scan", es_scan_main},
        {ES_CMD_REPORT, "edgeshake report", es_report_main},
        {ES_CMD_BENCH, "edgeshake bench", es_bench_main},
        {ES_CMD_LAB, "edgeshake lab", es_lab_main},
        {ES_CMD_DEMO, "edgeshake demo", es_demo_main},
        {ES_CMD_ENUM, "edgeshake enum", es_enum_main},
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(table); i++)
        if (table[i].cmd == cfg->cmd) {
            es_progname = table[i].name;
            return table[i].main(cfg);
        }
    return ES_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    struct es_config cfg;
    signal(SIGPIPE, SIG_IGN);
    es_cli_parse(argc, argv, &cfg);
    int status = run(&cfg);
    es_cli_free(&cfg);
    return status;
}
