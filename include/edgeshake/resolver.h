/* resolver.h - the resolvers of a scan: `-r LABEL=ADDR[:PORT][,ecs=SUBNET/LEN]`.
 *
 * Each -r value names one resolver: a label (kept in the `resolver` column of
 * every row it answered), a literal address (IPv4, or IPv6 in brackets; port
 * 53 unless given) and optionally an EDNS Client Subnet to send with every
 * query (RFC 7871). `-r system` (no '=') is the resolver of /etc/resolv.conf,
 * the only one used when no -r is given.
 *
 * Conventions: parsers return false (or NULL) on a bad value and write one
 * line, "-r 'VALUE': what is wrong; expected LABEL=ADDR[:PORT][,ecs=SUBNET]",
 * into err; the caller prints it and exits 2. Nothing here does I/O. */
#ifndef EDGESHAKE_RESOLVER_H
#define EDGESHAKE_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>

#include "edgeshake/net-t.h"

#define ES_RESOLVER_LABEL_MAX 32 /* characters of [A-Za-z0-9_-] */
#define ES_RESOLVER_SYSTEM    "system"
#define ES_RESOLVER_PORT      53
/* The `expected ...` tail of every -r error. */
#define ES_RESOLVER_EXPECTED "expected LABEL=ADDR[:PORT][,ecs=SUBNET]"

struct es_resolver_spec {
    char label[ES_RESOLVER_LABEL_MAX + 1];
    struct es_endpoint addr; /* unused (zero) when system */
    bool system;             /* the servers of /etc/resolv.conf, as c-ares reads them */
    bool has_ecs;
    struct es_ip ecs;              /* the subnet, bits past ecs_prefix cleared */
    unsigned ecs_prefix;           /* 0..32 (IPv4) or 0..128 (IPv6) */
    char ecs_text[ES_IP_TEXT + 4]; /* "198.51.100.0/24" (normalised); "" without ecs */
};

/* Parses one -r value into *out. Returns false and fills err on any error. */
bool es_resolver_parse(const char *value, struct es_resolver_spec *out, char *err, size_t errlen);

/* Parses every -r value in order (values[0..n)), rejecting duplicate labels.
 * With n == 0 returns the one `system` resolver. Returns a malloc'd array of
 * *nout entries (free it with free), or NULL with err filled. */
struct es_resolver_spec *es_resolvers_parse(const char *const *values, size_t n, size_t *nout,
                                            char *err, size_t errlen);

#endif
