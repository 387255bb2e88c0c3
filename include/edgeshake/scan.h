/* scan.h - `edgeshake scan`: validate everything, then stream the targets
 * through the pipeline (pipeline.h: every host through every resolver, its
 * edges planned at its per-host barrier) into the engine's feed (or, with
 * --dry-run, into one `planned` row per probe). DESIGN §3.1. */
#ifndef EDGESHAKE_SCAN_H
#define EDGESHAKE_SCAN_H

#include <stddef.h>

#include "edgeshake/config-t.h"
#include "edgeshake/probe-t.h"
#include "edgeshake/row-t.h"
#include "edgeshake/variant-t.h"

/* Runs the scan command; returns the exit status of DESIGN §3.1 (0, 1, 2, 130). */
int es_scan_main(const struct es_config *cfg);

/* Checks that --ca-file (may be NULL) loads as a trust store and --keylog
 * (may be NULL) can be opened, by building one throw-away TLS context set:
 * files the user named are bad input, so a failure is exit 2 (usage error)
 * before any output or packet. */
void es_check_tls_files(const struct es_variant *variants, size_t nvariants, const char *ca_file,
                        const char *keylog);

#endif
