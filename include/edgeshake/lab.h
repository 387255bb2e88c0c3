/* lab.h - `edgeshake lab SPEC [--state DIR]`: the simulated CDN. */
#ifndef EDGESHAKE_LAB_H
#define EDGESHAKE_LAB_H

#include "edgeshake/config-t.h"

/* Runs the lab until SIGINT/SIGTERM. Returns the exit status (0 after a clean
 * shutdown; 2 for a bad spec; 1 when a listener cannot be started). */
int es_lab_main(const struct es_config *cfg);

#endif
