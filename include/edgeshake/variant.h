/* variant.h - the ClientHello variant matrix (DESIGN §3.1, issue 4 item 2).
 *
 * The matrix is the cross product
 *     --tls x --alpn x --sni x --ciphers x --ciphersuites x --groups x --hello
 * nested in that order (--tls outermost, --hello innermost), with defaults
 * for empty lists: --tls 1.2 and 1.3, --alpn h2,http/1.1, --sni host,
 * --hello plain, and OpenSSL's defaults for ciphers, suites and groups. Repeated values (the
 * same --tls twice, the same --alpn string twice, --sni NAME in two cases)
 * collapse into one.
 *
 * Each variant offers exactly one TLS version (tls_min == tls_max), so:
 *  - --ciphers only applies to TLS 1.0-1.2 variants and --ciphersuites only
 *    to TLS 1.3 variants. A variant never repeats a dimension it does not
 *    use: with --tls 1.2 --tls 1.3 --ciphers A --ciphers B the matrix is
 *    tls1.2/.../c:A, tls1.2/.../c:B and one tls1.3/... (not two TLS 1.3
 *    variants that send the same bytes). ciphers_offered holds the --ciphers
 *    string on TLS <= 1.2 variants and the --ciphersuites string on TLS 1.3
 *    variants ("" = OpenSSL's default).
 *  - TLS 1.0 and 1.1 need OpenSSL security level 0 (OpenSSL 3 refuses them at
 *    the default level 1: their handshake signs with MD5+SHA-1), so those
 *    variants carry ciphers = "<--ciphers or DEFAULT>:@SECLEVEL=0". Level 0
 *    also allows weak keys and ciphers: acceptable for a scanner that only
 *    records what a server offers, and limited to the variants that ask for
 *    the old versions.
 *
 * Names are stable and written in the variant column:
 *     tls<V>/<alpn>/<sni>[/c:CIPHERS][/cs:SUITES][/g:GROUPS][/pq|/split]
 * <alpn> is the --alpn list with '/' removed ("h2,http1.1") or "none"; <sni>
 * is "sni" (the target's host), "nosni", or "sni:NAME"; "/c:" appears on
 * TLS <= 1.2 variants when --ciphers is given, "/cs:" on TLS 1.3 variants
 * when --ciphersuites is given, "/g:" when --groups is given; "/pq" or
 * "/split" ends the name of those ClientHello shapes (plain adds nothing, so
 * names from before --hello are unchanged).
 *
 * Checked at start-up; each error is one message in err and a false return
 * (the caller prints it and exits 2):
 *  - a --ciphers string for which OpenSSL finds no cipher, a --ciphersuites
 *    string with a suite OpenSSL does not know (or none at all), a --groups
 *    list that OpenSSL rejects;
 *  - --tls V with a --ciphers string none of whose ciphers can be used with V
 *    (e.g. --tls 1.0 with only GCM suites, which need TLS 1.2);
 *  - any (--tls, --ciphers, --ciphersuites, --groups) cell for which OpenSSL
 *    cannot build a ClientHello (e.g. --tls 1.3 with only groups that TLS 1.3
 *    does not allow), with OpenSSL's reason;
 *  - a bad --alpn list (empty protocol, protocol over 255 bytes, spaces or
 *    control characters, "none" mixed with protocols), two --alpn values that
 *    would get the same name, a bad --sni NAME or an IP address as --sni;
 *  - more than ES_VARIANTS_MAX variants.
 * Warnings (passed to the warn callback; the scan goes on):
 *  - --ciphers when no TLS <= 1.2 variant is offered (it has no effect);
 *  - --ciphersuites when no TLS 1.3 variant is offered (it has no effect). */
#ifndef EDGESHAKE_VARIANT_H
#define EDGESHAKE_VARIANT_H

#include <openssl/types.h>
#include <stdbool.h>
#include <stddef.h>

#include "edgeshake/config-t.h"
#include "edgeshake/variant-t.h"

#define ES_VARIANTS_MAX 4096

/* Receives one warning (one line, no newline). */
typedef void es_variant_warn_fn(void *ctx, const char *msg);

/* Builds the matrix from cfg->tls, alpn, sni, ciphers, ciphersuites and
 * groups. On success *out is an array of *n variants (index = position),
 * owned by the caller and freed with es_variants_free; warnings go to
 * es_warn (stderr). On failure returns false with err set, *out = NULL and
 * *n = 0; nothing to free. */
bool es_variants_build(const struct es_config *cfg, struct es_variant **out, size_t *n, char *err,
                       size_t errlen);
/* The same, with warnings passed to warn(warn_ctx, msg) (NULL = es_warn). */
bool es_variants_build_ex(const struct es_config *cfg, es_variant_warn_fn *warn, void *warn_ctx,
                          struct es_variant **out, size_t *n, char *err, size_t errlen);

/* Frees the array and every string and buffer its variants point to. */
void es_variants_free(struct es_variant *v, size_t n);

/* Applies a variant's protocol version, ciphers, suites and groups to ctx
 * (which the caller owns; ALPN and SNI are per-SSL and left to the caller).
 * Returns false with err set when OpenSSL refuses one of them; the OpenSSL
 * error queue is cleared either way. es_variants_build checks every variant
 * with this, so for its variants it only fails on allocation failure. */
bool es_variant_configure_ctx(SSL_CTX *ctx, const struct es_variant *v, char *err, size_t errlen);

#endif
