/* lab.h - `edgeshake lab SPEC [--state DIR]`: the simulated CDN. */
#ifndef EDGESHAKE_LAB_H
#define EDGESHAKE_LAB_H

#include <stddef.h>

#include "edgeshake/config-t.h"

/* Runs the lab until SIGINT/SIGTERM. Returns the exit status (0 after a clean
 * shutdown; 2 for a bad spec; 1 when a listener cannot be started). */
int es_lab_main(const struct es_config *cfg);

/* Why a lab that was started with its stderr in log_path did not start: the
 * last non-empty line of the log, without the "edgeshake lab: " prefix
 * ("demo.lab:25: cannot listen on 127.77.1.1:8443: Address already in use"),
 * so that whoever started it can print the reason on the terminal. Writes ""
 * when the log is missing or empty. Reads at most the last 8 KiB. */
void es_lab_failure_reason(const char *log_path, char *out, size_t len);

#endif
