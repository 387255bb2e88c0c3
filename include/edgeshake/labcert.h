/* labcert.h - the lab's certificate authority and leaves, made at start-up.
 *
 * One CA (ECDSA P-256, "edgeshake lab CA") per lab run; leaves on demand,
 * cached by (name, kind, key, subject O). Everything lives until es_labcerts_free. */
#ifndef EDGESHAKE_LABCERT_H
#define EDGESHAKE_LABCERT_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "edgeshake/labspec-t.h"

struct es_labcerts;

struct es_lableaf {
    X509 *cert;     /* borrowed */
    EVP_PKEY *key;  /* borrowed */
    X509 *issuer;   /* the CA to send as chain, NULL for self-signed */
};

/* Makes the CA. Fatal (exit 1, message) when OpenSSL fails. */
struct es_labcerts *es_labcerts_new(void);
void es_labcerts_free(struct es_labcerts *c);
/* A leaf for name of the given kind and key type (made once, then cached). */
struct es_lableaf es_labcerts_leaf(struct es_labcerts *c, const char *name,
                                   enum es_lab_certkind kind, enum es_lab_keykind key);
/* The same with an O= attribute after CN in the subject (edge `subject_o=`;
 * UTF-8, 1..64 bytes; NULL = none, as es_labcerts_leaf). Cached by (name,
 * kind, key, subject_o). */
struct es_lableaf es_labcerts_leaf_o(struct es_labcerts *c, const char *name,
                                     enum es_lab_certkind kind, enum es_lab_keykind key,
                                     const char *subject_o);
/* DHE parameters for edge `dh=`: 1024 = RFC 2409's Oakley group 2 (the
 * prime of the Logjam era, a group OpenSSL has no name for), 2048 = RFC
 * 7919's ffdhe2048. Made once, borrowed. Fatal on other sizes. */
EVP_PKEY *es_labcerts_dh(struct es_labcerts *c, unsigned bits);
/* Writes the CA certificate as PEM. Returns 0 or -errno. */
int es_labcerts_write_ca(const struct es_labcerts *c, const char *path);
X509 *es_labcerts_ca(const struct es_labcerts *c);

#endif
