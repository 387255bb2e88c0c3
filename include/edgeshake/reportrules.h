/* reportrules.h - the report's explanation rules and repro commands
 * (docs/findings.md "explain and repro"). Internal to the report's stages
 * (see reporttab.h).
 *
 * One table maps a failure (peer alert, stage, error token, what the variant
 * offered) to one sentence naming the likely cause; the first matching row
 * wins. Repro builders return one shell command (words quoted for a POSIX
 * shell) that reproduces a failing probe by hand. */
#ifndef EDGESHAKE_REPORTRULES_H
#define EDGESHAKE_REPORTRULES_H

#include "edgeshake/reporttab.h"
#include "edgeshake/util.h"

/* The likely cause of failure s on a probe offering variant v (static text). */
const char *rr_explain_failure(const struct rt_variant *v, const struct rt_sig *s);
/* ... of a verify token ("expired"), a dns error token ("nxdomain") and an
 * h2 check token ("eof"). */
const char *rr_explain_verify(const char *token);
const char *rr_explain_dns(const char *token);
const char *rr_explain_h2(const char *token);

/* `openssl s_client` for one probe of variant v with SNI sni ("none" = no
 * SNI) against ip:port; with verify_host, the flags that make verification
 * fail loudly. TLS 1.0/1.1 variants carry -cipher ...:@SECLEVEL=0 as the
 * probe does. Malloc'd. */
char *rr_repro_s_client(const struct rt_variant *v, const char *sni, const char *ip, int port,
                        const char *verify_host);
/* `curl --http2 --resolve` of host:port through ip. Malloc'd. */
char *rr_repro_h2(const char *host, int port, const char *ip);
/* `dig` of host through a resolver: `@ADDR -p PORT` when its address is
 * known (addr "ADDR:PORT", "[V6]:PORT" or NULL), the label in a comment
 * otherwise. Malloc'd. */
char *rr_repro_dig(const char *host, const char *label, const char *addr);

/* ---- issue #16's kinds ---- */

enum { RR_HELLO_PQ = 1, RR_HELLO_SPLIT = 2 };
/* "127.0.3.4 fails only with split or post-quantum-size ClientHellos: ..."
 * for the edges ips[0..n) and the shapes (RR_HELLO_* bits) that failed.
 * Malloc'd. */
char *rr_explain_hello(const char *const *ips, size_t nips, unsigned shapes);
/* `edgeshake scan HOST@IP -p PORT --tls V --alpn L --hello SHAPE --hello
 * plain ...` (openssl s_client can neither pad nor split a ClientHello).
 * Malloc'd. */
char *rr_repro_hello(const struct rt_variant *v, const char *host, const char *ip, int port,
                     const char *shape);
/* The likely cause of a failed --http-check ("status 525", "no response"). */
const char *rr_explain_http(const char *token);
/* ... of weak key exchange ("DHE 1024 bits") or key ("RSA 1024-bit key"). */
const char *rr_explain_weak(const char *failure);
/* curl of https://HOST:PORT/ through ip, the response head shown (clock:
 * its Date beside the local `date -u`). Malloc'd. */
char *rr_repro_http(const char *host, int port, const char *ip);
char *rr_repro_clock(const char *host, int port, const char *ip);
/* openssl s_client ... | openssl x509 -noout FLAGS (-enddate, -text). Malloc'd. */
char *rr_repro_cert(const char *host, int port, const char *ip, const char *x509_flags);
/* openssl s_client offering only DHE at security level 0, its Temp Key shown. Malloc'd. */
char *rr_repro_dhe(const char *host, int port, const char *ip);
/* "2027-05-05" of a day number (days since 1970-01-01). */
void rr_format_day(char *out, size_t len, int32_t day);

/* Appends " WORD" to b, single-quoted when the shell would split or expand it. */
void rr_sb_word(struct es_sb *b, const char *w);

#endif
