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

/* Appends " WORD" to b, single-quoted when the shell would split or expand it. */
void rr_sb_word(struct es_sb *b, const char *w);

#endif
