/* sched.c - see include/edgeshake/sched.h */
#include "edgeshake/sched.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "edgeshake/util.h"

/* ---- dealing ---------------------------------------------------------- */

/* Any constant other than 0 decorrelates dealing from --shard (XXH3, seed 0). */
#define DEAL_SEED 0x6564676573686b31ull /* "edgeshk1" */

unsigned es_deal_worker(const char *host, unsigned nworkers)
{
    if (nworkers <= 1)
        return 0;
    return (unsigned)(XXH3_64bits_withSeed(host, strlen(host), DEAL_SEED) % nworkers);
}

void es_deal_split(const struct es_edge *edges, size_t nedges, unsigned nworkers, uint32_t *order,
                   size_t *first)
{
    /* A counting sort, stable, in two passes over the hashes. */
    for (unsigned w = 0; w <= nworkers; w++)
        first[w] = 0;
    for (size_t i = 0; i < nedges; i++)
        first[es_deal_worker(edges[i].host, nworkers) + 1]++;
    for (unsigned w = 0; w < nworkers; w++)
        first[w + 1] += first[w];
    /* first[w] is now the start of w; use first[w] as a cursor, then shift back. */
    for (size_t i = 0; i < nedges; i++) {
        unsigned w = es_deal_worker(edges[i].host, nworkers);
        order[first[w]++] = (uint32_t)i;
    }
    for (unsigned w = nworkers; w > 0; w--)
        first[w] = first[w - 1];
    first[0] = 0;
}

void es_deal_init(struct es_deal *d, const uint32_t *edges, size_t nedges, uint32_t nvariants,
                  uint32_t repeat, uint64_t offset, uint64_t stride)
{
    d->edges = edges;
    d->nedges = nedges;
    d->nvariants = nvariants;
    d->repeat = repeat;
    d->_total = (uint64_t)nedges * nvariants * repeat;
    d->_next = offset;
    d->_stride = stride ? stride : 1;
}

bool es_deal_next(struct es_deal *d, struct es_probe_ref *out)
{
    if (d->_next >= d->_total)
        return false;
    uint64_t per_attempt = (uint64_t)d->nedges * d->nvariants;
    uint64_t seq = d->_next;
    uint64_t in_attempt = seq % per_attempt;
    out->attempt = (uint32_t)(seq / per_attempt) + 1;
    out->edge = d->edges[in_attempt / d->nvariants];
    out->variant = (uint32_t)(in_attempt % d->nvariants);
    d->_next += d->_stride;
    return true;
}

uint64_t es_deal_left(const struct es_deal *d)
{
    if (d->_next >= d->_total)
        return 0;
    return (d->_total - d->_next + d->_stride - 1) / d->_stride;
}

/* ---- the per-IP gate -------------------------------------------------- */

#define NONE UINT32_MAX

struct es_ipgate_entry {
    struct es_ip ip; /* family 0 = empty */
    uint32_t inflight;
    uint32_t head, tail; /* waiters, indices into the pool */
};

struct es_ipgate_wait {
    struct es_probe_ref p;
    uint32_t next;
};

static size_t ip_home(const struct es_ipgate *g, const struct es_ip *ip)
{
    return (size_t)XXH3_64bits_withSeed(ip->bytes, sizeof ip->bytes, (uint64_t)ip->family) &
           g->_mask;
}

void es_ipgate_init(struct es_ipgate *g, uint32_t limit, size_t max_inflight, size_t max_waiting)
{
    memset(g, 0, sizeof *g);
    g->limit = limit ? limit : 1;
    size_t cap = 16;
    while (cap < 2 * max_inflight)
        cap *= 2;
    g->_mask = cap - 1;
    g->_tab = es_xcalloc(cap, sizeof *g->_tab);
    g->_max_inflight = max_inflight;
    if (max_waiting > NONE - 1)
        max_waiting = NONE - 1;
    g->_pool_cap = (uint32_t)max_waiting;
    g->_pool = es_xcalloc(max_waiting ? max_waiting : 1, sizeof *g->_pool);
    for (uint32_t i = 0; i < g->_pool_cap; i++)
        g->_pool[i].next = i + 1 < g->_pool_cap ? i + 1 : NONE;
    g->_free = g->_pool_cap ? 0 : NONE;
}

void es_ipgate_free(struct es_ipgate *g)
{
    free(g->_tab);
    free(g->_pool);
    g->_tab = NULL;
    g->_pool = NULL;
}

