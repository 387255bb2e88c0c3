/* plan.c - see include/edgeshake/plan.h */
#include "edgeshake/plan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <xxhash.h>

#include "edgeshake/net.h"
#include "edgeshake/util.h"

struct pedge {
    struct es_edge e;
    uint64_t resolvers; /* bit i: resolver i returned it */
    bool direct;
};

struct es_plan {
    struct es_intern *pool;
    const char *const *labels;
    const char *const *ecs;
    size_t nresolvers;
    struct pedge *edges;
    size_t nedges, capedges;
    uint32_t *table; /* open addressing: edge index + 1, 0 = empty */
    size_t mask;
    struct es_edge *out;
};

struct es_plan *es_plan_new(struct es_intern *pool, const char *const *labels,
                            const char *const *ecs, size_t nresolvers)
{
    struct es_plan *p = es_xcalloc(1, sizeof *p);
    p->pool = pool;
    p->labels = labels;
    p->ecs = ecs;
    p->nresolvers = nresolvers;
    p->mask = 1023;
    p->table = es_xcalloc(p->mask + 1, sizeof *p->table);
    return p;
}

void es_plan_free(struct es_plan *p)
{
    if (!p)
        return;
    free(p->edges);
    free(p->table);
    free(p->out);
    free(p);
}

static uint64_t key_hash(const char *host, uint16_t port, const struct es_ip *ip)
{
    struct {
        const char *host;
        uint64_t port_family;
        uint8_t ip[16];
    } k;
    memset(&k, 0, sizeof k);
    k.host = host; /* interned: the pointer is the identity */
    k.port_family = (uint64_t)port << 8 | (uint64_t)ip->family;
    memcpy(k.ip, ip->bytes, 16);
    return XXH3_64bits(&k, sizeof k);
}

static void rehash(struct es_plan *p)
{
    size_t nmask = p->mask * 2 + 1;
    uint32_t *t = es_xcalloc(nmask + 1, sizeof *t);
    for (size_t i = 0; i < p->nedges; i++) {
        const struct es_edge *e = &p->edges[i].e;
        size_t j = key_hash(e->host, e->port, &e->ip) & nmask;
        while (t[j])
            j = (j + 1) & nmask;
        t[j] = (uint32_t)(i + 1);
    }
    free(p->table);
    p->table = t;
    p->mask = nmask;
}

void es_plan_add(struct es_plan *p, const char *host, bool host_is_ip, uint16_t port,
                 const struct es_ip *ip, int r, double dns_ms)
{
    size_t i = key_hash(host, port, ip) & p->mask;
    struct pedge *pe = NULL;
    for (; p->table[i]; i = (i + 1) & p->mask) {
        struct pedge *c = &p->edges[p->table[i] - 1];
        if (c->e.host == host && c->e.port == port && es_ip_equal(&c->e.ip, ip)) {
            pe = c;
            break;
        }
    }
    if (!pe) {
        if (p->nedges >= UINT32_MAX - 1)
            es_die(ES_EXIT_RUNTIME, "more than %u edges in one scan; split it with --shard",
                   UINT32_MAX - 1);
        p->edges = es_xgrow(p->edges, &p->capedges, p->nedges + 1, sizeof *p->edges);
        pe = &p->edges[p->nedges];
        memset(pe, 0, sizeof *pe);
        pe->e.host = host;
        pe->e.host_is_ip = host_is_ip;
        pe->e.port = port;
        pe->e.ip = *ip;
        pe->e.dns_ms = -1;
        p->table[i] = (uint32_t)++p->nedges;
        if (p->nedges * 4 > (p->mask + 1) * 3)
            rehash(p);
    }
    if (r == ES_PLAN_DIRECT) {
        pe->direct = true;
        return;
    }
    pe->resolvers |= UINT64_C(1) << r;
    if (dns_ms >= 0 && (pe->e.dns_ms < 0 || dns_ms < pe->e.dns_ms))
        pe->e.dns_ms = dns_ms;
}

/* Joins the labels (or ECS subnets) of the resolvers in mask with ';'. */
static const char *join(struct es_plan *p, uint64_t mask, const char *const *names)
{
    char buf[4096];
    size_t len = 0;
    for (size_t r = 0; r < p->nresolvers; r++) {
        if (!(mask & (UINT64_C(1) << r)) || !names[r][0])
            continue;
        size_t n = strlen(names[r]);
        if (len + n + 2 > sizeof buf)
            break;
        if (len)
            buf[len++] = ';';
        memcpy(buf + len, names[r], n);
        len += n;
    }
    return es_intern_n(p->pool, buf, len);
}

static int edge_cmp(const void *a, const void *b)
{
    const struct es_edge *x = a, *y = b;
    int c = strcmp(x->host, y->host);
    if (c)
        return c;
    if (x->port != y->port)
        return x->port < y->port ? -1 : 1;
    if (x->ip.family != y->ip.family)
        return x->ip.family == AF_INET ? -1 : 1;
    return memcmp(x->ip.bytes, y->ip.bytes, 16);
}

const struct es_edge *es_plan_finish(struct es_plan *p, size_t *n)
{
    free(p->out);
    p->out = es_xcalloc(p->nedges ? p->nedges : 1, sizeof *p->out);
    for (size_t i = 0; i < p->nedges; i++) {
        struct pedge *pe = &p->edges[i];
        p->out[i] = pe->e;
        p->out[i].resolver =
            pe->resolvers ? join(p, pe->resolvers, p->labels) : es_intern(p->pool, "-");
        p->out[i].ecs = join(p, pe->resolvers, p->ecs);
    }
    qsort(p->out, p->nedges, sizeof *p->out, edge_cmp);
    *n = p->nedges;
    return p->out;
}
