/* lab.c - placeholder; see lab.h. */
#include "edgeshake/lab.h"

#include "edgeshake/util.h"

int es_lab_main(const struct es_config *cfg)
{
    (void)cfg;
    es_warn("not built yet");
    return ES_EXIT_RUNTIME;
}