/* The slot of ip, or of the empty entry where it would go. */
static size_t ip_find(const struct es_ipgate *g, const struct es_ip *ip)
{
    size_t i = ip_home(g, ip);
    while (g->_tab[i].ip.family != 0 &&
           !(g->_tab[i].ip.family == ip->family && memcmp(g->_tab[i].ip.bytes, ip->bytes, 16) == 0))
        i = (i + 1) & g->_mask;
    return i;
}

/* Removes entry i, shifting later entries of its probe run back (linear
 * probing without tombstones). */
static void ip_remove(struct es_ipgate *g, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & g->_mask;
        if (g->_tab[j].ip.family == 0)
            break;
        size_t k = ip_home(g, &g->_tab[j].ip);
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        g->_tab[i] = g->_tab[j];
        i = j;
    }
    memset(&g->_tab[i], 0, sizeof g->_tab[i]);
}

bool es_ipgate_enter(struct es_ipgate *g, const struct es_ip *ip)
{
    size_t i = ip_find(g, ip);
    struct es_ipgate_entry *e = &g->_tab[i];
    if (e->ip.family == 0) {
        if (g->_inflight >= g->_max_inflight)
            es_die(ES_EXIT_RUNTIME, "internal error: per-IP gate over its capacity (%zu)",
                   g->_max_inflight);
        e->ip = *ip;
        e->inflight = 0;
        e->head = e->tail = NONE;
    } else if (e->inflight >= g->limit) {
        return false;
    }
    e->inflight++;
    g->_inflight++;
    return true;
}

bool es_ipgate_wait(struct es_ipgate *g, const struct es_ip *ip, const struct es_probe_ref *p)
{
    size_t i = ip_find(g, ip);
    struct es_ipgate_entry *e = &g->_tab[i];
    if (e->ip.family == 0 || g->_free == NONE)
        return false; /* nothing in flight for ip (caller error), or the pool is full */
    uint32_t n = g->_free;
    g->_free = g->_pool[n].next;
    g->_pool[n].p = *p;
    g->_pool[n].next = NONE;
    if (e->tail == NONE)
        e->head = n;
    else
        g->_pool[e->tail].next = n;
    e->tail = n;
    g->_nwaiting++;
    return true;
}

bool es_ipgate_leave(struct es_ipgate *g, const struct es_ip *ip, struct es_probe_ref *next)
{
    size_t i = ip_find(g, ip);
    struct es_ipgate_entry *e = &g->_tab[i];
    if (e->ip.family == 0)
        es_die(ES_EXIT_RUNTIME, "internal error: per-IP gate: leave without enter");
    if (e->head != NONE) {
        /* The first waiter takes the place over: inflight stays. */
        uint32_t n = e->head;
        *next = g->_pool[n].p;
        e->head = g->_pool[n].next;
        if (e->head == NONE)
            e->tail = NONE;
        g->_pool[n].next = g->_free;
        g->_free = n;
        g->_nwaiting--;
        return true;
    }
    e->inflight--;
    g->_inflight--;
    if (e->inflight == 0)
        ip_remove(g, i);
    return false;
}

uint32_t es_ipgate_inflight(const struct es_ipgate *g, const struct es_ip *ip)
{
    const struct es_ipgate_entry *e = &g->_tab[ip_find(g, ip)];
    return e->ip.family == 0 ? 0 : e->inflight;
}

/* ---- the token bucket ------------------------------------------------- */

void es_bucket_init(struct es_bucket *b, double rate, double burst, uint64_t now_ns)
{
    b->rate = rate;
    b->burst = burst < 1.0 ? 1.0 : burst;
    b->tokens = b->burst;
    b->last_ns = now_ns;
}

static double bucket_level(const struct es_bucket *b, uint64_t now_ns)
{
    double t = b->tokens;
    if (now_ns > b->last_ns)
        t += (double)(now_ns - b->last_ns) * b->rate / 1e9;
    return t > b->burst ? b->burst : t;
}

bool es_bucket_take(struct es_bucket *b, uint64_t now_ns)
{
    if (b->rate <= 0)
        return true;
    b->tokens = bucket_level(b, now_ns);
    if (now_ns > b->last_ns)
        b->last_ns = now_ns;
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

uint64_t es_bucket_wait_ns(const struct es_bucket *b, uint64_t now_ns)
{
    if (b->rate <= 0)
        return 0;
    double t = bucket_level(b, now_ns);
    if (t >= 1.0)
        return 0;
    return (uint64_t)((1.0 - t) * 1e9 / b->rate) + 1; /* rounded up */
}
