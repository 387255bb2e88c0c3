/* reporthtml.h - `edgeshake report --format html` (DESIGN §3.3): one
 * self-contained page (inline CSS, SVG-free tables and a little inline JS,
 * nothing fetched) that opens on an overview of the fleet and stays within
 * a few megabytes whatever the number of hosts. It reads the report only
 * through report.h: es_report_heatmap and the findings. */
#ifndef EDGESHAKE_REPORTHTML_H
#define EDGESHAKE_REPORTHTML_H

#include <stdio.h>

#include "edgeshake/report.h"

/* Writes the page for the findings fs of the files read into in (after
 * es_report_judge) to f. Every string that comes from a scan file is
 * HTML-escaped. Memory grows with distinct edge IPs x variants and with the
 * number of findings, not with hosts or rows. Returns 0, or -1 when f
 * reports a write error (ferror); the caller closes f either way. */
int es_report_write_html(FILE *f, const struct es_report_input *in, const struct es_findings *fs);

#endif
