/* variant-t.h - one ClientHello variant: a cell of the matrix
 * --tls x --alpn x --sni x --ciphers x --ciphersuites x --groups x --hello
 * (DESIGN §3.1). */
#ifndef EDGESHAKE_VARIANT_T_H
#define EDGESHAKE_VARIANT_T_H

#include <stddef.h>
#include <stdint.h>

#include "edgeshake/hello-t.h"

enum es_sni_mode {
    ES_SNI_HOST = 0, /* send the target's host name (none for IP targets) */
    ES_SNI_NONE,     /* send no SNI */
    ES_SNI_NAME,     /* send sni_name whatever the target */
};

struct es_variant {
    unsigned index;   /* position in the matrix, 0-based */
    const char *name; /* stable short name: "tls1.3/h2/sni", "tls1.2/h2,http1.1/nosni/c:..." */
    int tls_min, tls_max;      /* OpenSSL TLS1_2_VERSION ... TLS1_3_VERSION */
    const char *tls_offered;   /* "1.2", "1.3", "1.2-1.3" (the tls_offered column) */
    const char *alpn_offered;  /* "h2,http/1.1" or "none" (the alpn_offered column) */
    const uint8_t *alpn_wire;  /* length-prefixed protocol list for SSL_set_alpn_protos; NULL = none */
    size_t alpn_wire_len;
    enum es_sni_mode sni_mode;
    const char *sni_name;     /* ES_SNI_NAME only */
    const char *ciphers;      /* OpenSSL cipher string, NULL = default */
    const char *ciphersuites; /* TLS 1.3 suites, NULL = default */
    const char *groups;       /* NULL = default */
    const char *ciphers_offered; /* the ciphers_offered column: the strings as given, "" = default */
    const char *groups_offered;  /* the groups_offered column, "" = default */
    enum es_hello_shape hello;   /* --hello; the hello column is es_hello_name(hello) */
};

#endif
