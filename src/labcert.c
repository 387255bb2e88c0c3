/* labcert.c - the lab CA and its leaves; see include/edgeshake/labcert.h.
 *
 * Everything here runs at start-up, so OpenSSL failures are fatal (exit 1).
 * One key per key type is made lazily and shared by every leaf of that type:
 * RSA key generation takes tens of milliseconds and a lab may have dozens of
 * edges. Leaves are cached by (name, kind, key, subject O) in a short array
 * (a lab has tens of edges, not thousands), so two edges of one name share
 * one cert. */
#include "edgeshake/labcert.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "edgeshake/util.h"

#define DAY_S (24L * 60 * 60)

struct leaf_entry {
    char *name;
    enum es_lab_certkind kind;
    enum es_lab_keykind key;
    char *subject_o; /* NULL = no O= attribute */
    X509 *cert;
};

struct es_labcerts {
    EVP_PKEY *ca_key;
    X509 *ca;
    EVP_PKEY *leaf_key[2]; /* by es_lab_keykind, made on first use */
    EVP_PKEY *dh[2];       /* 1024, 2048: made on first use */
    struct leaf_entry *leaves;
    size_t nleaves, capleaves;
};

/* Prints the OpenSSL error queue after what failed, then exits 1. */
static _Noreturn void ossl_die(const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    es_die(ES_EXIT_RUNTIME, "lab certificates: %s failed: %s", what, buf);
}

static EVP_PKEY *make_key(enum es_lab_keykind kind)
{
    EVP_PKEY *k = kind == ES_KEY_RSA ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    if (!k)
        ossl_die(kind == ES_KEY_RSA ? "EVP_RSA_gen(2048)" : "EVP_EC_gen(P-256)");
    return k;
}

static EVP_PKEY *leaf_key(struct es_labcerts *c, enum es_lab_keykind kind)
{
    if (!c->leaf_key[kind])
        c->leaf_key[kind] = make_key(kind);
    return c->leaf_key[kind];
}

/* A random positive 64-bit serial (RFC 5280 allows up to 20 octets). */
static void set_random_serial(X509 *x)
{
    BIGNUM *bn = BN_new();
    if (!bn || !BN_rand(bn, 64, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY))
        ossl_die("BN_rand");
    if (!BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
        ossl_die("BN_to_ASN1_INTEGER");
    BN_free(bn);
}

/* Validity as offsets in seconds from now (may be negative). */
static void set_validity(X509 *x, long not_before_s, long not_after_s)
{
    if (!X509_gmtime_adj(X509_getm_notBefore(x), not_before_s) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), not_after_s))
        ossl_die("X509_gmtime_adj");
}

/* CN=cn, then O=o when o is set; a CN longer than the X.520 limit of 64 is
 * left out (the SAN names the host anyway), so long lab names still get a
 * certificate. o is UTF-8 of 1..64 bytes (labspec.c checks it) and may hold
 * anything but NUL: commas, quotes, markup, newlines. */
static X509_NAME *make_name(const char *cn, const char *o)
{
    X509_NAME *n = X509_NAME_new();
    if (!n)
        ossl_die("X509_NAME_new");
    if (strlen(cn) <= 64 &&
        !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0))
        ossl_die("X509_NAME_add_entry_by_txt(CN)");
    if (o &&
        !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)o, -1, -1, 0))
        ossl_die("X509_NAME_add_entry_by_txt(O)");
    return n;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!ext || !X509_add_ext(x, ext, -1))
        ossl_die(OBJ_nid2sn(nid));
    X509_EXTENSION_free(ext);
}

/* A v3 certificate for subject_cn (and O=subject_o unless NULL) with key,
 * validity and serial set; the caller adds extensions and signs. */
