/* labdns.c - placeholder until the lab resolvers land. */
#include "edgeshake/labdns.h"

#include <stdio.h>

struct es_lab_dns *es_lab_dns_start(struct es_loop *loop, const struct es_labspec *spec, char *err,
                                    size_t errlen)
{
    (void)loop;
    (void)spec;
    snprintf(err, errlen, "lab resolvers are not built yet");
    return NULL;
}

void es_lab_dns_free(struct es_lab_dns *d)
{
    (void)d;
}
