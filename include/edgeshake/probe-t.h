/* probe-t.h - edges and probes.
 *
 * The planner resolves targets into edges: one per distinct (host, port, ip),
 * with the resolvers that returned it. A probe is (edge, variant, attempt);
 * the engine expands edges x variants x attempts itself, so the plan holds
 * edges, never the (much longer) list of probes. Every probe yields exactly
 * one row. */
#ifndef EDGESHAKE_PROBE_T_H
#define EDGESHAKE_PROBE_T_H

#include <stdbool.h>
#include <stdint.h>

#include "edgeshake/net-t.h"

struct es_edge {
    const char *host;      /* interned; the IP text for IP targets */
    bool host_is_ip;       /* IP target: SNI mode "host" sends no SNI, verify checks the IP */
    uint16_t port;
    struct es_ip ip;       /* where to connect */
    const char *resolver;  /* interned ";"-joined labels that returned the IP, or "-" */
    const char *ecs;       /* interned ";"-joined ECS subnets of those resolvers, "" = none */
    const char *resolver_addr; /* ";"-joined ADDR:PORT of those resolvers; NULL/"" = none */
    double dns_ms;         /* fastest resolution that returned it; <0 = n/a (IP targets) */
    uint32_t only_variant; /* 0: every variant of the run (the matrix); k > 0: only variant
                              k - 1, one probe per attempt (enum's explicit probes) */
};

struct es_probe {
    const struct es_edge *edge;
    uint32_t variant; /* index into the variant array */
    uint32_t attempt; /* 1..N */
};

#endif
