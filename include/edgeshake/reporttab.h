/* reporttab.h - the report's tables: stage 1 of `edgeshake report` (reading).
 *
 * Internal to the report's stages (src/report*.c), not a public API:
 *
 *   reporttab.c    rows -> tables          (this header)
 *   reporthost.c   tables -> host findings (reporthost.h)
 *   reportfleet.c  host findings -> fleet findings, folding (reportfleet.h)
 *   reportrules.c  explanation and repro rules, one table (reportrules.h)
 *   reportbase.c   finding identity, --baseline (reportbase.h)
 *   reportout.c    findings -> text, csv, json (report.h)
 *   report.c       `edgeshake report`: the stages in order
 *
 * Memory grows with distinct keys, never with rows. Every string of the
 * files becomes a dense id (a host, an edge IP, a variant, a failure, a
 * token), and per-key state is a few counters and ids:
 *
 *   host  (host, port)              56 bytes
 *   hv    (host, port, variant)     28 bytes
 *   hi    (host, port, ip)          80 bytes
 *   hiv   (host, port, ip, variant) 36 bytes
 *
 * which is about 80 bytes per distinct (host, ip, variant) for a host with 4
 * edges and 2 variants. Lookups walk the owner's chain while it is short (a
 * host has a handful of edges and variants) and switch to a hash table past
 * RT_CHAIN entries, so the common case touches no table at all.
 *
 * Ids are 1-based; 0 means "none". Indices into the key arrays are 0-based;
 * chains (first_*, next) hold index + 1. */
#ifndef EDGESHAKE_REPORTTAB_H
#define EDGESHAKE_REPORTTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgeshake/intern.h"
#include "edgeshake/report.h"
#include "edgeshake/scanread.h"

enum { RT_CHAIN = 8 };

/* Strings kept for the life of the report, in 64 KiB blocks. */
struct rt_arena {
    struct rt_block *head;
};

/* A string -> dense id table (ids 1..n, in order of first sight). */
struct rt_str {
    const char *s;
    uint32_t len, hash;
};
struct rt_strtab {
    struct rt_str *v;
    size_t n, cap;
    uint32_t *slots; /* id, 0 = empty */
    size_t mask;
};

/* A (uint32, uint32) -> index table, used past RT_CHAIN. */
struct rt_pairtab {
    uint64_t *keys;
    uint32_t *vals; /* index + 1, 0 = empty */
    size_t mask, n;
};

struct rt_host { /* (host, port) */
    const char *name;
    uint32_t hash;
    uint16_t port;
    uint16_t nvariants;
    uint32_t nips;
    uint32_t first_hv, first_hi, first_dns;
    uint32_t ok, attempts;
    uint64_t answered;   /* resolvers that returned an address (probe rows) */
    uint64_t dns_failed; /* resolvers with a dns_error row */
};

struct rt_dns { /* (host, resolver) that failed: the first token */
    uint32_t next;
    uint16_t token;
    uint8_t resolver;
};

struct rt_hv { /* (host, port, variant) */
    uint32_t host, next, first_hiv, nhiv;
    uint32_t variant; /* id in r->variants */
    uint32_t ok, attempts;
};

struct rt_hi { /* (host, port, ip) */
    uint32_t host, next;
    uint32_t ip; /* id in r->ips */
    uint32_t vok, vfail, nsha;
    uint16_t vtoken;    /* first verify failure (token id), 0 = none */
    uint16_t flaky_sig; /* set when some variant both passed and failed here */
    uint16_t httptok;   /* the first failed --http-check ("status 525"), token id */
    uint64_t sha;       /* xxh3 of the first cert_sha256, 0 = none */
    uint64_t resolvers;
    /* issue #16's columns (the kinds http, clock, expiry, weak) */
    uint32_t httpok, httpbad; /* --http-check: a status below 500; none or 5xx */
    int32_t skew;             /* clock_skew_s of the first row that had one */
    int32_t days;             /* the fewest cert_days_left seen */
    int32_t until;            /* the day (since 1970) that certificate ends, 0 = unknown */
    uint16_t weakkx, weakkey; /* "DHE 1024 bits", "RSA 1024-bit key" (token ids), 0 = none */
    uint8_t has_skew, has_days;
};

struct rt_hiv { /* (host, port, ip, variant) */
    uint32_t hv, hi, next;
    uint32_t ok, fail, h2ok, h2fail;
    uint16_t sig;      /* first failure (id in r->sigs), 0 = none */
    uint16_t h2tok;    /* first h2 failure (token id), 0 = none */
    uint16_t httpfail; /* --http-check: no response or 5xx (heat map only; saturates) */
    uint8_t vantage;   /* the one vantage seen, or RT_MULTI: counts in r->hivv */
};
#define RT_MULTI 255

/* One distinct failure: its text and what the rules need to explain it. */
struct rt_sig {
    const char *text; /* "alert 70 protocol_version", "connection_refused" (interned) */
    const char *status, *error, *stage; /* interned */
    int alert;                          /* a fatal alert the peer sent; -1 = none */
};

/* What a variant offers (from its first row). */
struct rt_variant {
    const char *name, *tls, *alpn, *ciphers, *groups;
    const char *sni;   /* NULL: the host name; else what was sent ("none", NAME) */
    const char *hello; /* ClientHello shape: "plain" (also for files without it), "pq", "split" */
};

