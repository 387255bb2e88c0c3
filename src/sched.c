/* sched.c - see include/edgeshake/sched.h */
#include "edgeshake/sched.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "edgeshake/util.h"

/* ---- dealing ---------------------------------------------------------- */

/* Our own seed: dealing shares no hash with anything else (--shard, tables). */
#define DEAL_SEED 0x6564676573686b31ull /* "edgeshk1" */

unsigned es_deal_worker(const struct es_ip *ip, unsigned nworkers)
{
    if (nworkers <= 1)
        return 0;
    return (unsigned)(XXH3_64bits_withSeed(ip->bytes, sizeof ip->bytes,
                                           DEAL_SEED ^ (uint64_t)ip->family) %
                      nworkers);
}

uint64_t es_share_probes(uint64_t total, uint64_t first, uint64_t stride)
{
    if (first >= total)
        return 0;
    stride = stride ? stride : 1;
    return (total - first + stride - 1) / stride;
}

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Copies s to *at and advances it; NULL stays NULL. */
static const char *str_put(char **at, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*at, s, n);
    const char *r = *at;
    *at += n;
    return r;
}

struct es_edgerec *es_edgerec_new(const struct es_edge *e, uint64_t total, uint64_t first,
                                  uint64_t stride)
{
    size_t n =
        str_size(e->host) + str_size(e->resolver) + str_size(e->ecs) + str_size(e->resolver_addr);
    struct es_edgerec *r = es_xmalloc(sizeof *r + n);
    r->edge = *e;
    char *at = r->str;
    r->edge.host = str_put(&at, e->host);
    r->edge.resolver = str_put(&at, e->resolver);
    r->edge.ecs = str_put(&at, e->ecs);
    r->edge.resolver_addr = str_put(&at, e->resolver_addr);
    r->next = NULL;
    r->requeue = false;
    r->seq = first;
    r->total = total;
    r->stride = stride ? stride : 1;
    r->left = es_share_probes(total, first, r->stride);
    return r;
}

void es_edgeq_init(struct es_edgeq *q, uint32_t nvariants)
{
    q->head = q->tail = NULL;
    q->nvariants = nvariants ? nvariants : 1;
    q->undealt = 0;
}

static void edgeq_append(struct es_edgeq *q, struct es_edgerec *rec)
{
    rec->next = NULL;
    if (q->tail)
        q->tail->next = rec;
    else
        q->head = rec;
    q->tail = rec;
}

void es_edgeq_push(struct es_edgeq *q, struct es_edgerec *rec)
{
    q->undealt += es_share_probes(rec->total, rec->seq, rec->stride);
    edgeq_append(q, rec);
}

static struct es_edgerec *edgeq_unlink_head(struct es_edgeq *q)
{
    struct es_edgerec *r = q->head;
    q->head = r->next;
    if (!q->head)
        q->tail = NULL;
    r->next = NULL;
    return r;
}

bool es_edgeq_next(struct es_edgeq *q, struct es_probe_ref *out)
{
    struct es_edgerec *r = q->head;
    if (!r)
        return false;
    /* It crossed into its next attempt alone; edges queued since go first. */
    while (r->requeue) {
        r->requeue = false;
        if (r != q->tail) {
            edgeq_append(q, edgeq_unlink_head(q));
            r = q->head;
        }
    }
    uint32_t nv = r->edge.only_variant ? 1 : q->nvariants; /* probes per attempt */
    uint64_t attempt = r->seq / nv;
    out->rec = r;
    out->variant = r->edge.only_variant ? r->edge.only_variant - 1 : (uint32_t)(r->seq % nv);
    out->attempt = (uint32_t)attempt + 1;
    r->seq += r->stride;
    q->undealt--;
    if (r->seq >= r->total)
        edgeq_unlink_head(q); /* all dealt: its probes hold it now */
    else if (r->seq / nv != attempt && r != q->tail)
        edgeq_append(q, edgeq_unlink_head(q)); /* its next attempt waits its turn */
    else if (r->seq / nv != attempt)
        r->requeue = true; /* the only one: it goes on unless others come */
    return true;
}

struct es_edgerec *es_edgeq_pop(struct es_edgeq *q, uint64_t *undealt)
{
    *undealt = 0;
    if (!q->head)
        return NULL;
    struct es_edgerec *r = edgeq_unlink_head(q);
    *undealt = es_share_probes(r->total, r->seq, r->stride);
    q->undealt -= *undealt;
    return r;
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

void es_ipgate_clear(struct es_ipgate *g, void (*fn)(void *arg, const struct es_probe_ref *p),
                     void *arg)
{
    for (size_t i = 0; i <= g->_mask; i++) {
        struct es_ipgate_entry *e = &g->_tab[i];
        if (e->ip.family == 0)
            continue;
        for (uint32_t n = e->head; n != NONE;) {
            uint32_t next = g->_pool[n].next;
            fn(arg, &g->_pool[n].p);
            g->_pool[n].next = g->_free;
            g->_free = n;
            g->_nwaiting--;
            n = next;
        }
        e->head = e->tail = NONE;
    }
}

uint32_t es_ipgate_inflight(const struct es_ipgate *g, const struct es_ip *ip)
{
    const struct es_ipgate_entry *e = &g->_tab[ip_find(g, ip)];
    return e->ip.family == 0 ? 0 : e->inflight;
}

/* ---- the token bucket ------------------------------------------------- */

void es_bucket_init(struct es_bucket *b, double rate, double burst, uint64_t now_ns)
{
    b->interval_ns = rate > 0 ? (uint64_t)(1e9 / rate) : 0;
    if (rate > 0 && b->interval_ns == 0)
        b->interval_ns = 1;
    uint64_t n = burst < 1.0 ? 1 : (uint64_t)burst;
    b->ahead_ns = (n - 1) * b->interval_ns;
    atomic_init(&b->due_ns, now_ns);
}

bool es_bucket_take(struct es_bucket *b, uint64_t now_ns)
{
    if (b->interval_ns == 0)
        return true;
    uint64_t due = atomic_load_explicit(&b->due_ns, memory_order_relaxed);
    for (;;) {
        if (due > now_ns + b->ahead_ns)
            return false;
        /* A long pause saves up no more than the burst: never due before now. */
        uint64_t next = (due > now_ns ? due : now_ns) + b->interval_ns;
        if (atomic_compare_exchange_weak_explicit(&b->due_ns, &due, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    }
}

uint64_t es_bucket_wait_ns(struct es_bucket *b, uint64_t now_ns)
{
    if (b->interval_ns == 0)
        return 0;
    uint64_t due = atomic_load_explicit(&b->due_ns, memory_order_relaxed);
    return due > now_ns + b->ahead_ns ? due - now_ns - b->ahead_ns : 0;
}
