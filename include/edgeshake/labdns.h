/* labdns.h - the lab's UDP DNS responders, one per `resolver` line. */
#ifndef EDGESHAKE_LABDNS_H
#define EDGESHAKE_LABDNS_H

#include "edgeshake/labspec-t.h"
#include "edgeshake/loop.h"

struct es_lab_dns;

/* Binds a UDP socket per resolver and answers from spec (A/AAAA from host
 * lines, resolver faults, ECS rules with the scope echoed; malformed queries
 * get FORMERR). On failure writes "spec:line: message" into err and returns
 * NULL. spec must outlive the result. */
struct es_lab_dns *es_lab_dns_start(struct es_loop *loop, const struct es_labspec *spec, char *err,
                                    size_t errlen);
void es_lab_dns_free(struct es_lab_dns *d);

#endif
