/* pipeline.c - see include/edgeshake/pipeline.h
 *
 * A host in the window is a struct whost:
 *
 *   free list ──admit──► RESOLVING ──last resolver answered──► READY ──hand over──► free list
 *                          (in the host map; es_dns holds        (in the ready FIFO,
 *                           its queries)                          still in the host map)
 *
 * Invariants:
 *   - nwindow = hosts RESOLVING or READY <= window; each is in the host map
 *     exactly once, keyed by its name.
 *   - the sink is called only from the top of the main loop (hand_over and
 *     direct targets), never from inside es_dns (c-ares callbacks).
 *   - a whost's fails[] has one slot per resolver; error NULL = that
 *     resolver returned addresses (now in the plan) or has not answered yet.
 */
#include "edgeshake/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "edgeshake/dns.h"
#include "edgeshake/loop.h"
#include "edgeshake/net.h"
#include "edgeshake/plan.h"
#include "edgeshake/shard.h"
#include "edgeshake/util.h"

struct fail {
    const char *error; /* a dns.h token; NULL = none */
    double ms;
};

struct whost {
    struct es_pipeline *pp;
    struct es_plan *plan;
    struct whost *next; /* host map chain, or free list */
    struct whost *next_ready;
    uint64_t hash;
    size_t left; /* resolvers not answered yet */
    struct fail *fails;
    uint64_t serial;      /* changes every time the whost is taken */
    uint64_t admitted_ms; /* when it was admitted */
    bool fresh;           /* counted in nfresh: no answer yet, admitted < FRESH_MS ago */
};

/* An admitted host, in admission order, for the fresh accounting. */
struct freshref {
    struct whost *w;
    uint64_t serial;
};

struct lookahead {
    struct es_target *v;
    size_t n, next;
    bool reader_done;
};

struct es_pipeline {
    struct es_pipeline_params p;
    struct es_pipeline_stats st;
    struct lookahead la;
    struct es_loop *loop;
    struct es_dns *dns;
    struct es_plan_ctx ctx;
    const char **addrs;
    size_t window;
    struct whost **map; /* chained; mask + 1 buckets */
    size_t mask;
    struct whost *free;
    struct whost *ready_head, *ready_tail;
    size_t nwindow;
    struct es_plan *scratch; /* for direct targets */
    bool sink_failed;
    uint64_t t0_ms;
    uint64_t serial;
    /* Fresh hosts: admitted, no answer from any resolver yet, admitted less
     * than FRESH_MS ago. At most FRESH_MAX at once: that bounds the burst of
     * queries sent to resolvers that answer (a burst of window x resolvers
     * queries queues up in the resolver and delays every answer, the first
     * one included), while hosts that already have an answer and wait only
     * for a silent resolver do not count, so the window can fill with them. */
    struct freshref *fring; /* FIFO ring, admission order; entries dropped lazily */
    size_t fhead, fn, fcap;
    size_t nfresh;
};

enum {
    FRESH_MAX = 512, /* hosts */
    FRESH_MS = 100,
};

/* ---- the host map --------------------------------------------------------- */

static struct whost **map_slot(struct es_pipeline *pp, const char *host, uint64_t hash)
{
    struct whost **w = &pp->map[hash & pp->mask];
    while (*w && ((*w)->hash != hash || strcmp(es_plan_host((*w)->plan), host)))
        w = &(*w)->next;
    return w;
}

static void fresh_push(struct es_pipeline *pp, struct whost *w)
{
    if (pp->fn == pp->fcap) { /* grow, unrolling the ring */
        size_t ncap = pp->fcap ? pp->fcap * 2 : 1024;
        struct freshref *n = es_xcalloc(ncap, sizeof *n);
        for (size_t i = 0; i < pp->fn; i++)
            n[i] = pp->fring[(pp->fhead + i) % pp->fcap];
        free(pp->fring);
        pp->fring = n;
        pp->fcap = ncap;
        pp->fhead = 0;
    }
    pp->fring[(pp->fhead + pp->fn++) % pp->fcap] = (struct freshref){w, w->serial};
}

static void fresh_end(struct es_pipeline *pp, struct whost *w)
{
    if (w->fresh) {
        w->fresh = false;
        pp->nfresh--;
    }
}

