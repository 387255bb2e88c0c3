/* labspec.h - the lab spec parser (DESIGN §3.5).
 *
 * Line format, '#' comments, one declaration per line:
 *   resolver LABEL ADDR[:PORT] [fault=drop|servfail|refused]
 *   host NAME LABEL=IP[,IP...]|nxdomain|servfail|refused|drop ... [ecs:SUBNET/LEN=IP[,IP...]]
 *   edge ADDR:PORT [cert=NAME[:expired|:future|:wrong|:selfsigned|:expiring]] [key=ecdsa|rsa]
 *        [tls=1.0,1.1,1.2,1.3] [ciphers=S] [ciphersuites=S] [groups=S] [alpn=LIST|none]
 *        [alpn_strict=yes|no] [sni=strict|any] [h2=ok|broken] [delay=MS] [flaky=P]
 *        [fault=refuse|blackhole|reset|garbage|http|drip|close|hugechain]
 *        [subject_o=TEXT]: an O= attribute after the leaf's CN; TEXT is
 *   percent-decoded (%XX) to 1..64 bytes of UTF-8 without NUL, so a spec can
 *   serve a hostile subject (commas, quotes, '<', newlines).
 *   fault=close: accept, then close at once without reading a byte (the
 *   client reads EOF before any byte); fault=hugechain: a real handshake whose
 *   Certificate message carries a chain of over 2 MB (docs/lab.md).
 * Several `host` lines for one NAME add to it. Unknown keys, duplicate
 * addresses and labels, and labels without a `resolver` line are errors. */
#ifndef EDGESHAKE_LABSPEC_H
#define EDGESHAKE_LABSPEC_H

#include <stddef.h>

#include "edgeshake/labspec-t.h"

/* Parses text (len bytes, need not be NUL-terminated); `name` is used in
 * messages. On error returns NULL and writes "name:line: what is wrong,
 * what was expected" into err. The result is freed with es_labspec_free. */
struct es_labspec *es_labspec_parse(const char *text, size_t len, const char *name, char *err,
                                    size_t errlen);
/* Reads and parses a file; a file that cannot be read is an error in err. */
struct es_labspec *es_labspec_parse_file(const char *path, char *err, size_t errlen);
void es_labspec_free(struct es_labspec *spec);

/* What resolver `label` answers for (name, family): the ECS rule whose subnet
 * contains ecs/ecs_prefix when the query carried one (*scope set to that
 * rule's prefix length), else the rule for the label; NULL = NXDOMAIN (name
 * unknown or resolver not named). Resolver-level faults are not applied here.
 * The returned rule may hold addresses of both families; filter by qtype. */
const struct es_lab_answer *es_labspec_answer(const struct es_labspec *spec, const char *label,
                                              const char *name, const struct es_ip *ecs,
                                              unsigned ecs_prefix, unsigned *scope);

#endif
