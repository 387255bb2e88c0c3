/* report.h - `edgeshake report`: findings from scan files (DESIGN §3.3).
 *
 * The report runs in stages, each in its own file (reporttab.h lists them):
 * read the files into compact tables keyed by (host, port, ip, variant),
 * judge each host (host findings), aggregate across the fleet per edge IP,
 * resolver, variant and certificate (fleet findings, which fold the host
 * findings they explain), compare with a baseline, and write text, csv, json
 * or html. Memory grows with distinct keys, never with rows.
 * docs/findings.md documents the rules. */
#ifndef EDGESHAKE_REPORT_H
#define EDGESHAKE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgeshake/config-t.h"

#define ES_REPORT_MAX_RESOLVERS 64
#define ES_REPORT_MAX_VANTAGES  64

/* Kinds in order of importance (text output lists them in this order). */
enum es_finding_kind {
    ES_FINDING_DOWN,
    ES_FINDING_REGION,
    ES_FINDING_VANTAGE,
    ES_FINDING_NODE,
    ES_FINDING_HELLO, /* an edge fails only with --hello pq or split */
    ES_FINDING_VARIANT,
    ES_FINDING_CERT,
    ES_FINDING_EXPIRY, /* a certificate expires within --expiry-days */
    ES_FINDING_H2,
    ES_FINDING_HTTP, /* --http-check: no response or 5xx on some edges */
    ES_FINDING_INTERMITTENT,
    ES_FINDING_CLOCK, /* an edge's clock (or the scanner's) is off by more than 60 s */
    ES_FINDING_WEAK,  /* DHE below 2048 bits, a certificate key below policy */
    ES_FINDING_DNS,
    ES_FINDING_DRIFT, /* from enum files: reportdrift.h */
    ES_FINDING_NKINDS,
};

/* "node", "region", ...; es_finding_kind_parse returns -1 for an unknown name. */
const char *es_finding_kind_name(enum es_finding_kind kind);
int es_finding_kind_parse(const char *name, size_t len);

/* One finding: the columns of DESIGN §3.3. host/variant point into the
 * report's tables; the char * fields are owned (freed by es_findings_free). */
struct es_finding {
    enum es_finding_kind kind;
    const char *host;    /* "*" for a resolver dead for every host */
    int port;            /* 0 with host "*" */
    const char *variant; /* "" when the finding does not depend on the variant */
    char *failure;
    char *failing_ips, *passing_ips;             /* ';'-joined */
    char *failing_resolvers, *passing_resolvers; /* ';'-joined */
    uint64_t failed, attempts;
    char *explain, *repro;
    char *failing_vantages, *passing_vantages; /* `vantage` findings; "" otherwise */
    /* ---- fleet level (DESIGN §3.3 "Two levels") ---- */
    bool fleet;             /* scope: false = "host", true = "fleet" (host is "*") */
    uint64_t hosts_failing; /* fleet: hosts it fails for; host findings: 1 */
    uint64_t hosts_total;   /* fleet: hosts the node/resolver/variant serves; host: 1 */
    char *sample_hosts;     /* fleet: up to five ';'-joined hosts; "" otherwise */
    const char *change;     /* with --baseline: "new", "persisting", "fixed"; "" otherwise */
    bool folded; /* a host finding that a fleet finding explains (shown with --by-host only) */
    /* ---- private: links between the stages ---- */
    size_t _host_variants; /* variants probed on the host (for merging) */
    char *_variants;       /* owned ';'-joined list when merged (variant points here) */
    uint32_t _host;        /* host index + 1 in the tables; 0 = none */
    uint32_t *_ips;        /* owned: ip ids of failing_ips */
    size_t _nips;
    uint64_t _resolvers; /* dns findings: the failing resolvers */
    char *_own;          /* owned host/variant text of a finding read back from JSON */
};

struct es_findings {
    struct es_finding *v;
    size_t n, cap;
};

/* Sorts fleet findings first (by kind, then what they name), then host
 * findings by host, port, kind (importance), variant; fixed findings (from
 * --baseline) last. */
void es_findings_sort(struct es_findings *fs);
void es_findings_free(struct es_findings *fs);
/* Appends a zeroed finding (its char * fields NULL until set) and returns it. */
struct es_finding *es_findings_add(struct es_findings *fs);
/* Sets the char * fields still NULL to "" (owned), and variant/change when NULL. */
void es_finding_fill(struct es_finding *f);
/* Frees what one finding owns (es_findings_free does it for each). */
void es_finding_release(struct es_finding *f);
/* Removes (and frees) the folded host findings. */
void es_findings_drop_folded(struct es_findings *fs);

