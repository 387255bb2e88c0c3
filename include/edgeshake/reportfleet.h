/* reportfleet.h - stage 3 of `edgeshake report`: fleet findings
 * (docs/findings.md "Fleet findings"). Internal to the report's stages (see
 * reporttab.h).
 *
 * The unit of a CDN failure is the edge node, the region's resolver, the
 * ClientHello variant or the certificate, each serving many hosts. This stage
 * groups the host findings by what they blame:
 *
 *   edge IP + failure     node / region / down / h2 / intermittent findings
 *   certificate + result  cert findings (verify ...)
 *   variant + failure     variant findings
 *   resolver + token      dns findings, and down findings without an address
 *
 * and makes one fleet finding (host "*", fleet = true) for each group that
 * holds two hosts or more, with hosts_failing of hosts_total (the hosts the
 * node / resolver / variant / certificate serves), up to five sample_hosts,
 * the resolvers through which users reach it (region logic: for how many
 * hosts it is a region's only edge), an explanation and a repro on one
 * sample host. A host finding all of whose failing edges (resolvers) have a
 * fleet finding is folded into them (folded = true). A `down` finding never
 * makes a fleet finding on its own: a host that fails everywhere says
 * nothing about its edges, so an edge is blamed only when it fails for hosts
 * that other edges serve. */
#ifndef EDGESHAKE_REPORTFLEET_H
#define EDGESHAKE_REPORTFLEET_H

#include "edgeshake/report.h"
#include "edgeshake/reporttab.h"

/* Appends the fleet findings for the host findings fs->v[0..fs->n) and marks
 * the host findings they explain folded. */
void rf_judge_fleet(const struct rt_report *r, struct es_findings *fs);

#endif
