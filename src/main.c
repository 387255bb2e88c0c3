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
#include "edgeshake/tlsprobe.h"
#include "edgeshake/util.h"

/* Runs the parsed subcommand; returns its exit status.
 *
 * fast_keys: the subcommand probes and makes no lab keys, so OpenSSL 3.0's
 * fast EC key decoding is set up here, once, before any thread starts, and
 * stays for the life of the process (tlsprobe.h, es_tls_fast_key_decode_setup).
 * The lab and the demo (which runs the lab) make EC keys and keep the
 * provider path; bench's own lab is a separate process (exec). */
static int run(const struct es_config *cfg)
{
    static const struct {
        enum es_command cmd;
        const char *name;
        int (*main)(const struct es_config *cfg);
        bool fast_keys;
    } table[] = {
        {ES_CMD_SCAN, "edgeshake scan", es_scan_main, true},
        {ES_CMD_REPORT, "edgeshake report", es_report_main, false},
        {ES_CMD_BENCH, "edgeshake bench", es_bench_main, true},
        {ES_CMD_LAB, "edgeshake lab", es_lab_main, false},
        {ES_CMD_DEMO, "edgeshake demo", es_demo_main, false},
        {ES_CMD_ENUM, "edgeshake enum", es_enum_main, true},
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(table); i++)
        if (table[i].cmd == cfg->cmd) {
            es_progname = table[i].name;
            if (table[i].fast_keys)
                (void)es_tls_fast_key_decode_setup();
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
