/* row.h - what a planned probe is before it runs: the SNI it sends and the
 * columns of its row that come from the plan. One place for each rule: the
 * engine, the TLS probe and scan's --dry-run all go through these. */
#ifndef EDGESHAKE_ROW_H
#define EDGESHAKE_ROW_H

#include <stdint.h>

#include "edgeshake/probe-t.h"
#include "edgeshake/row-t.h"
#include "edgeshake/variant-t.h"

/* The SNI name a probe of edge e with variant v sends, or NULL when it sends
 * none (SNI mode none, or mode host on an IP target). Borrowed from v or e. */
const char *es_probe_sni(const struct es_variant *v, const struct es_edge *e);

/* Fills the columns of row that come from the plan: time (now), vantage,
 * host, port, ip, family, resolver, ecs, sni (es_probe_sni, "none" when
 * NULL), variant and its offered columns, attempt and dns_ms; every other
 * column is empty (es_row_init). ipbuf (ES_IP_TEXT bytes) holds the ip text
 * the row points to. */
void es_row_plan(struct es_row *row, const char *vantage, const struct es_edge *e,
                 const struct es_variant *v, uint32_t attempt, char *ipbuf);

#endif
