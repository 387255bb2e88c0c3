/* enum.h - `edgeshake enum`: what every edge accepts (DESIGN §3.6, issue 13).
 *
 * For every distinct (host, port, ip) the enumerator finds the TLS versions
 * 1.0-1.3, the TLS <= 1.2 cipher suites in the server's preference order (and
 * whether the server prefers its own order), the TLS 1.3 suites, the
 * key-exchange groups, the ALPN protocols of a candidate list, and the
 * certificate served with and without SNI. It adapts: each ClientHello offers
 * everything not found yet, the server's choice is recorded and removed, and
 * the next ClientHello depends on that answer. docs/enum.md explains the
 * algorithm and the row.
 *
 * Three parts:
 *
 *  - The catalog: what can be offered. TLS <= 1.2 ciphers are every cipher
 *    this OpenSSL can put in a ClientHello (ALL:COMPLEMENTOFALL at security
 *    level 0: ~90 on OpenSSL 3.0, without PSK/SRP, which need credentials);
 *    the five TLS 1.3 suites; ten groups (also those OpenSSL 3.0 knows but does
 *    not offer by default: X448, P-521, P-384 and ffdhe2048..8192); six ALPN
 *    candidates.
 *
 *  - The per-edge state machine (struct es_enum_state): pure logic, no I/O.
 *    It runs up to five tracks at once, each with at most one probe in
 *    flight (ES_ENUM_TRACK_*): a first ClientHello that offers everything,
 *    the versions below the highest, TLS <= 1.2 cipher elimination (then the
 *    preference check, then groups over TLS 1.2 when there is no TLS 1.3),
 *    TLS 1.3 elimination (suites, groups and ALPN together), and the
 *    certificate without SNI. es_enum_next says which ClientHellos to send
 *    now; es_enum_feed takes each answer.
 *
 *  - The runner (enumrun.c) drives the machines of many edges in rounds over
 *    the engine (engine.h, explicit (edge, variant) probes), and the command
 *    (enum.c) does targets, DNS and the output, like scan.
 *
 * Threading: the catalog is built once (es_enum_catalog(), thread-safe) and
 * read-only afterwards; a state machine belongs to one thread. */
#ifndef EDGESHAKE_ENUM_H
#define EDGESHAKE_ENUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgeshake/config-t.h"
#include "edgeshake/probe-t.h"
#include "edgeshake/row-t.h"
#include "edgeshake/variant-t.h"
#include "edgeshake/writer.h"

/* ---- the catalog -------------------------------------------------------- */

#define ES_ENUM_MAX_CIPHERS 128
#define ES_ENUM_NSUITES     5
#define ES_ENUM_NGROUPS     10
#define ES_ENUM_NALPN       6
#define ES_ENUM_NVERSIONS   4 /* 0 = TLS 1.0 ... 3 = TLS 1.3 */

struct es_enum_catalog {
    const char *ciphers[ES_ENUM_MAX_CIPHERS]; /* OpenSSL names, in OpenSSL's ALL order */
    bool ecdhe[ES_ENUM_MAX_CIPHERS];          /* key exchange ECDHE (needs a group) */
    bool ecdsa[ES_ENUM_MAX_CIPHERS];          /* authentication ECDSA */
    size_t nciphers;
    const char *suites[ES_ENUM_NSUITES];
    const char *groups[ES_ENUM_NGROUPS]; /* the spelling of --groups and of the kx_group column */
    const char *alpn[ES_ENUM_NALPN];
};

/* The catalog, built on first use from this OpenSSL (fatal if OpenSSL
 * cannot list its ciphers). */
const struct es_enum_catalog *es_enum_catalog(void);
/* Index of a name in a catalog list, or -1. */
int es_enum_cipher_index(const char *name);
int es_enum_suite_index(const char *name);
int es_enum_group_index(const char *name);
int es_enum_alpn_index(const char *name);
/* "1.0".."1.3" -> 0..3, else -1; and back. */
int es_enum_version_index(const char *text);
const char *es_enum_version_text(int v);

/* ---- one ClientHello ----------------------------------------------------- */

/* What a probe offers. Lists are masks over the catalog, offered in catalog
 * order (so a server that follows the client's order picks the first
 * acceptable one in catalog order), except pref: when pref[0] >= 0 the
 * TLS <= 1.2 cipher list is exactly pref[0] then pref[1] (the preference
 * check). The key share goes to the first group of the mask (OpenSSL's
 * client sends one share, for the first group of its list); a server that
 * wants another group of the list answers with a HelloRetryRequest naming
 * it. alpn 0 = no ALPN extension. */