static X509 *new_cert(const char *subject_cn, const char *subject_o, EVP_PKEY *key, long nb_s,
                      long na_s)
{
    X509 *x = X509_new();
    if (!x || !X509_set_version(x, X509_VERSION_3))
        ossl_die("X509_new");
    set_random_serial(x);
    set_validity(x, nb_s, na_s);
    X509_NAME *subject = make_name(subject_cn, subject_o);
    if (!X509_set_subject_name(x, subject) || !X509_set_pubkey(x, key))
        ossl_die("X509_set_subject_name");
    X509_NAME_free(subject);
    return x;
}

static void sign(X509 *x, EVP_PKEY *key)
{
    if (!X509_sign(x, key, EVP_sha256()))
        ossl_die("X509_sign");
}

static X509 *make_ca(EVP_PKEY *key)
{
    X509 *x = new_cert("edgeshake lab CA", NULL, key, -DAY_S, 3650 * DAY_S);
    if (!X509_set_issuer_name(x, X509_get_subject_name(x)))
        ossl_die("X509_set_issuer_name");
    add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(x, x, NID_subject_key_identifier, "hash");
    add_ext(x, x, NID_authority_key_identifier, "keyid:always");
    sign(x, key);
    return x;
}

struct es_labcerts *es_labcerts_new(void)
{
    struct es_labcerts *c = es_xcalloc(1, sizeof *c);
    c->ca_key = make_key(ES_KEY_ECDSA);
    c->ca = make_ca(c->ca_key);
    return c;
}

void es_labcerts_free(struct es_labcerts *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nleaves; i++) {
        free(c->leaves[i].name);
        free(c->leaves[i].subject_o);
        X509_free(c->leaves[i].cert);
    }
    free(c->leaves);
    for (size_t i = 0; i < ES_ARRAY_LEN(c->leaf_key); i++)
        EVP_PKEY_free(c->leaf_key[i]);
    for (size_t i = 0; i < ES_ARRAY_LEN(c->dh); i++)
        EVP_PKEY_free(c->dh[i]);
    X509_free(c->ca);
    EVP_PKEY_free(c->ca_key);
    free(c);
}

/* Makes the leaf of one (name, kind, key). A self-signed leaf carries no
 * keyUsage, so that OpenSSL sees it as self-signed (a keyUsage without
 * keyCertSign would make it "not self-issued" and hide the error we want). */
static X509 *make_leaf(struct es_labcerts *c, const char *name, enum es_lab_certkind kind,
                       enum es_lab_keykind keykind, const char *subject_o)
{
    EVP_PKEY *key = leaf_key(c, keykind);
    /* Half a day past 365 days: cert_days_left reads 365 all through a run
     * (at exactly 365 days it flips to 364 within a second of the start). */
    long nb = -DAY_S, na = 365 * DAY_S + DAY_S / 2;
    char *subject = NULL;
    switch (kind) {
    case ES_CERT_EXPIRED:
        nb = -30 * DAY_S;
        na = -DAY_S;
        break;
    case ES_CERT_FUTURE:
        nb = 30 * DAY_S;
        na = 365 * DAY_S + DAY_S / 2;
        break;
    case ES_CERT_WRONG: {
        size_t n = strlen(name) + sizeof "wrong..invalid";
        subject = es_xmalloc(n);
        snprintf(subject, n, "wrong.%s.invalid", name);
        break;
    }
    case ES_CERT_EXPIRING: /* half a day past 9 days, like the 365 above */
        na = 9 * DAY_S + DAY_S / 2;
        break;
    case ES_CERT_GOOD:
    case ES_CERT_SELFSIGNED: break;
    }
    const char *cn = subject ? subject : name;
    X509 *x = new_cert(cn, subject_o, key, nb, na);
    bool self = kind == ES_CERT_SELFSIGNED;
    X509 *issuer = self ? x : c->ca;
    if (!X509_set_issuer_name(x, X509_get_subject_name(issuer)))
        ossl_die("X509_set_issuer_name");

