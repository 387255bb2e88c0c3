/* plan.h - the edges of one host: one per distinct (port, ip), with the
 * resolvers that returned it (provenance).
 *
 * The pipeline (pipeline.h) keeps one es_plan per host in its DNS window. A
 * plan collects what the host's targets name (ports; HOST@IP pairs), what
 * every resolver answers (addresses, or an error) and the --edges addresses,
 * and, once every resolver has answered (the per-host barrier), turns them
 * into the host's edges: every port x every address, deduplicated across
 * resolvers, plus the pinned (port, ip) pairs of HOST@IP targets. Then the
 * plan is reset and reused for another host: memory grows with the window,
 * never with the number of targets.
 *
 * Strings: an edge's host points into the plan (valid until the next
 * es_plan_reset/es_plan_free; consumers copy it, as the engine does). The
 * joined resolver labels, ECS subnets and resolver addresses are interned in
 * the context's pool: there are at most as many of them as distinct subsets
 * of resolvers, whatever the number of hosts. */
#ifndef EDGESHAKE_PLAN_H
#define EDGESHAKE_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "edgeshake/intern.h"
#include "edgeshake/probe-t.h"

#define ES_PLAN_MAX_RESOLVERS 64
#define ES_PLAN_DIRECT        (-1) /* an edge named directly (IP, HOST@IP, --edges): resolver "-" */

/* What every plan of a scan shares; all borrowed, must outlive the plans.
 * labels[i], ecs[i] ("" = none) and addrs[i] (ADDR:PORT, "" = unknown)
 * describe resolver i; nresolvers <= ES_PLAN_MAX_RESOLVERS. */
struct es_plan_ctx {
    struct es_intern *pool;
    const char *const *labels;
    const char *const *ecs;
    const char *const *addrs;
    size_t nresolvers;
};

struct es_plan;

/* A new, empty plan (call es_plan_reset before use). Free with es_plan_free. */
struct es_plan *es_plan_new(const struct es_plan_ctx *ctx);
void es_plan_free(struct es_plan *plan);

/* Empties the plan for host (copied; at most ES_HOST_MAX bytes), keeping its
 * memory. host_is_ip: an IP target (SNI mode host sends none). */
void es_plan_reset(struct es_plan *plan, const char *host, bool host_is_ip);
/* The plan's host (its own copy). */
const char *es_plan_host(const struct es_plan *plan);

/* Adds a port the host was asked on (a duplicate is ignored): every address
 * added with es_plan_add is probed on every such port. */
void es_plan_add_port(struct es_plan *plan, uint16_t port);
/* Adds an address returned by resolver r (or ES_PLAN_DIRECT: --edges) for
 * every port; dns_ms keeps the fastest (< 0 = not applicable). */
void es_plan_add(struct es_plan *plan, const struct es_ip *ip, int r, double dns_ms);
/* Adds one (port, ip) edge named directly (HOST@IP). */
void es_plan_add_pinned(struct es_plan *plan, uint16_t port, const struct es_ip *ip);

/* The host's edges, sorted by (port, family, address): each distinct
 * (port, ip) once, its resolver labels ("eu;us", in resolver order; "-" when
 * only direct), ECS subnets and resolver addresses joined with ';'. The
 * array belongs to the plan and is valid until the next call on it. */
const struct es_edge *es_plan_edges(struct es_plan *plan, size_t *n);

/* Ports added with es_plan_add_port, in the order added. */
const uint16_t *es_plan_ports(const struct es_plan *plan, size_t *n);

#endif
