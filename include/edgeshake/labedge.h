/* labedge.h - the lab's TLS edges: one listener and one SSL_CTX per `edge`
 * line, every connection a small state machine on the lab's epoll loop
 * (never a thread per connection: 10,000 may be open at once). */
#ifndef EDGESHAKE_LABEDGE_H
#define EDGESHAKE_LABEDGE_H

#include "edgeshake/labcert.h"
#include "edgeshake/labspec-t.h"
#include "edgeshake/loop.h"

struct es_lab_edges;

/* Binds every edge of spec (except fault=refuse) and registers it on loop.
 * On a bind or SSL_CTX failure writes "spec:line: message" into err and
 * returns NULL (nothing left open). Free with es_lab_edges_free, which closes
 * every listener and connection. */
struct es_lab_edges *es_lab_edges_start(struct es_loop *loop, const struct es_labspec *spec,
                                        struct es_labcerts *certs, char *err, size_t errlen);
void es_lab_edges_free(struct es_lab_edges *e);

#endif
