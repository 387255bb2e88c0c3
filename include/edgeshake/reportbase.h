/* reportbase.h - stage 4 of `edgeshake report`: --baseline
 * (docs/findings.md "Identity and baseline"). Internal to the report's
 * stages (see reporttab.h).
 *
 * A finding's identity is what it is about, never how often it was seen:
 * scope, kind (node and region are one), the host and port or the fleet
 * subject (edge IP, certificate edges, variant, resolver), the variant list
 * and the failure, and for host findings the failing edges or resolvers.
 * Counts, samples, explanations and repro commands are not part of it, so
 * row order, shards and repeat counts do not change it. */
#ifndef EDGESHAKE_REPORTBASE_H
#define EDGESHAKE_REPORTBASE_H

#include <stdbool.h>
#include <stddef.h>

#include "edgeshake/report.h"

/* The identity of f, one line of text (malloc'd). */
char *rb_identity(const struct es_finding *f);

/* Reads the findings of the baseline files into base (es_findings_free it):
 * files written by `report --format json` are read back; the others are scan
 * files, judged together like the report's own files (with the folded host
 * findings kept). Returns 0, or -1 with "FILE: ..." in err. */
int rb_load(const char *const *files, size_t nfiles, unsigned min_repeat, unsigned expiry_days,
            bool skip_bad, struct es_findings *base, char *err, size_t errlen);

/* Sets change on every finding of fs ("new" or "persisting") and moves the
 * findings of base that fs lacks to the end of fs with change "fixed". base
 * is left empty. */
void rb_mark(struct es_findings *fs, struct es_findings *base);

#endif