/* Drops ring entries that no longer count; ends freshness that timed out. */
static void fresh_expire(struct es_pipeline *pp, uint64_t now)
{
    while (pp->fn) {
        struct freshref *f = &pp->fring[pp->fhead];
        if (f->serial == f->w->serial && f->w->fresh) {
            if (now < f->w->admitted_ms + FRESH_MS)
                return;
            fresh_end(pp, f->w);
        }
        pp->fhead = (pp->fhead + 1) % pp->fcap;
        pp->fn--;
    }
}

static struct whost *whost_take(struct es_pipeline *pp, const char *host, uint64_t hash)
{
    struct whost *w = pp->free;
    if (w) {
        pp->free = w->next;
    } else {
        w = es_xcalloc(1, sizeof *w);
        w->pp = pp;
        w->plan = es_plan_new(&pp->ctx);
        w->fails = es_xcalloc(pp->p.nresolvers, sizeof *w->fails);
    }
    es_plan_reset(w->plan, host, false);
    memset(w->fails, 0, pp->p.nresolvers * sizeof *w->fails);
    w->hash = hash;
    w->left = pp->p.nresolvers;
    w->next_ready = NULL;
    w->serial = ++pp->serial;
    w->admitted_ms = es_now_ms();
    w->fresh = true;
    pp->nfresh++;
    fresh_push(pp, w);
    struct whost **slot = map_slot(pp, host, hash);
    w->next = NULL;
    *slot = w;
    pp->nwindow++;
    if (pp->nwindow > pp->st.max_window)
        pp->st.max_window = pp->nwindow;
    return w;
}

static void whost_release(struct es_pipeline *pp, struct whost *w)
{
    struct whost **slot = map_slot(pp, es_plan_host(w->plan), w->hash);
    *slot = w->next;
    fresh_end(pp, w);
    w->next = pp->free;
    pp->free = w;
    pp->nwindow--;
}

static void whosts_free(struct whost *w)
{
    while (w) {
        struct whost *next = w->next;
        es_plan_free(w->plan);
        free(w->fails);
        free(w);
        w = next;
    }
}

/* ---- DNS results and the barrier ------------------------------------------- */

static void on_dns(void *arg, const char *host, size_t r, const struct es_ip *ips, size_t n,
                   const char *error, double dns_ms)
{
    (void)host;
    struct whost *w = arg;
    struct es_pipeline *pp = w->pp;
    fresh_end(pp, w);
    if (error)
        w->fails[r] = (struct fail){.error = error, .ms = dns_ms};
    for (size_t i = 0; i < n; i++)
        es_plan_add(w->plan, &ips[i], (int)r, dns_ms);
    if (--w->left)
        return;
    if (pp->ready_tail)
        pp->ready_tail->next_ready = w;
    else
        pp->ready_head = w;
    pp->ready_tail = w;
}

static int give_edges(struct es_pipeline *pp, struct es_plan *plan)
{
    size_t n;
    const struct es_edge *e = es_plan_edges(plan, &n);
    if (!n)
        return 0;
    if (!pp->st.first_edge_ms)
        pp->st.first_edge_ms = es_now_ms() - pp->t0_ms + 1; /* 0 means none */
    pp->st.edges += n;
    pp->st.started = true;
    int rc = pp->p.sink.edges(pp->p.sink.arg, e, n);
    if (rc < 0)
        pp->sink_failed = true;
    return rc;
}

/* Hands a host that passed its barrier to the sink: its DNS failures, one per
 * (port, resolver), then its edges. */
static int hand_over(struct es_pipeline *pp, struct whost *w)
{
    const struct es_pipeline_params *p = &pp->p;
    size_t nports;
    const uint16_t *ports = es_plan_ports(w->plan, &nports);
    for (size_t r = 0; r < p->nresolvers; r++) {
        if (!w->fails[r].error)
            continue;
        for (size_t i = 0; i < nports; i++) {
            struct es_dns_failure f = {
                .host = es_plan_host(w->plan),
                .port = ports[i],
                .resolver = r,
                .label = p->labels[r],
                .ecs = p->ecs[r],
                .resolver_addr = pp->addrs[r],
                .error = w->fails[r].error,
                .dns_ms = w->fails[r].ms,
            };
            pp->st.dns_failures++;
            p->sink.dns_failure(p->sink.arg, &f);
        }
    }
    int rc = give_edges(pp, w->plan);
    whost_release(pp, w);
    return rc;
}

static int hand_over_ready(struct es_pipeline *pp)
{
    while (pp->ready_head) {
        struct whost *w = pp->ready_head;
        pp->ready_head = w->next_ready;
        if (!pp->ready_head)
            pp->ready_tail = NULL;
        if (hand_over(pp, w) < 0)
            return -1;
    }
    return 0;
}

