/* sched.h - which probe a worker starts next, and when.
 *
 * The scheduling half of the engine (engine.h), kept free of I/O so that it
 * can be tested on its own:
 *
 *  - dealing: edges go to workers by a hash of their IP, so every probe to
 *    an IP stays on one worker and its per-IP gate is exact for the process;
 *  - edge records (a copy of an edge the engine was given) and the probe
 *    order of one worker: a queue, round robin by attempt, so that --repeat N
 *    spreads the attempts over the scan instead of firing them back to back
 *    at one node;
 *  - the per-IP gate of --per-ip: in-flight probes per edge IP, with the
 *    probes that wait for their IP in a FIFO per IP (nothing is dropped);
 *  - the token bucket of --rate.
 *
 * Each structure belongs to one worker thread; none takes a lock. */
#ifndef EDGESHAKE_SCHED_H
#define EDGESHAKE_SCHED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgeshake/net-t.h"
#include "edgeshake/probe-t.h"

/* An edge as the engine holds it: a copy of the caller's edge and of the
 * strings it points to, and the share of its probes one worker runs. The
 * probes of an edge are numbered seq = (attempt - 1) * nvariants + variant,
 * 0 <= seq < total; a record runs seq = first, first + stride, ... (stride 1:
 * all of them; spread mode gives each of n workers every n-th). One
 * allocation; the worker that runs it frees it (free()) once `left` is 0. */
struct es_edgerec {
    struct es_edge edge;     /* strings point into str[] */
    struct es_edgerec *next; /* link in an inbox or a worker's queue */
    uint64_t seq;            /* the next probe to deal */
    uint64_t total, stride;
    uint64_t left; /* probes of this share without a row yet, dealt or not */
    bool requeue;  /* at the head, about to start its next attempt: goes behind newcomers */
    char str[];
};

/* One probe: its edge record, the variant index, the attempt 1..N. */
struct es_probe_ref {
    struct es_edgerec *rec;
    uint32_t variant;
    uint32_t attempt;
};

/* The probes of edge e in a run of nvariants variants and repeat attempts:
 * nvariants x repeat, or repeat for an edge with only_variant. */
static inline uint64_t es_edge_probes(const struct es_edge *e, size_t nvariants, uint64_t repeat)
{
    return (e->only_variant ? 1 : (uint64_t)nvariants) * repeat;
}

/* ---- dealing ---------------------------------------------------------- */

/* The worker (0..nworkers-1) that runs every probe to ip: with every probe
 * of an IP on one worker, that worker's per-IP gate holds --per-ip for the
 * whole process. A seeded XXH3 of the address. */
unsigned es_deal_worker(const struct es_ip *ip, unsigned nworkers);

/* The probes of share (first, stride) of an edge with total probes. */
uint64_t es_share_probes(uint64_t total, uint64_t first, uint64_t stride);

/* A record for e (copied, with host, resolver, ecs and resolver_addr) that
 * runs share (first, stride) of total probes; left = es_share_probes().
 * Fatal (exit 1) when memory runs out. The caller owns it (free()). */
struct es_edgerec *es_edgerec_new(const struct es_edge *e, uint64_t total, uint64_t first,
                                  uint64_t stride);

/* A worker's queue of edge records, in the order it starts their probes:
 * round robin by attempt. The head record deals its probes of one attempt
 * (variants in order), then goes to the tail while it has more, so attempt
 * k + 1 of an edge comes only after every edge queued behind it has had its
 * turn: --repeat never hits one node back to back, and with every edge queued
 * at once the order is attempt-major (attempt, edge, variant). A record that
 * has dealt all its probes leaves the queue (its probes still hold it). */
struct es_edgeq {
    struct es_edgerec *head, *tail;
    uint32_t nvariants;
    uint64_t undealt; /* probes of the queued records not dealt yet */
};

void es_edgeq_init(struct es_edgeq *q, uint32_t nvariants);
/* Appends rec (which has probes left to deal). */
void es_edgeq_push(struct es_edgeq *q, struct es_edgerec *rec);
/* Stores the next probe in *out; false when the queue is empty. */
bool es_edgeq_next(struct es_edgeq *q, struct es_probe_ref *out);
/* Takes the head record out with its undealt probes (0 for an empty queue:
 * NULL); used to let go of what was not dealt at a stop. */
struct es_edgerec *es_edgeq_pop(struct es_edgeq *q, uint64_t *undealt);

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
/* Takes every waiting probe out (a stop), calling fn for each. */
void es_ipgate_clear(struct es_ipgate *g, void (*fn)(void *arg, const struct es_probe_ref *p),
                     void *arg);
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

/* rate tokens per second for every worker together, at most burst saved up
 * (the bucket starts full). rate <= 0 = no limit. Shared by the workers
 * without a lock: a GCRA (virtual scheduling) on one atomic, the time at
 * which the next token is due; a take moves it one interval on with a
 * compare-and-swap. Shared, so no worker's share goes unused when it runs
 * out of work. */
struct es_bucket {
    uint64_t interval_ns; /* 1e9 / rate; 0 = no limit */
    uint64_t ahead_ns;    /* (burst - 1) x interval: how far takers may run ahead */
    _Atomic uint64_t due_ns;
};

void es_bucket_init(struct es_bucket *b, double rate, double burst, uint64_t now_ns);
/* Takes one token: true, or false when none is available at now_ns. Any thread. */
bool es_bucket_take(struct es_bucket *b, uint64_t now_ns);
/* Nanoseconds until a token is available (0 = now). */
uint64_t es_bucket_wait_ns(struct es_bucket *b, uint64_t now_ns);

#endif