struct es_enum_hello {
    uint8_t vmin, vmax;  /* version indices, vmin <= vmax */
    uint64_t ciphers[2]; /* mask over catalog ciphers (TLS <= 1.2) */
    int16_t pref[2];
    uint8_t ctail;   /* catalog cipher + 1 offered after the mask's (0 = none) */
    uint8_t suites;  /* mask over catalog suites */
    uint16_t groups; /* mask over catalog groups */
    uint16_t gtail;  /* more groups (a mask), offered after the mask's */
    uint8_t alpn;    /* mask over ALPN candidates; 0 = none offered */
    bool nosni;      /* send no SNI */
};

/* Fills v (owned by the caller; free with es_enum_variant_free) with the
 * variant for h: versions, cipher string (with @SECLEVEL=0: the enumerator
 * records what a server accepts, weak or not), suites, groups, ALPN wire
 * list, SNI mode; name = name (copied). */
void es_enum_variant_make(struct es_variant *v, const struct es_enum_hello *h, const char *name);
void es_enum_variant_free(struct es_variant *v);

/* ---- answers ---------------------------------------------------------------- */

enum es_enum_outcome {
    ES_ENUM_OK,       /* the handshake completed: the server chose what the fields say */
    ES_ENUM_REJECTED, /* the server refused this ClientHello (alert, EOF, bad record) */
    ES_ENUM_NOANSWER, /* no verdict: connect failure, timeout, reset (retried) */
};

struct es_enum_answer {
    enum es_enum_outcome outcome;
    int alert;          /* peer alert code, -1 = none */
    const char *status; /* the row's status and error tokens (static strings) */
    const char *error;
    int version, cipher, suite, group, alpn; /* catalog indices; -1 = none or unknown */
    char cert[65];                           /* SHA-256 of the leaf, hex; "" = none */
    char alert_name[40];                     /* "alert 112 unrecognized_name", "" = none */
};

/* The answer a scan row gives (the row of one enum probe). */
void es_enum_answer_from_row(struct es_enum_answer *a, const struct es_row *row);

/* ---- the per-edge state machine --------------------------------------------- */

enum es_enum_track {
    ES_ENUM_TRACK_FIRST = 0, /* everything offered, TLS 1.0-1.3 */
    ES_ENUM_TRACK_NOSNI,     /* the certificate without SNI */
    ES_ENUM_TRACK_VERSIONS,  /* versions below the highest TLS <= 1.2 one */
    ES_ENUM_TRACK_TLS12,     /* ciphers, preference, groups without TLS 1.3 */
    ES_ENUM_TRACK_TLS13,     /* suites x groups x ALPN */
    ES_ENUM_NTRACKS
};

#define ES_ENUM_RETRIES       3   /* extra tries of a probe that got no answer */
#define ES_ENUM_MAX_HANDSHAKE 300 /* per edge; a misbehaving server ends there (partial) */

/* One elimination dimension: what is left to offer, what was found (in the
 * order the server chose it), and whether everything acceptable was found. */
struct es_enum_dim {
    uint64_t left[2];
    uint8_t found[ES_ENUM_MAX_CIPHERS];
    uint16_t nfound;
    bool active, exhausted;
};

enum es_enum_phase {
    ES_ENUM_PH_IDLE = 0, /* not started (waits for another track) */
    ES_ENUM_PH_FIRST,    /* TLS12: the first TLS <= 1.2 probe, which also finds the version */
    ES_ENUM_PH_ELIM,     /* offer what is left, record, remove */
    ES_ENUM_PH_PREF,     /* TLS12: two accepted ciphers in reverse order */
    ES_ENUM_PH_GROUPS12, /* TLS12 without TLS 1.3: groups over ECDHE */
    ES_ENUM_PH_DONE,
};

struct es_enum_track_state {
    enum es_enum_phase phase;
    bool inflight;
    uint8_t tries;                /* of the probe in flight */
    struct es_enum_hello last;    /* the probe in flight (retried as is) */
    bool suspect;                 /* elimination: a rejection that either main or groups explains */
    bool suspect_grp;             /* ... and the next probe tests the groups' remainder (with a
                                     known main member) rather than main's (with a known group) */
    bool alpn_carrier;            /* this track enumerates ALPN too */
    bool tail_tie;                /* TLS12: the server chose the tail (see enumalgo.c) */
    struct es_enum_dim main, grp; /* main: ciphers (TLS12) or suites (TLS13) */
    int8_t vhi;                   /* VERSIONS: offer 1.0..vhi */
};