    size_t n = strlen(cn) + sizeof "DNS:";
    char *san = es_xmalloc(n);
    snprintf(san, n, "DNS:%s", cn);
    add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
    if (!self)
        add_ext(x, issuer, NID_key_usage,
                keykind == ES_KEY_RSA ? "critical,digitalSignature,keyEncipherment"
                                      : "critical,digitalSignature");
    add_ext(x, issuer, NID_ext_key_usage, "serverAuth");
    add_ext(x, issuer, NID_subject_alt_name, san);
    add_ext(x, issuer, NID_subject_key_identifier, "hash");
    if (!self)
        add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
    sign(x, self ? key : c->ca_key);
    free(san);
    free(subject);
    return x;
}

static bool same_o(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

struct es_lableaf es_labcerts_leaf(struct es_labcerts *c, const char *name,
                                   enum es_lab_certkind kind, enum es_lab_keykind key)
{
    return es_labcerts_leaf_o(c, name, kind, key, NULL);
}

struct es_lableaf es_labcerts_leaf_o(struct es_labcerts *c, const char *name,
                                     enum es_lab_certkind kind, enum es_lab_keykind key,
                                     const char *subject_o)
{
    struct leaf_entry *e = NULL;
    for (size_t i = 0; i < c->nleaves && !e; i++) {
        struct leaf_entry *l = &c->leaves[i];
        if (l->kind == kind && l->key == key && strcmp(l->name, name) == 0 &&
            same_o(l->subject_o, subject_o))
            e = l;
    }
    if (!e) {
        c->leaves = es_xgrow(c->leaves, &c->capleaves, c->nleaves + 1, sizeof *c->leaves);
        e = &c->leaves[c->nleaves++];
        e->name = es_xstrdup(name);
        e->kind = kind;
        e->key = key;
        e->subject_o = subject_o ? es_xstrdup(subject_o) : NULL;
        e->cert = make_leaf(c, name, kind, key, subject_o);
    }
    struct es_lableaf leaf = {
        .cert = e->cert,
        .key = leaf_key(c, key),
        .issuer = kind == ES_CERT_SELFSIGNED ? NULL : c->ca,
    };
    return leaf;
}

/* RFC 2409's 1024-bit prime with generator 2, as DH domain parameters. */
static EVP_PKEY *dh_oakley2(void)
{
    BIGNUM *p = BN_get_rfc2409_prime_1024(NULL), *g = BN_new();
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    if (!p || !g || !b || !BN_set_word(g, 2) ||
        !OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_FFC_P, p) ||
        !OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_FFC_G, g))
        ossl_die("DH parameters (RFC 2409)");
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
    EVP_PKEY *k = NULL;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEY_PARAMETERS, params) != 1)
        ossl_die("EVP_PKEY_fromdata(DH 1024)");
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    BN_free(p);
    BN_free(g);
    return k;
}

/* A named RFC 7919 group. */
static EVP_PKEY *dh_named(const char *group)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
    EVP_PKEY *k = NULL;
    OSSL_PARAM params[2] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
        OSSL_PARAM_END,
    };
    if (!ctx || EVP_PKEY_paramgen_init(ctx) != 1 || EVP_PKEY_CTX_set_params(ctx, params) != 1 ||
        EVP_PKEY_paramgen(ctx, &k) != 1)
        ossl_die(group);
    EVP_PKEY_CTX_free(ctx);
    return k;
}

EVP_PKEY *es_labcerts_dh(struct es_labcerts *c, unsigned bits)
{
    if (bits != 1024 && bits != 2048)
        es_die(ES_EXIT_RUNTIME, "lab: no DH parameters of %u bits", bits);
    size_t i = bits == 2048;
    if (!c->dh[i])
        c->dh[i] = bits == 1024 ? dh_oakley2() : dh_named("ffdhe2048");
    return c->dh[i];
}

int es_labcerts_write_ca(const struct es_labcerts *c, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        return -e;
    }
    int rc = PEM_write_X509(f, c->ca) ? 0 : -EIO;
    ERR_clear_error();
    if (fflush(f) != 0 && rc == 0)
        rc = -errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

X509 *es_labcerts_ca(const struct es_labcerts *c)
{
    return c->ca;
}