/* What was read: the tables (private) and counts. */
struct es_report_input {
    void *_r;
    uint64_t rows, planned, bad_rows;
    size_t nfiles, nhosts;
    const char *const *files; /* the names es_report_read was given (borrowed), for */
    size_t nnames;            /* the runs of their FILE.meta.json (meta.h) */
    /* options of es_report_judge, set after es_report_input_init */
    bool by_host;         /* keep the host findings a fleet finding explains (folded = true) */
    unsigned expiry_days; /* --expiry-days: `expiry` within this many days (0 = 21) */
    /* the summary, filled by es_report_judge */
    size_t nfleet, nhost_findings; /* shown findings of each scope (not fixed) */
    uint64_t fleet_hosts;          /* host failures the fleet findings cover */
};

/* min_repeat: attempts a (host, ip, variant) needs before a mix of successes
 * and failures is called intermittent. Free with es_report_input_free. */
void es_report_input_init(struct es_report_input *in, unsigned min_repeat);
void es_report_input_free(struct es_report_input *in);
/* Streams files into the tables. A missing column or an unreadable file is
 * an error; a malformed row is an error ("FILE:LINE: ...") unless skip_bad,
 * which counts it. Returns 0, or -1 with the message in err. */
int es_report_read(struct es_report_input *in, const char *const *files, size_t nfiles,
                   bool skip_bad, struct es_findings *fs, char *err, size_t errlen);
/* Applies the rules (docs/findings.md): host findings, then fleet findings,
 * which fold the host findings they explain (dropped unless in->by_host);
 * sorts the findings and fills the summary counts. */
void es_report_judge(struct es_report_input *in, struct es_findings *fs);
/* Recounts in's summary (nfleet, nhost_findings, fleet_hosts) from fs. */
void es_report_count(struct es_report_input *in, const struct es_findings *fs);

/* One heat-map cell: (host, port, variant) x ip; or a DNS cell (ip "",
 * variant ""): the host's lookup through the one resolver in `resolvers`
 * failed (failure = the DNS token, fail = 1, ok = 0). Every failure shows: a
 * handshake that failed (fail, failure), a certificate that does not verify
 * (verify), an HTTP/2 or HTTP check that failed after the handshake. */
struct es_heat_cell {
    const char *host;
    int port;
    const char *variant, *ip, *resolvers, *failure;
    const char *vantage; /* "" when the files hold one vantage */
    uint64_t ok, fail;
    const char *verify; /* the edge's verify failure ("expired"), "" when none */
    /* Handshakes that succeeded but whose HTTP/2 check failed, and the first
     * failure token ("goaway_2"), "" when none. Not split by vantage: with
     * several vantages only the first vantage's cell carries them. */
    uint64_t h2fail;
    const char *h2;
    /* Likewise for --http-check: no response or a 5xx status ("status 525",
     * "no response"). */
    uint64_t httpfail;
    const char *http;
    uint64_t h2ok; /* handshakes whose HTTP/2 check passed (likewise) */
};
typedef void (*es_heat_fn)(void *arg, const struct es_heat_cell *cell);
/* Calls fn for every cell, grouped by host and variant, a host's DNS cells
 * last; with several vantages in the files, one cell per (host, port,
 * variant, ip, vantage). Strings are valid during the call only. */
void es_report_heatmap(const struct es_report_input *in, es_heat_fn fn, void *arg);

enum es_report_format { ES_REPORT_TEXT, ES_REPORT_CSV, ES_REPORT_JSON, ES_REPORT_HTML };
/* --format wins; else from the -o suffix (.txt .csv .json .html .htm); else
 * text (a terminal or not). */
enum es_report_format es_report_format_pick(const char *explicit_name, const char *path);
/* Writes the findings to path ("-" = stdout). Returns 0, or -1 with "cannot
 * write PATH: cause" in err. A reader that goes away (`report | head`:
 * EPIPE on stdout) is not an error: it returns 0 and writes nothing more. */
int es_report_write(const struct es_report_input *in, const struct es_findings *fs,
                    enum es_report_format fmt, const char *path, char *err, size_t errlen);

/* Runs the report command: 0, 2 on bad input (message printed), 1 when the
 * output cannot be written, 3 when --fail-on findings were found (one line on
 * stderr names them). */
int es_report_main(const struct es_config *cfg);

#endif
