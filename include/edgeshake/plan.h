/* plan.h - the edge set of a scan: one edge per distinct (host, port, ip),
 * with the resolvers that returned it (provenance).
 *
 * The planner adds what DNS answers (and IP, HOST@IP and --edges targets)
 * and then takes the finished, sorted edge array for the engine or the dry
 * run. Memory grows with distinct edges only. */
#ifndef EDGESHAKE_PLAN_H
#define EDGESHAKE_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "edgeshake/intern.h"
#include "edgeshake/probe-t.h"

#define ES_PLAN_MAX_RESOLVERS 64
#define ES_PLAN_DIRECT (-1) /* an edge named directly (IP, HOST@IP, --edges): resolver "-" */

struct es_plan;

/* labels[i] and ecs[i] ("" = none) describe resolver i; both arrays are
 * borrowed and must outlive the plan. nresolvers <= ES_PLAN_MAX_RESOLVERS. */
struct es_plan *es_plan_new(struct es_intern *pool, const char *const *labels,
                            const char *const *ecs, size_t nresolvers);
void es_plan_free(struct es_plan *plan);

/* Adds (host, port, ip) as returned by resolver index r (or ES_PLAN_DIRECT).
 * host must be interned in the plan's pool. dns_ms keeps the fastest. */
void es_plan_add(struct es_plan *plan, const char *host, bool host_is_ip, uint16_t port,
                 const struct es_ip *ip, int r, double dns_ms);

/* Finishes the plan: joins each edge's resolver labels ("eu;us", in resolver
 * order; "-" when only direct) and ECS subnets, and sorts the edges by
 * (host, port, ip). The array belongs to the plan; no es_plan_add after. */
const struct es_edge *es_plan_finish(struct es_plan *plan, size_t *n);

#endif
