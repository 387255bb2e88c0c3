/* labedge.c - placeholder until the lab edges land. */
#include "edgeshake/labedge.h"

#include <stdio.h>

struct es_lab_edges *es_lab_edges_start(struct es_loop *loop, const struct es_labspec *spec,
                                        struct es_labcerts *certs, char *err, size_t errlen)
{
    (void)loop;
    (void)spec;
    (void)certs;
    snprintf(err, errlen, "lab edges are not built yet");
    return NULL;
}

void es_lab_edges_free(struct es_lab_edges *e)
{
    (void)e;
}