struct rt_report {
    struct es_intern *pool; /* small vocabularies: texts that are compared by pointer */
    struct rt_arena arena;  /* host names */
    struct rt_host *hosts;
    size_t nhosts, caphosts;
    uint32_t *hostslots; /* index + 1 */
    size_t hostmask;
    struct rt_hv *hvs;
    size_t nhvs, caphvs;
    struct rt_hi *his;
    size_t nhis, caphis;
    struct rt_hiv *hivs;
    size_t nhivs, caphivs;
    struct rt_dns *dns;
    size_t ndns, capdns;
    struct rt_pairtab thv, thi, thiv; /* past RT_CHAIN */
    struct rt_pairtab thivv;          /* (hiv, vantage) -> index into hivv */
    uint32_t (*hivv)[2];              /* ok, fail */
    size_t nhivv, caphivv;
    struct rt_strtab ips, variant_names, tokens, sigkeys;
    struct rt_variant *variants; /* by variant id - 1 */
    size_t capvariants;
    struct rt_sig *sigs; /* by sig id - 1 */
    size_t capsigs;
    const char *vantages[ES_REPORT_MAX_VANTAGES];
    size_t nvantages;
    const char *resolvers[ES_REPORT_MAX_RESOLVERS];
    const char *resolver_addr[ES_REPORT_MAX_RESOLVERS]; /* ADDR:PORT, NULL = unknown */
    size_t nresolvers;
    uint64_t have_addr;
    bool warned_resolvers;
    /* one-entry caches of the last row's strings */
    uint32_t last_host, last_variant, last_ip;
    char *last_resolver;
    uint64_t last_mask;
    struct {
        uint64_t hash;
        uint32_t id;
    } * hostcache;
    /* certificates that failed verification: xxh3 -> cert_sha256 text */
    struct {
        uint64_t hash;
        const char *text;
    } failcerts[256];
    size_t nfailcerts;
    uint64_t rows, planned, bad_rows;
    size_t nfiles;
    unsigned min_repeat;
    unsigned expiry_days; /* --expiry-days (21) */
};

void rt_init(struct rt_report *r, unsigned min_repeat);
void rt_free(struct rt_report *r);

/* Streams files into the tables (es_report_read's contract). */
int rt_read(struct rt_report *r, const char *const *files, size_t nfiles, bool skip_bad, char *err,
            size_t errlen);

/* Whether variant v is a plain ClientHello (not --hello pq or split). */
static inline bool rt_plain_hello(const struct rt_variant *v)
{
    return !strcmp(v->hello, "plain");
}

/* Intermittence belongs to the node: sets hi->flaky_sig (docs/findings.md). */
void rt_mark_flaky(struct rt_report *r);

/* Accessors. Strings are owned by the tables. */
static inline const char *rt_ip(const struct rt_report *r, uint32_t id)
{
    return r->ips.v[id - 1].s;
}
static inline const struct rt_variant *rt_variant(const struct rt_report *r, uint32_t id)
{
    return &r->variants[id - 1];
}
static inline const char *rt_token(const struct rt_report *r, uint16_t id)
{
    return id ? r->tokens.v[id - 1].s : "";
}
static inline const struct rt_sig *rt_sig(const struct rt_report *r, uint16_t id)
{
    return &r->sigs[id - 1];
}
static inline const char *rt_hiv_ip(const struct rt_report *r, const struct rt_hiv *x)
{
    return rt_ip(r, r->his[x->hi].ip);
}
/* The text of a hiv's first failure, an interned pointer ("" when none). */
static inline const char *rt_hiv_sig(const struct rt_report *r, const struct rt_hiv *x)
{
    return x->sig ? rt_sig(r, x->sig)->text : "";
}
/* The (host, ip) entry of host h and ip id, or -1 when h never saw ip. */
int64_t rt_hi_find(const struct rt_report *r, uint32_t h, uint32_t ip);
/* The first dns error token of (host h, resolver index), 0 = none. */
uint16_t rt_dns_token(const struct rt_report *r, uint32_t h, unsigned resolver);
/* The SNI a probe of hv sent: the host name, "none" or a fixed NAME. */
const char *rt_sni(const struct rt_report *r, const struct rt_hv *hv);
/* The cert_sha256 text of a certificate that failed verification, or "". */
const char *rt_failcert(const struct rt_report *r, uint64_t hash);

/* How one edge did for one variant, vantage by vantage: the vantages where
 * every attempt passed (*okv) or failed (*failv); *mixed when a vantage saw
 * both. */
void rt_vantage_masks(const struct rt_report *r, uint32_t hiv, uint64_t *okv, uint64_t *failv,
                      bool *mixed);
/* Calls fn(arg, vantage, ok, fail) for each vantage that saw hiv. */
void rt_vantage_each(const struct rt_report *r, uint32_t hiv,
                     void (*fn)(void *arg, uint32_t vantage, uint32_t ok, uint32_t fail),
                     void *arg);

/* The labels of mask, sorted and ';'-joined (malloc'd): the same whatever
 * order the files were read in. */
char *rt_join_resolvers(const struct rt_report *r, uint64_t mask);
char *rt_join_vantages(const struct rt_report *r, uint64_t mask);
/* Orders IP strings by address (IPv4 first), else by text; for qsort over
 * const char *. */
int rt_ip_cmp(const void *a, const void *b);

#endif
