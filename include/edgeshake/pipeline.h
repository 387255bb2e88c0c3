/* pipeline.h - targets to edges as a stream (DESIGN §2 Pipeline, issue 12).
 *
 *   target reader ─► shard filter ─► DNS window ─► per-host barrier ─► sink
 *   (streaming)      (xxh3 of host)   (≤ window hosts,  (every resolver       (engine feed,
 *                                      every resolver)   answered)             or dry-run rows)
 *
 * Targets are read one at a time and only while the window has room: at most
 * `window` host names are being resolved (through every resolver) at once,
 * and of those at most 512 that no resolver has answered yet and that were
 * admitted less than 100 ms ago (a burst of window x resolvers queries would
 * queue in the resolvers and delay every answer, the first one included).
 * A host's edges go to the sink as soon as all its resolvers have answered;
 * its DNS failures go to the sink as one call per (port, resolver) then too.
 * IP targets, and HOST@IP targets whose host is not being resolved, go to
 * the sink at once. A host named again while it is in the window (another
 * port, a HOST@IP) joins its plan, so it is resolved once and each (port, ip)
 * is one edge with every resolver that returned it. After the sink has been
 * called, nothing of the host is kept: memory is set by the window, not by
 * the number of targets.
 *
 * Each resolver has its own in-flight budget of window x families queries
 * (dns.h), so a resolver that never answers holds only its own queries: its
 * hosts wait one DNS deadline (dns-timeout x (dns-retries + 1)) for their
 * barrier, and the window bounds how many hosts wait at once: such a
 * resolver caps the pipeline at window / deadline hosts per second (1,365
 * with the defaults), far above what the probes of those hosts take.
 *
 * The sink is called from the thread running es_pipeline_run, outside every
 * c-ares callback, and may block (the engine's feed does when enough probes
 * are queued): answers that arrive meanwhile wait in the socket buffers and
 * are read before any deadline is judged (loop.h runs ready sockets before
 * timers), though their dns_ms then includes the wait. */
#ifndef EDGESHAKE_PIPELINE_H
#define EDGESHAKE_PIPELINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgeshake/probe-t.h"
#include "edgeshake/resolver.h"
#include "edgeshake/target.h"

#define ES_PIPELINE_WINDOW    8192 /* hosts being resolved at once (default) */
#define ES_PIPELINE_LOOKAHEAD 4096 /* targets checked before anything starts (default) */

/* One failed (host, port, resolver): a dns_error row. Strings valid during the call. */
struct es_dns_failure {
    const char *host;
    uint16_t port;
    size_t resolver;           /* index into the resolver array */
    const char *label;         /* its label */
    const char *ecs;           /* its ECS subnet, "" = none */
    const char *resolver_addr; /* its ADDR:PORT */
    const char *error;         /* a token of dns.h, never NULL */
    double dns_ms;
};

struct es_pipeline_sink {
    /* A host's edges (n >= 1), borrowed for the call. Return < 0 to stop the
     * pipeline (the engine failed or was interrupted). */
    int (*edges)(void *arg, const struct es_edge *edges, size_t n);
    void (*dns_failure)(void *arg, const struct es_dns_failure *f);
    void *arg;
};

struct es_pipeline_params {
    struct es_target_reader *reader; /* borrowed; read to its end */
    const struct es_edges *edges;    /* --edges, or NULL: every address for every host */
    unsigned family;                 /* ES_DNS_FAMILY_* */
    unsigned shard_i, shard_n;       /* keep hosts with xxh3(host) mod shard_n == shard_i */
    const struct es_resolver_spec *resolvers;
    size_t nresolvers;
    const char *const *labels; /* interned in pool, one per resolver */
    const char *const *ecs;
    struct es_intern *pool; /* for the joined provenance strings */
    unsigned dns_timeout_ms, dns_retries;
    size_t window;               /* 0 = ES_PIPELINE_WINDOW */
    size_t lookahead;            /* targets read (and checked) before the first query or call to the
                                    sink: a bad target among them is ES_PIPELINE_BAD_INPUT with
                                    nothing done (0 = ES_PIPELINE_LOOKAHEAD) */
    bool progress;               /* a status line on stderr once a second */
    volatile sig_atomic_t *stop; /* checked between steps; may be NULL */
    struct es_pipeline_sink sink;
};

enum es_pipeline_status {
    ES_PIPELINE_DONE = 0,  /* every target read, every host handed over */
    ES_PIPELINE_STOPPED,   /* *stop, or the sink returned < 0 */
    ES_PIPELINE_BAD_INPUT, /* a bad target: message in err (file:line: ...) */
    ES_PIPELINE_FAILED,    /* DNS could not start or its loop failed: message in err */
};

struct es_pipeline_stats {
    uint64_t targets;       /* targets read (after deduplication) */
    uint64_t kept;          /* of those, in this shard */
    uint64_t hosts;         /* host names resolved */
    uint64_t edges;         /* edges handed to the sink */
    uint64_t dns_failures;  /* dns_failure calls */
    size_t max_window;      /* most hosts in the window at once */
    uint64_t first_edge_ms; /* 1 + ms from es_pipeline_run to the first edges call; 0 = none */
    bool started;           /* anything was sent or handed over */
};

struct es_pipeline;

/* Reads and checks the first p->lookahead targets (nothing is sent). Returns
 * NULL with "PLACE: what is wrong" in err on a bad one; the caller exits 2.
 * *p is copied; what it points to is borrowed until es_pipeline_free. */
struct es_pipeline *es_pipeline_new(const struct es_pipeline_params *p, char *err, size_t errlen);

/* Starts DNS and runs the pipeline to its end, *stop, or a sink failure.
 * BAD_INPUT: a bad target after the look-ahead ("PLACE: what is wrong" in
 * err); the hosts still in the window are dropped without rows. FAILED: DNS
 * could not start or its loop failed (message in err). Call once. */
enum es_pipeline_status es_pipeline_run(struct es_pipeline *pl, char *err, size_t errlen);

const struct es_pipeline_stats *es_pipeline_stats(const struct es_pipeline *pl);

/* Frees pl (NULL is fine). */
void es_pipeline_free(struct es_pipeline *pl);

#endif
