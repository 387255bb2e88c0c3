/* bench.h - `edgeshake bench [TARGET]`: full-handshake throughput and latency
 * of the scanner against one server (DESIGN §3.4, §4).
 *
 * Every handshake is a new connection (the engine never resumes a session:
 * no session cache, no tickets). The target is HOST[:PORT], IP[:PORT] or
 * HOST[:PORT]@IP as for scan (port 443 by default; a HOST without @IP is
 * resolved once, before the run, with getaddrinfo). With no target, bench
 * starts `edgeshake lab` in a separate process (fork + exec of the running
 * binary) with one ECDSA P-256 edge on a 127.30.X.Y address, waits for its
 * `ready` file and SIGTERMs it at the end: the server's CPU is never counted
 * as the scanner's. (ES_LAB_BIN in the environment names another binary to
 * run the lab with, e.g. when bench itself runs under valgrind.)
 *
 * The run is the engine (engine.h) with one edge, one variant (--tls V, no
 * ALPN, SNI = the target's host name, none for IP targets) and `-n N`
 * attempts dealt round robin over `-t` workers with `-c` in flight (no
 * per-IP limit: the target is the benchmark's own server), or, with
 * --duration S, as many as start within S seconds.
 *
 * Figures (output: text, csv or json; see bench_print in bench.c):
 *   handshakes      completed handshakes (rows with status ok)
 *   attempts        rows of any status
 *   seconds         wall time of the engine run
 *   hs_per_s        handshakes / seconds
 *   cpu_us_per_hs   getrusage(RUSAGE_SELF) user+sys over the run only, per
 *                   handshake (every thread of this process, never the lab's)
 *   connect_ms, handshake_ms: p50 p90 p99 max from log-bucketed histograms
 *                   (es_hist below; one per worker, merged at the end)
 *   peak_rss_kb     ru_maxrss; rss_before_kb: VmRSS just before the run
 *   rss_per_inflight_kb  (peak_rss_kb - rss_before_kb) / in-flight handshakes
 *   errors          failed attempts by kind: the error token
 *                   (connection_refused, handshake_timeout, ...), or
 *                   alert_NAME for a peer alert
 *   verify          the verify column of the completed handshakes, by value
 *                   (off with --no-verify; ok when the chain and name check)
 *
 * Exit status: 0 when the benchmark ran to the end (failed handshakes are
 * figures, not errors); 2 for a usage error; 1 when the lab or the engine
 * cannot start or the output cannot be written; 130 after SIGINT/SIGTERM
 * (the figures of what ran are still printed). */
#ifndef EDGESHAKE_BENCH_H
#define EDGESHAKE_BENCH_H

#include <stdint.h>

#include "edgeshake/config-t.h"

/* Runs `edgeshake bench`; returns the exit status above. */
int es_bench_main(const struct es_config *cfg);

/* ---- latency histogram ------------------------------------------------------
 * Values in microseconds. Exact below 32 µs; above, each power of two is split
 * into 16 equal buckets (relative error under 1/16); values of 2^41 µs and
 * more (25 days) share the last bucket. Fixed size, no allocation: add is an
 * index computation and an increment. */
#define ES_HIST_SUB_BITS 4
#define ES_HIST_MAX_EXP  40
#define ES_HIST_BUCKETS  ((ES_HIST_MAX_EXP - ES_HIST_SUB_BITS + 2) << ES_HIST_SUB_BITS)

struct es_hist {
    uint64_t count;
    uint64_t min_us, max_us; /* exact; min_us is UINT64_MAX while count == 0 */
    uint64_t bucket[ES_HIST_BUCKETS];
};

/* Empties h. */
void es_hist_init(struct es_hist *h);
/* Records one value. */
void es_hist_add(struct es_hist *h, uint64_t us);
/* Adds every value of src to dst. */
void es_hist_merge(struct es_hist *dst, const struct es_hist *src);
/* The bucket of a value, and the smallest value of a bucket (exposed for the
 * tests). es_hist_bucket_low(es_hist_bucket(v)) <= v for every v. */
unsigned es_hist_bucket(uint64_t us);
uint64_t es_hist_bucket_low(unsigned bucket);
/* The q-quantile (0 < q <= 1) in µs: the middle of the bucket that holds the
 * value of rank ceil(q * count), clamped to [min_us, max_us], so quantiles never
 * decrease with q and never exceed the maximum. 0 when count == 0. */
uint64_t es_hist_quantile(const struct es_hist *h, double q);

#endif
