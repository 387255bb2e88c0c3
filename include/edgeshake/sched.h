/* sched.h - which probe a worker starts next, and when.
 *
 * The scheduling half of the engine (engine.h), kept free of I/O so that it
 * can be tested on its own:
 *
 *  - dealing: edges go to workers by a hash of their host, so every probe of
 *    a host (and so the per-IP politeness of its edges) stays on one worker;
 *  - the probe order of one worker: attempt outermost, then edges, then
 *    variants, so that --repeat N spreads the attempts over the whole scan
 *    instead of firing them back to back at one node;
 *  - the per-IP gate of --per-ip: in-flight probes per edge IP, with the
 *    probes that wait for their IP in a FIFO per IP (nothing is dropped);
 *  - the token bucket of --rate.
 *
 * Each structure belongs to one worker thread; none takes a lock. */
#ifndef EDGESHAKE_SCHED_H
#define EDGESHAKE_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgeshake/net-t.h"
#include "edgeshake/probe-t.h"

/* One probe as indices: edge into the scan's edge array, variant into the
 * variant array, attempt 1..N. */
struct es_probe_ref {
    uint32_t edge;
    uint32_t variant;
    uint32_t attempt;
};

/* ---- dealing ---------------------------------------------------------- */

/* The worker (0..nworkers-1) that runs every probe of host. This is a seeded
 * XXH3 of the host, not the plain XXH3_64bits(host) that --shard uses: with
 * the same hash, a shard (hosts with h % N == I) would land on a single worker
 * whenever N and the worker count share a factor. */
unsigned es_deal_worker(const char *host, unsigned nworkers);

/* Partitions the edge indices 0..nedges-1 by worker: afterwards the edges of
 * worker w are order[first[w]] .. order[first[w + 1] - 1], in edge order.
 * order holds nedges entries, first nworkers + 1. */
void es_deal_split(const struct es_edge *edges, size_t nedges, unsigned nworkers, uint32_t *order,
                   size_t *first);

/* The probes of one worker, in start order: for attempt 1..repeat, for each
 * of its edges, for each variant. With stride > 1 the iterator yields only
 * every stride-th probe of that sequence, starting at offset (used to spread
 * one target over every worker, e.g. by bench). The edge list is borrowed. */
struct es_deal {
    const uint32_t *edges;
    size_t nedges;
    uint32_t nvariants, repeat;
    uint64_t _next, _total, _stride;
};

void es_deal_init(struct es_deal *d, const uint32_t *edges, size_t nedges, uint32_t nvariants,
                  uint32_t repeat, uint64_t offset, uint64_t stride);
/* Stores the next probe in *out; false when every probe has been dealt. */
bool es_deal_next(struct es_deal *d, struct es_probe_ref *out);
/* Probes not dealt yet. */
uint64_t es_deal_left(const struct es_deal *d);

/* ---- the per-IP gate (--per-ip) ----------------------------------------- */

/* In-flight probes per IP, at most `limit` each. A probe whose IP is at its
 * limit waits in that IP's FIFO; when a place is given back, the first waiter
 * takes it over directly, so waiters never lose their turn to newcomers.
 * Memory is allocated once, at init: the table holds every IP with probes in
 * flight (at most max_inflight), the pool max_waiting waiting probes. */
struct es_ipgate_entry;
struct es_ipgate_wait;

struct es_ipgate {
    uint32_t limit;
    struct es_ipgate_entry *_tab;
    size_t _mask;
    struct es_ipgate_wait *_pool;
    uint32_t _pool_cap, _free, _nwaiting;
    size_t _max_inflight, _inflight;
};

/* Fatal (exit 1) on allocation failure (start-up only). limit >= 1. */
void es_ipgate_init(struct es_ipgate *g, uint32_t limit, size_t max_inflight, size_t max_waiting);
void es_ipgate_free(struct es_ipgate *g);
/* Takes a place for ip when it has fewer than limit probes in flight: true.
 * False: nothing changed. The caller never holds more than max_inflight
 * places at once (it aborts otherwise: the table was sized for that). */
bool es_ipgate_enter(struct es_ipgate *g, const struct es_ip *ip);
/* Queues p behind ip, whose places are all taken (es_ipgate_enter said no).
 * False when the pool is full: the caller keeps p and stops dealing until a
 * waiter has started (a full pool means this worker is saturated anyway). */
bool es_ipgate_wait(struct es_ipgate *g, const struct es_ip *ip, const struct es_probe_ref *p);
/* Gives back a place of ip. When a probe waits for ip it takes the place over:
 * returns true with it in *next (the caller must start it, or give the place
 * back in turn). */
bool es_ipgate_leave(struct es_ipgate *g, const struct es_ip *ip, struct es_probe_ref *next);
/* Probes in flight for ip. */
uint32_t es_ipgate_inflight(const struct es_ipgate *g, const struct es_ip *ip);
/* Probes waiting, all IPs together. */
static inline size_t es_ipgate_waiting(const struct es_ipgate *g)
{
    return g->_nwaiting;
}
static inline bool es_ipgate_pool_full(const struct es_ipgate *g)
{
    return g->_nwaiting >= g->_pool_cap;
}

/* ---- the token bucket (--rate) ---------------------------------------- */

/* rate tokens per second, at most burst saved up (the bucket starts full).
 * rate <= 0 = no limit. */
struct es_bucket {
    double rate, burst, tokens;
    uint64_t last_ns;
};

void es_bucket_init(struct es_bucket *b, double rate, double burst, uint64_t now_ns);
/* Takes one token: true, or false when none is available at now_ns. */
bool es_bucket_take(struct es_bucket *b, uint64_t now_ns);
/* Nanoseconds until a token is available (0 = now). */
uint64_t es_bucket_wait_ns(const struct es_bucket *b, uint64_t now_ns);

#endif
