/* reporthost.h - stage 2 of `edgeshake report`: the rules per host
 * (docs/findings.md "The kinds"). Internal to the report's stages (see
 * reporttab.h).
 *
 * Each finding made here is about one (host, port): scope host, host_failing
 * = hosts_total = 1, with links for the fleet stage (_host, _ips: the ip ids
 * of failing_ips, _resolvers for dns). Per-variant findings of one problem
 * are merged into one (variant = the list, "" = every variant). */
#ifndef EDGESHAKE_REPORTHOST_H
#define EDGESHAKE_REPORTHOST_H

#include "edgeshake/report.h"
#include "edgeshake/reporttab.h"

/* Appends the host findings of every host in r to fs. */
void rh_judge_hosts(const struct rt_report *r, struct es_findings *fs);

/* Sets f->failing_ips (sorted by address, ';'-joined) and f->_ips from the
 * ip ids ids[0..n) (duplicates allowed). */
void rh_set_ips(const struct rt_report *r, struct es_finding *f, const uint32_t *ids, size_t n);
/* The variant of host a certificate repro uses: one that sent SNI (a server
 * may answer a ClientHello without SNI with a default certificate), the
 * smallest name first, so that the repro does not depend on row order. */
const struct rt_hv *rh_sample_hv(const struct rt_report *r, const struct rt_host *host);
/* The ip ids, sorted by address, deduplicated; returns the count. */
size_t rh_sort_ips(const struct rt_report *r, uint32_t *ids, size_t n);

/* The RR_HELLO_* shapes of host finding f's variants when they are all
 * --hello pq or split (0 when one is plain). */
unsigned rh_hello_shapes(const struct rt_report *r, const struct es_finding *f);
/* The edgeshake command that reproduces host h's hello failure on ip. Malloc'd. */
char *rh_hello_repro(const struct rt_report *r, const struct es_finding *f, uint32_t h,
                     uint32_t ip);

#endif
