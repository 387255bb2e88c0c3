/* demo.h - `edgeshake demo [--out DIR]`: start the built-in lab (data/demo.lab,
 * compiled into the binary), scan it with a matrix that finds every planted
 * fault, enumerate what every edge accepts, write scan.csv, enum.csv, report.txt and
 * report.html into DIR, print the report (with the drift findings of enum.csv). */
#ifndef EDGESHAKE_DEMO_H
#define EDGESHAKE_DEMO_H

#include "edgeshake/config-t.h"

/* The text of data/demo.lab (generated at build time by src/embed.py). */
extern const char es_demo_lab[];

/* Runs the demo; returns 0, or 1 when the lab, the scan or the report fails. */
int es_demo_main(const struct es_config *cfg);

#endif
