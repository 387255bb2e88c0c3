/* reporthtml-int.h - the html report's insides, shared by its two files
 * (not a contract: that is include/edgeshake/reporthtml.h).
 *
 *   reporthtml_model.c  the model: one pass over es_report_heatmap folds the
 *                       cells into tallies per (ip, variant), per ip, per
 *                       (resolver, variant) and per resolver, in hash tables
 *                       on xxh3; keeps the cells of the hosts whose heat maps
 *                       are drawn; groups the host findings and shares the
 *                       page's rows between the groups.
 *   reporthtml.c        writes the page from the model.
 *
 * Memory grows with distinct ips x variants and with findings, never with
 * rows, and with hosts only by a 64-bit serial: strings are interned, and
 * cells are kept only for the at most RH_HEAT_HOSTS_MAX hosts drawn. */
#ifndef EDGESHAKE_REPORTHTML_INT_H
#define EDGESHAKE_REPORTHTML_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgeshake/intern.h"
#include "edgeshake/report.h"

/* The page's caps; each says on the page what it left out. */
enum {
    RH_IP_ROWS_MAX = 40,      /* failing edges in the overview matrix */
    RH_FLEET_ROWS_MAX = 500,  /* fleet findings listed */
    RH_HOST_ROWS_MAX = 3000,  /* host findings listed, over all groups */
    RH_GROUP_ROWS_MAX = 500,  /* host findings listed per group */
    RH_HEAT_HOSTS_MAX = 100,  /* heat maps drawn */
    RH_OPEN_GROUPS_UPTO = 30, /* host findings: groups start open up to this many findings */
};

#define RH_NRES ES_REPORT_MAX_RESOLVERS
#define RH_NONE UINT32_MAX

/* A hash table of indexes (open addressing; the hash is kept in the slot,
 * equality is the caller's). */
struct rh_slot {
    uint64_t h;
    uint32_t idx; /* index + 1; 0 = empty */
};

struct rh_map {
    struct rh_slot *s;
    size_t mask, n;
};

/* What went wrong in some probes: summed over cells. */
struct rh_tally {
    uint64_t ok, fail; /* handshakes */
    uint64_t vbad;     /* good handshakes to an edge whose certificate does not verify */
    uint64_t h2bad;    /* good handshakes whose HTTP/2 check failed */
    uint64_t httpbad;  /* good handshakes whose HTTP check failed (none, 5xx) */
    uint64_t dns;      /* failed lookups */
    const char *failure, *verify, *h2, *http, *dns_token; /* first seen, interned */
};

struct rh_ip {
    const char *ip;  /* interned */
    uint64_t region; /* resolvers that returned it, one bit per label */
    uint64_t hosts, hosts_bad;
    uint64_t seen, seen_bad; /* serial of the last host counted */
    struct rh_tally t;
};

struct rh_iv { /* (ip, variant) */
    uint32_t ip, var;
    struct rh_tally t;
};

struct rh_resolver {
    const char *label; /* interned */
    uint64_t hosts, seen;
    struct rh_tally dns; /* .dns, .dns_token */
};

struct rh_combo { /* a `resolvers` string seen in cells, and its bits */
    const char *s;
    uint64_t mask;
};

struct rh_host {      /* a host with findings */
    const char *host; /* interned */
    int port;         /* 0: any (a fleet finding's sample host without a port) */
    int seen_port;    /* the port of its first cell */
    bool dup;         /* also named without a port (that entry draws the map) */
    unsigned kinds;   /* bit per enum es_finding_kind */
    bool drawn;
};

struct rh_cell {             /* a cell of a drawn host */
    uint32_t host, var;      /* var RH_NONE: a DNS cell */
    const char *ip, *region; /* interned; ip "" for DNS */
    struct rh_tally t;
};

struct rh_model {
    struct es_intern *pool;
    struct rh_ip *ips;
    size_t nips, capips;
    struct rh_iv *ivs;
    size_t nivs, capivs;
    const char **vars; /* labels "variant" or "variant @ vantage", interned */
    size_t nvars, capvars;
    uint32_t *var_rank; /* position in label order */
    struct rh_resolver res[RH_NRES];
    size_t nres;
    struct rh_tally *rv; /* [var * RH_NRES + res] */
    size_t caprv;
    struct rh_combo *combos;
    size_t ncombos, capcombos;
    struct rh_host *hosts;
    size_t nhosts, caphosts, ndrawn;
    struct rh_cell *cells;
    size_t ncells, capcells;
    struct rh_map mip, miv, mvar, mcombo, mhost;
    /* the current host (cells come grouped by host) */
    uint64_t serial;
    char *cur_host;
    int cur_port;
    uint32_t cur_sel;
    /* one-entry caches: cells come in runs of one variant and resolver set */
    char *last_res, *last_var, *last_vantage;
    uint64_t last_mask;
    uint32_t last_var_idx;
};

struct rh_group {
    const struct es_finding *const *v;
    size_t n;
    size_t rows; /* listed on the page */
};

struct rh_groups {
    const struct es_finding **v; /* the host findings, by group */
    size_t n;
    struct rh_group *g;
    size_t ng;
};

static inline const char *rh_str(const char *s)
{
    return s ? s : "";
}

static inline bool rh_is_fleet(const struct es_finding *x)
{
    return x->fleet || !strcmp(x->host, "*");
}

/* Probes of t that failed in any way, and all of them. */
uint64_t rh_tally_bad(const struct rh_tally *t);
uint64_t rh_tally_all(const struct rh_tally *t);

/* Groups the host findings of fs by kind and failure (order: kind, then the
 * larger group) and shares RH_HOST_ROWS_MAX rows between them. Free with
 * rh_groups_free. */
void rh_groups_build(struct rh_groups *gs, const struct es_findings *fs);
void rh_groups_free(struct rh_groups *gs);

/* Builds the model of the files in `in` for the findings fs, grouped in gs.
 * Free with rh_model_free. */
void rh_model_build(struct rh_model *m, const struct es_report_input *in,
                    const struct es_findings *fs, const struct rh_groups *gs);
void rh_model_free(struct rh_model *m);
/* The tally of (ip, variant) indexes; NULL when that edge never saw it. */
const struct rh_tally *rh_iv_tally(const struct rh_model *m, uint32_t ip, uint32_t var);
/* "a + b": the labels of the resolver bits of mask, alphabetically; "-"
 * for none. Interned in the model's pool. */
const char *rh_region_name(struct rh_model *m, uint64_t mask);
/* The variant indexes in label order (the order of rows and columns
 * everywhere); the caller frees. */
uint32_t *rh_vars_in_order(const struct rh_model *m);

#endif
