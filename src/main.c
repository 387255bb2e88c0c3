/* main.c - parse the command line, run the subcommand. */
#include <signal.h>
#include <stdio.h>

#include "edgeshake/cli.h"
#include "edgeshake/lab.h"
#include "edgeshake/report.h"
#include "edgeshake/scan.h"
#include "edgeshake/util.h"

int main(int argc, char **argv)
{
    struct es_config cfg;
    signal(SIGPIPE, SIG_IGN);
    es_cli_parse(argc, argv, &cfg);
    switch (cfg.cmd) {
    case ES_CMD_LAB:
        es_progname = "edgeshake lab";
        return es_lab_main(&cfg);
    case ES_CMD_REPORT:
        es_progname = "edgeshake report";
        return es_report_main(&cfg);
    case ES_CMD_SCAN:
        es_progname = "edgeshake scan";
        return es_scan_main(&cfg);
    case ES_CMD_BENCH:
    case ES_CMD_DEMO:
    case ES_CMD_NONE:
        break;
    }
    es_warn("'%s' is not built yet in this version; see README.md for what works",
            es_cli_command_name(cfg.cmd));
    return ES_EXIT_RUNTIME;
}
