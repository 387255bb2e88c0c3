/* row-t.h - one row of the scan file: the columns of DESIGN §3.2, in order.
 *
 * Strings are borrowed (interned tokens, the probe's strings, or buffers of
 * the slot that produced the row) and only need to live until the row has
 * been formatted with es_row_format (writer.h). NULL or "" = empty cell.
 * Numbers that do not apply are negative (empty cell). */
#ifndef EDGESHAKE_ROW_T_H
#define EDGESHAKE_ROW_T_H

#include <limits.h>
#include <stdint.h>

/* The empty value of the signed columns (cert_days_left, clock_skew_s). */
#define ES_ROW_NONE LONG_MIN

struct es_row {
    uint64_t time_ms; /* wall clock, ms since the epoch; written as RFC 3339 UTC with ms */
    const char *vantage;
    const char *host;
    int port;
    const char *ip;
    int family; /* 4 or 6; 0 = empty (dns_error rows) */
    const char *resolver;
    const char *ecs;
    const char *sni;
    const char *variant;
    const char *tls_offered;
    const char *alpn_offered;
    const char *ciphers_offered;
    const char *groups_offered;
    int attempt;
    const char *status; /* ok alert tls_error connect_error timeout dns_error planned */
    const char *error;  /* closed vocabulary, "" when ok */
    int alert;          /* <0 = none */
    const char *alert_name;
    const char *alert_from; /* "peer" | "local" */
    const char *stage;
    const char *tls_version; /* "1.2" | "1.3" */
    const char *cipher;
    const char *kx_group; /* X25519, P-256, ffdhe2048, dh2048 */
    const char *alpn;
    const char *verify;
    const char *cert_sha256;
    const char *cert_subject; /* server-supplied: escaped on output */
    const char *cert_issuer;  /* server-supplied: escaped on output */
    const char *cert_not_before; /* RFC 3339 */
    const char *cert_not_after;
    int ocsp_stapled; /* <0 = empty, 0 = no, 1 = yes */
    const char *h2;
    double dns_ms, connect_ms, handshake_ms, total_ms; /* <0 = empty */
    /* ---- appended columns (DESIGN §3.2, second block) ---- */
    const char *resolver_addr; /* ';'-joined ADDR:PORT of the resolvers in `resolver` */
    const char *problem;       /* NULL = derived from the row (es_row_problem) */
    int kx_bits;               /* <0 = empty */
    const char *cert_key;      /* ec256, rsa2048, ed25519 */
    const char *cert_sig;      /* leaf signature algorithm */
    long cert_days_left;       /* ES_ROW_NONE = empty; negative when expired */
    int chain_len;             /* <0 = empty */
    const char *hello;         /* plain, pq, split */
    int hello_bytes;           /* <0 = empty */
    int http_status;           /* <0 = empty */
    const char *http_server;   /* server-supplied: escaped on output */
    long clock_skew_s;         /* ES_ROW_NONE = empty */
    const char *h3_advertised; /* yes, no */
};

#endif