/* ---- admitting targets ------------------------------------------------------ */

static bool family_wanted(unsigned bits, const struct es_ip *ip)
{
    return ip->family == AF_INET6 ? (bits & ES_DNS_FAMILY_6) : (bits & ES_DNS_FAMILY_4);
}

static int admit(struct es_pipeline *pp, const struct es_target *t)
{
    const struct es_pipeline_params *p = &pp->p;
    size_t len = strlen(t->host);
    uint64_t hash = XXH3_64bits(t->host, len);
    struct whost *w = t->host_is_ip ? NULL : *map_slot(pp, t->host, hash);
    if (t->has_ip) {
        if (w) { /* HOST@IP beside the same host being resolved: one plan */
            es_plan_add_pinned(w->plan, t->port, &t->ip);
            return 0;
        }
        es_plan_reset(pp->scratch, t->host, t->host_is_ip);
        es_plan_add_pinned(pp->scratch, t->port, &t->ip);
        return give_edges(pp, pp->scratch);
    }
    if (w) { /* another port of a host being resolved */
        es_plan_add_port(w->plan, t->port);
        return 0;
    }
    w = whost_take(pp, t->host, hash);
    es_plan_add_port(w->plan, t->port);
    if (p->edges) {
        struct es_edges_iter it;
        struct es_ip ip;
        es_edges_iter_init(&it, p->edges);
        while (es_edges_iter_next(&it, &ip))
            if (family_wanted(p->family, &ip))
                es_plan_add(w->plan, &ip, ES_PLAN_DIRECT, -1);
    }
    pp->st.hosts++;
    pp->st.started = true;
    es_dns_resolve(pp->dns, t->host, on_dns, w);
    return 0;
}

/* ---- the run ------------------------------------------------------------------ */

/* The next target of this shard: from the look-ahead, then the reader.
 * Returns ES_TARGET_OK, ES_TARGET_END or ES_TARGET_ERROR (err filled). */
static enum es_target_next next_target(struct es_pipeline *pp, struct es_target *t, char *err,
                                       size_t errlen)
{
    struct lookahead *la = &pp->la;
    if (la->next < la->n) {
        *t = la->v[la->next++];
        return ES_TARGET_OK;
    }
    if (la->reader_done)
        return ES_TARGET_END;
    const struct es_pipeline_params *p = &pp->p;
    enum es_target_next rc;
    while ((rc = es_target_reader_next(p->reader, t, err, errlen)) == ES_TARGET_OK) {
        pp->st.targets++;
        if (es_shard_keep(t->host, strlen(t->host), p->shard_i, p->shard_n)) {
            pp->st.kept++;
            return rc;
        }
    }
    la->reader_done = rc == ES_TARGET_END;
    return rc;
}

static void progress_line(struct es_pipeline *pp, bool last)
{
    if (last) {
        fprintf(stderr, "\r\033[K");
        return;
    }
    fprintf(stderr, "\r\033[K%s: %llu targets read, %zu hosts resolving, %llu edges planned",
            es_progname, (unsigned long long)pp->st.targets, pp->nwindow,
            (unsigned long long)pp->st.edges);
}

static bool setup_dns(struct es_pipeline *pp, char *err, size_t errlen)
{
    const struct es_pipeline_params *p = &pp->p;
    size_t nfam = p->family == ES_DNS_FAMILY_BOTH ? 2 : 1;
    struct es_dns_opts o = {
        .timeout_ms = p->dns_timeout_ms,
        .retries = p->dns_retries,
        .family = p->family,
        /* one budget per resolver, as large as the window: a silent resolver
         * can never make a host wait for a budget another resolver holds */
        .max_inflight = pp->window * nfam,
    };
    pp->loop = es_loop_new();
    pp->dns = es_dns_new(pp->loop, p->resolvers, p->nresolvers, &o, err, errlen);
    if (!pp->dns)
        return false;
    pp->addrs = es_xcalloc(p->nresolvers, sizeof *pp->addrs);
    for (size_t r = 0; r < p->nresolvers; r++) {
        char buf[1024];
        pp->addrs[r] = es_intern(p->pool, es_dns_resolver_addr(pp->dns, r, buf, sizeof buf));
    }
    pp->ctx = (struct es_plan_ctx){
        .pool = p->pool,
        .labels = p->labels,
        .ecs = p->ecs,
        .addrs = pp->addrs,
        .nresolvers = p->nresolvers,
    };
    return true;
}

