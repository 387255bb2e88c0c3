/* reportdrift.h - `drift` findings from enum files (DESIGN §3.3, §3.6; issue 13).
 *
 * `report` hands every file whose header (CSV) or first object (JSONL) has
 * the enum columns (enum.h) to this module, and the rest to the scan rules.
 * Rows with status ok are compared; an edge is (host, port, ip).
 *
 *  - Host level: the edges of one (host, port) are siblings. With at least
 *    three, each dimension (versions, TLS <= 1.2 ciphers, TLS 1.3 suites,
 *    groups, ALPN) has a majority set when more than half of the edges accept
 *    exactly that set (order aside). An edge whose set differs from a
 *    majority is one `drift` finding listing exactly what differs: "127.0.4.3
 *    lacks TLS 1.3 and ECDHE-ECDSA-AES128-GCM-SHA256 that the 5 other edges
 *    of pay.example accept".
 *  - Fleet level: the same difference of one edge (ip, port) on several
 *    hosts (an edge that serves those hosts differs the same way from each
 *    host's siblings, e.g. the same set of hosts on the same edges, or a node
 *    of a pool that serves thousands of names) is one fleet finding (host
 *    "*", hosts_failing = those hosts, hosts_total = the hosts it serves in
 *    the enum files, up to five sample_hosts) instead of one per host.
 *  - With scan findings present, each drift finding names the scan findings
 *    on that edge that its difference explains (a missing version: failures
 *    of that version's variants; missing TLS <= 1.2 ciphers or TLS 1.3
 *    suites/groups: alert 40 or no_shared_cipher on that version; missing
 *    ALPN: alert 120); with none, it says the drift is latent (no scan
 *    variant has failed on it yet).
 *
 * Memory: one record per enum row (strings interned); enum files hold one
 * row per edge, not per probe. */
#ifndef EDGESHAKE_REPORTDRIFT_H
#define EDGESHAKE_REPORTDRIFT_H

#include <stdbool.h>
#include <stddef.h>

#include "edgeshake/report.h"

struct es_drift;

struct es_drift *es_drift_new(void);
/* Frees d and its strings: call after the findings are written (they point
 * into d). NULL is fine. */
void es_drift_free(struct es_drift *d);

/* True when path (not "-") is an enum file: its CSV header or first JSON
 * object names the enum columns. */
bool es_drift_is_enum_file(const char *path);

/* Reads the enum files among files[0..n) into d and stores the others, in
 * order, in scan[] (n entries), *nscan = how many. Returns 0, or -1 with
 * "FILE: ..." / "FILE:LINE: ..." in err. */
int es_drift_take(struct es_drift *d, const char *const *files, size_t n, const char **scan,
                  size_t *nscan, char *err, size_t errlen);

/* Edges read so far. */
size_t es_drift_edges(const struct es_drift *d);

/* Appends the drift findings to fs, linking the scan findings already in
 * it (scan_rows: rows read from scan files, 0 = none: no latent verdict),
 * and sorts fs again. */
void es_drift_judge(struct es_drift *d, struct es_findings *fs, unsigned long long scan_rows);

#endif
