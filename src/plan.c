/* plan.c - see include/edgeshake/plan.h
 *
 * A host has few addresses (a handful per resolver) and usually one port, so
 * the sets are arrays searched linearly; --edges can add thousands of
 * addresses, which are sorted once and deduplicated when the edges are made
 * (es_plan_edges), not on every add. */
#include "edgeshake/plan.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "edgeshake/net.h"
#include "edgeshake/target.h"
#include "edgeshake/util.h"

/* An address with its provenance. */
struct paddr {
    struct es_ip ip;
    uint64_t resolvers; /* bit i: resolver i returned it */
    double dns_ms;      /* fastest; < 0 = none */
};

/* A pinned (port, ip) of a HOST@IP target. */
struct ppin {
    uint16_t port;
    struct es_ip ip;
};

/* One (port, ip) while the edges are made. */
struct pedge {
    uint16_t port;
    struct es_ip ip;
    uint64_t resolvers;
    double dns_ms;
};

struct es_plan {
    const struct es_plan_ctx *ctx;
    char host[ES_HOST_MAX + 1];
    bool host_is_ip;
    uint16_t *ports;
    size_t nports, capports;
    struct paddr *addrs;
    size_t naddrs, capaddrs;
    struct ppin *pins;
    size_t npins, cappins;
    struct pedge *work;
    size_t capwork;
    struct es_edge *out;
    size_t capout;
};

struct es_plan *es_plan_new(const struct es_plan_ctx *ctx)
{
    struct es_plan *p = es_xcalloc(1, sizeof *p);
    p->ctx = ctx;
    return p;
}

void es_plan_free(struct es_plan *p)
{
    if (!p)
        return;
    free(p->ports);
    free(p->addrs);
    free(p->pins);
    free(p->work);
    free(p->out);
    free(p);
}

void es_plan_reset(struct es_plan *p, const char *host, bool host_is_ip)
{
    snprintf(p->host, sizeof p->host, "%s", host);
    p->host_is_ip = host_is_ip;
    p->nports = p->naddrs = p->npins = 0;
}

const char *es_plan_host(const struct es_plan *p)
{
    return p->host;
}

void es_plan_add_port(struct es_plan *p, uint16_t port)
{
    for (size_t i = 0; i < p->nports; i++)
        if (p->ports[i] == port)
            return;
    p->ports = es_xgrow(p->ports, &p->capports, p->nports + 1, sizeof *p->ports);
    p->ports[p->nports++] = port;
}

const uint16_t *es_plan_ports(const struct es_plan *p, size_t *n)
{
    *n = p->nports;
    return p->ports;
}

void es_plan_add(struct es_plan *p, const struct es_ip *ip, int r, double dns_ms)
{
    struct paddr *a = NULL;
    if (r != ES_PLAN_DIRECT) /* a resolver's few addresses: merge now */
        for (size_t i = 0; i < p->naddrs && !a; i++)
            if (es_ip_equal(&p->addrs[i].ip, ip))
                a = &p->addrs[i];
    if (!a) {
        p->addrs = es_xgrow(p->addrs, &p->capaddrs, p->naddrs + 1, sizeof *p->addrs);
        a = &p->addrs[p->naddrs++];
        a->ip = *ip;
        a->resolvers = 0;
        a->dns_ms = -1;
    }
    if (r == ES_PLAN_DIRECT)
        return;
    a->resolvers |= UINT64_C(1) << r;
    if (dns_ms >= 0 && (a->dns_ms < 0 || dns_ms < a->dns_ms))
        a->dns_ms = dns_ms;
}

void es_plan_add_pinned(struct es_plan *p, uint16_t port, const struct es_ip *ip)
{
    for (size_t i = 0; i < p->npins; i++)
        if (p->pins[i].port == port && es_ip_equal(&p->pins[i].ip, ip))
            return;
    p->pins = es_xgrow(p->pins, &p->cappins, p->npins + 1, sizeof *p->pins);
    p->pins[p->npins++] = (struct ppin){.port = port, .ip = *ip};
}

/* Joins names[r] of the resolvers in mask with ';' (empty names skipped). */
static const char *join(const struct es_plan_ctx *ctx, uint64_t mask, const char *const *names)
{
    char buf[4096];
    size_t len = 0;
    for (size_t r = 0; r < ctx->nresolvers; r++) {
        if (!(mask & (UINT64_C(1) << r)) || !names || !names[r] || !names[r][0])
            continue;
        size_t n = strlen(names[r]);
        if (len + n + 2 > sizeof buf)
            break;
        if (len)
            buf[len++] = ';';
        memcpy(buf + len, names[r], n);
        len += n;
    }
    return es_intern_n(ctx->pool, buf, len);
}

static int ip_cmp(const struct es_ip *x, const struct es_ip *y)
{
    if (x->family != y->family)
        return x->family == AF_INET ? -1 : 1;
    return memcmp(x->bytes, y->bytes, 16);
}

static int pedge_cmp(const void *a, const void *b)
{
    const struct pedge *x = a, *y = b;
    if (x->port != y->port)
        return x->port < y->port ? -1 : 1;
    return ip_cmp(&x->ip, &y->ip);
}

static void put(struct es_plan *p, size_t *n, uint16_t port, const struct es_ip *ip,
                uint64_t resolvers, double dns_ms)
{
    p->work = es_xgrow(p->work, &p->capwork, *n + 1, sizeof *p->work);
    p->work[(*n)++] =
        (struct pedge){.port = port, .ip = *ip, .resolvers = resolvers, .dns_ms = dns_ms};
}

const struct es_edge *es_plan_edges(struct es_plan *p, size_t *n)
{
    const struct es_plan_ctx *ctx = p->ctx;
    size_t k = 0;
    for (size_t i = 0; i < p->nports; i++)
        for (size_t j = 0; j < p->naddrs; j++)
            put(p, &k, p->ports[i], &p->addrs[j].ip, p->addrs[j].resolvers, p->addrs[j].dns_ms);
    for (size_t i = 0; i < p->npins; i++)
        put(p, &k, p->pins[i].port, &p->pins[i].ip, 0, -1);
    if (k) /* p->work is NULL for a host without edges */
        qsort(p->work, k, sizeof *p->work, pedge_cmp);
    size_t m = 0; /* merge equal (port, ip): --edges or HOST@IP beside a resolver's answer */
    for (size_t i = 0; i < k; i++) {
        struct pedge *w = &p->work[i], *last = m ? &p->work[m - 1] : NULL;
        if (last && !pedge_cmp(last, w)) {
            last->resolvers |= w->resolvers;
            if (w->dns_ms >= 0 && (last->dns_ms < 0 || w->dns_ms < last->dns_ms))
                last->dns_ms = w->dns_ms;
            continue;
        }
        p->work[m++] = *w;
    }
    p->out = es_xgrow(p->out, &p->capout, m ? m : 1, sizeof *p->out);
    for (size_t i = 0; i < m; i++) {
        const struct pedge *w = &p->work[i];
        p->out[i] = (struct es_edge){
            .host = p->host,
            .host_is_ip = p->host_is_ip,
            .port = w->port,
            .ip = w->ip,
            .resolver =
                w->resolvers ? join(ctx, w->resolvers, ctx->labels) : es_intern(ctx->pool, "-"),
            .ecs = join(ctx, w->resolvers, ctx->ecs),
            .resolver_addr = join(ctx, w->resolvers, ctx->addrs),
            .dns_ms = w->dns_ms,
        };
    }
    *n = m;
    return p->out;
}