static bool stopped(const struct es_pipeline *pp)
{
    return pp->sink_failed || (pp->p.stop && *pp->p.stop);
}

/* The main loop: hand over, admit, run DNS once; until input and window are empty. */
static enum es_pipeline_status run(struct es_pipeline *pp, char *err, size_t errlen)
{
    const struct es_pipeline_params *p = &pp->p;
    uint64_t last_progress = es_now_ms();
    bool input_done = false;
    for (;;) {
        if (stopped(pp) || hand_over_ready(pp) < 0)
            return ES_PIPELINE_STOPPED;
        fresh_expire(pp, es_now_ms());
        while (pp->nwindow < pp->window && pp->nfresh < FRESH_MAX && !input_done && !stopped(pp)) {
            struct es_target t;
            enum es_target_next rc = next_target(pp, &t, err, errlen);
            if (rc == ES_TARGET_ERROR)
                return ES_PIPELINE_BAD_INPUT;
            if (rc == ES_TARGET_END) {
                input_done = true;
                break;
            }
            admit(pp, &t);
        }
        if (stopped(pp))
            return ES_PIPELINE_STOPPED;
        if (input_done && pp->nwindow == 0 && !pp->ready_head)
            return ES_PIPELINE_DONE;
        if (pp->ready_head)
            continue;
        int rc = es_dns_run_once(pp->dns, 100);
        if (rc < 0) {
            snprintf(err, errlen, "DNS event loop: %s", strerror(-rc));
            return ES_PIPELINE_FAILED;
        }
        if (p->progress && es_now_ms() - last_progress >= 1000) {
            last_progress = es_now_ms();
            progress_line(pp, false);
        }
    }
}

struct es_pipeline *es_pipeline_new(const struct es_pipeline_params *p, char *err, size_t errlen)
{
    struct es_pipeline *pp = es_xcalloc(1, sizeof *pp);
    pp->p = *p;
    pp->window = p->window ? p->window : ES_PIPELINE_WINDOW;
    if (pp->window * 2 > ES_DNS_INFLIGHT_LIMIT)
        pp->window = ES_DNS_INFLIGHT_LIMIT / 2;
    /* Read and check the first targets before anything is sent. */
    struct lookahead *la = &pp->la;
    size_t cap = p->lookahead ? p->lookahead : ES_PIPELINE_LOOKAHEAD;
    la->v = es_xcalloc(cap, sizeof *la->v);
    while (la->n < cap) {
        enum es_target_next rc = next_target(pp, &la->v[la->n], err, errlen);
        if (rc == ES_TARGET_ERROR) {
            es_pipeline_free(pp);
            return NULL;
        }
        if (rc == ES_TARGET_END)
            break;
        la->n++;
        la->next = la->n; /* while filling, next_target reads the reader */
    }
    la->next = 0;
    return pp;
}

enum es_pipeline_status es_pipeline_run(struct es_pipeline *pp, char *err, size_t errlen)
{
    pp->t0_ms = es_now_ms();
    if (!setup_dns(pp, err, errlen))
        return ES_PIPELINE_FAILED;
    size_t buckets = 1;
    while (buckets < pp->window * 2)
        buckets *= 2;
    pp->map = es_xcalloc(buckets, sizeof *pp->map);
    pp->mask = buckets - 1;
    pp->scratch = es_plan_new(&pp->ctx);
    enum es_pipeline_status status = run(pp, err, errlen);
    if (pp->p.progress)
        progress_line(pp, true);
    /* Whatever is still in flight (stopped, bad input) is dropped: no callbacks. */
    es_dns_free(pp->dns);
    pp->dns = NULL;
    return status;
}

const struct es_pipeline_stats *es_pipeline_stats(const struct es_pipeline *pp)
{
    return &pp->st;
}

void es_pipeline_free(struct es_pipeline *pp)
{
    if (!pp)
        return;
    free(pp->la.v);
    es_dns_free(pp->dns);
    es_loop_free(pp->loop);
    for (size_t i = 0; pp->map && i <= pp->mask; i++)
        whosts_free(pp->map[i]);
    whosts_free(pp->free);
    es_plan_free(pp->scratch);
    free(pp->map);
    free(pp->addrs);
    free(pp->fring);
    free(pp);
}