struct es_enum_state {
    struct es_enum_track_state tr[ES_ENUM_NTRACKS];
    struct es_enum_dim alpn;
    uint8_t versions; /* accepted, bit v */
    int8_t vmax, v12; /* highest version; the TLS <= 1.2 version of the cipher list (-1 none) */
    int8_t pref;      /* server prefers its own order: 1 yes, 0 no, -1 unknown / n/a */
    uint32_t handshakes;
    bool failed;        /* the first ClientHello got no handshake: see status/error */
    const char *status; /* failed: the row status of the first probe; else NULL */
    const char *error;  /* failed, or partial: the error token */
    bool partial;       /* some track gave up (no answer after retries, or the cap) */
    char cert[65], cert_nosni[65];
    char nosni_error[48];   /* the no-SNI failure, e.g. "alert 112 unrecognized_name" */
    uint16_t gcand;         /* the group candidates (catalog mask): all, or enum --groups */
    struct es_enum_dim g12; /* groups over TLS 1.2 (no TLS 1.3) */
    bool g12_carrier;       /* offer the groups found so far last (see enumalgo.c) */
};

/* Starts a machine; nosni: also fetch the certificate without SNI. Every
 * catalog group is a candidate. */
void es_enum_init(struct es_enum_state *st, bool nosni);
/* Narrows the group candidates to mask (catalog bits, not 0), right after
 * es_enum_init: only those are offered, so only those can be found. */
void es_enum_set_groups(struct es_enum_state *st, uint16_t mask);
/* Parses a --groups value (catalog names, ':' or ','-separated) into *mask
 * (ORed in). Returns false with a message in err naming the bad name. */
bool es_enum_groups_parse(const char *text, uint16_t *mask, char *err, size_t errlen);
/* Stores in out[] the probes to send now (at most ES_ENUM_NTRACKS), each
 * tagged with its track in tracks[]; they count as in flight until fed.
 * Returns how many. */
size_t es_enum_next(struct es_enum_state *st, struct es_enum_hello *out, unsigned *tracks);
/* The answer to the probe in flight on track. */
void es_enum_feed(struct es_enum_state *st, unsigned track, const struct es_enum_answer *a);
/* True when no track has anything left to send or wait for. */
bool es_enum_finished(const struct es_enum_state *st);
/* Stops every track but NOSNI (a follower that copies another edge's result). */
void es_enum_stop(struct es_enum_state *st);

/* ---- the enum row (DESIGN §3.6) --------------------------------------------- */

/* Columns, in order (also the JSONL keys): time vantage host port ip resolver
 * sni versions ciphers12 suites13 groups alpn cert_sha256 server_prefers
 * handshakes status error, then (appended) cert_sha256_nosni nosni_error
 * same_as. */
#define ES_ENUM_NCOLUMNS 20
extern const char *const es_enum_columns[ES_ENUM_NCOLUMNS];

struct es_enum_row {
    uint64_t time_ms;
    const char *vantage, *host;
    int port;
    const char *ip, *resolver, *sni;
    const char *versions, *ciphers12, *suites13, *groups, *alpn; /* ';'-joined */
    const char *cert_sha256, *server_prefers;                    /* yes | no | "" */
    long handshakes;
    const char *status, *error; /* ok | partial | planned | a scan status; token */
    const char *cert_sha256_nosni, *nosni_error, *same_as;
};

/* Appends the CSV header (nothing for JSONL). */
void es_enum_row_header(struct es_rowbuf *b, enum es_format fmt);
/* Appends one row (the writer's escaping, writer.h). */
void es_enum_row_format(struct es_rowbuf *b, enum es_format fmt, const struct es_enum_row *r);
/* The lists of a finished machine, ';'-joined, into the caller's strings
 * (each at least ES_ENUM_LIST_MAX bytes). */
#define ES_ENUM_LIST_MAX 4096
void es_enum_lists(const struct es_enum_state *st, char *versions, char *ciphers12, char *suites13,
                   char *groups, char *alpn);

/* ---- running ------------------------------------------------------------------ */

/* One enumeration unit and its result. */
struct es_enum_item {
    const struct es_edge *edge; /* borrowed */
    struct es_enum_state st;
    int32_t same_as;    /* >= 0: the index of the item whose result this one shares */
    bool nosni_owner;   /* this item fetches the no-SNI certificate of its (ip, port) */
    int32_t nosni_from; /* >= 0: copy the no-SNI result from this item */
};

struct es_enum_run_opts {
    const struct es_config *cfg; /* engine options (threads, -c, --per-ip, --rate, timeouts) */
    bool per_host;               /* enumerate every (host, port, ip) in full (no sharing) */
    uint16_t groups;             /* group candidates (catalog mask); 0 = all */
    bool quiet;
};

/* Enumerates items[0..n) over the engine, in rounds. Returns 0, 130 when
 * interrupted (the items keep what they have), or 1 when the engine failed
 * (message printed). */
int es_enum_run(struct es_enum_item *items, size_t n, const struct es_enum_run_opts *o,
                uint64_t *rounds_out);

/* `edgeshake enum`: returns the exit status (0, 1, 2, 130). */
int es_enum_main(const struct es_config *cfg);

#endif
