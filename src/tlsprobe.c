/* tlsprobe.c - the client TLS state machine of one probe; see
 * include/edgeshake/tlsprobe.h.
 *
 * A probe is an SSL over two memory BIOs: bytes from the network go into
 * rbio, bytes for the network come out of wbio into the probe's own out[]
 * buffer, so the pointer handed to the engine for a SEND stays valid however
 * much OpenSSL writes meanwhile. The probe walks
 *
 *   TP_IDLE -> TP_HANDSHAKE -> [TP_POST] -> [TP_HTTP] -> TP_DONE
 *
 * and every entry point asserts the state it expects. TP_POST is TLS 1.3's
 * epilogue: a server that asked for a client certificate judges ours (we
 * send none) only after our Finished, so the handshake is complete for us
 * before the server's verdict (alert 116 certificate_required, or its
 * session tickets) arrives. The probe waits for the server's first record
 * after the handshake, or until a grace of a few round trips ends
 * (es_tlsprobe_wait_until). Servers that sent no CertificateRequest cannot
 * reject us that way and are not waited for. TP_HTTP is --h2-check and
 * --http-check: an es_httpcheck (httpcheck.h, HTTP/2 through nghttp2) fed
 * with what SSL_read gives and drained into SSL_write. Alerts and the stage
 * come from the SSL_CTX's info and message callbacks (never from error
 * text); every SSL call is preceded by ERR_clear_error() and its result goes
 * through es_tls_map_error. */
#include "edgeshake/tlsprobe.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/conf.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <xxhash.h>

#if !defined(OPENSSL_NO_ENGINE) && OPENSSL_VERSION_NUMBER < 0x30100000L
#include <openssl/engine.h>
#define ES_LEGACY_KEY_DECODE 1
#endif

#include "edgeshake/hello.h"
#include "edgeshake/httpcheck.h"
#include "edgeshake/row.h"
#include "edgeshake/token.h"
#include "edgeshake/util.h"

/* ERR_clear_error() before each SSL call (STYLE.md), made cheap: the queue is
 * nearly always empty, and looking costs a quarter of clearing. */
static void err_clear(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

/* ------------------------------------------------------------------------ */
/* Process-wide: OpenSSL 3.0's certificate key decoding.                     */

/* See es_tls_fast_key_decode_setup() in the header. On OpenSSL 3.0, X509_PUBKEY
 * decoding takes OpenSSL's built-in (legacy) decoder instead of building an
 * OSSL_DECODER_CTX when an ENGINE is registered for the key type
 * (crypto/x509/x_pubkey.c, x509_pubkey_decode). So setup registers one
 * pass-through ENGINE for EC whose method is OpenSSL's own built-in one
 * (EVP_PKEY_meth_find): nothing is reimplemented. The ENGINE API is
 * deprecated in 3.0, hence the pragmas; the code is compiled only for 3.0
 * headers with engines, and does nothing on a newer libcrypto.
 *
 * The decision is made once (g_keydecode_decided) by the main thread before
 * any other thread exists, and the registration is never undone: no lock. */
static enum es_tls_keydecode g_keydecode;
static bool g_keydecode_decided;

static bool test_disabled(void)
{
    const char *t = es_test_env("ES_TEST_TLS");
    return t && strstr(t, "provider_decode");
}

/* Whether a default fetch of EC's key manager, ECDSA and ECDH lands in
 * OpenSSL's "default" provider: the code the ENGINE routes to is that
 * provider's own. A default property query or another provider that takes
 * EC elsewhere makes this false. */
static bool ec_in_default_provider(void)
{
    EVP_KEYMGMT *km = EVP_KEYMGMT_fetch(NULL, "EC", NULL);
    EVP_SIGNATURE *sig = EVP_SIGNATURE_fetch(NULL, "ECDSA", NULL);
    EVP_KEYEXCH *kx = EVP_KEYEXCH_fetch(NULL, "ECDH", NULL);
    const OSSL_PROVIDER *p[3] = {
        km ? EVP_KEYMGMT_get0_provider(km) : NULL,
        sig ? EVP_SIGNATURE_get0_provider(sig) : NULL,
        kx ? EVP_KEYEXCH_get0_provider(kx) : NULL,
    };
    bool ok = true;
    for (size_t i = 0; i < ES_ARRAY_LEN(p); i++)
        ok = ok && p[i] && strcmp(OSSL_PROVIDER_get0_name(p[i]), "default") == 0;
    EVP_KEYMGMT_free(km);
    EVP_SIGNATURE_free(sig);
    EVP_KEYEXCH_free(kx);
    ERR_clear_error();
    return ok;
}

#ifdef ES_LEGACY_KEY_DECODE
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
/* EC only. RSA was tried and dropped: with OpenSSL's legacy RSA method a TLS
 * 1.2 RSA key exchange fails (the server answers decrypt_error). */
static const int legacy_nids[] = {EVP_PKEY_EC};
static ENGINE *g_legacy_engine; /* made once, kept for the life of the process */

static int legacy_pkey_meths(ENGINE *e, EVP_PKEY_METHOD **pmeth, const int **nids, int nid)
{
    (void)e;
    if (!pmeth) {
        *nids = legacy_nids;
        return (int)ES_ARRAY_LEN(legacy_nids);
    }
    *pmeth = (EVP_PKEY_METHOD *)EVP_PKEY_meth_find(nid);
    return *pmeth != NULL;
}

/* Another ENGINE for EC: its key methods, its ASN.1 methods or its EC_KEY
 * method (ours is not registered yet when this runs). */
static bool other_ec_engine(void)
{
    ENGINE *e[3] = {ENGINE_get_pkey_meth_engine(EVP_PKEY_EC),
                    ENGINE_get_pkey_asn1_meth_engine(EVP_PKEY_EC), ENGINE_get_default_EC()};
    bool any = false;
    for (size_t i = 0; i < ES_ARRAY_LEN(e); i++) {
        if (e[i]) {
            any = any || e[i] != g_legacy_engine;
            ENGINE_finish(e[i]);
        }
    }
    ERR_clear_error();
    return any;
}

static enum es_tls_keydecode decide(void)
{
    if (OpenSSL_version_num() >= 0x30100000L)
        return ES_KEYDECODE_NOT_NEEDED;
    if (test_disabled())
        return ES_KEYDECODE_DISABLED;
    if (EVP_default_properties_is_fips_enabled(NULL))
        return ES_KEYDECODE_FIPS;
    if (!ec_in_default_provider())
        return ES_KEYDECODE_PROVIDER;
    if (other_ec_engine())
        return ES_KEYDECODE_OTHER_ENGINE;
    return ES_KEYDECODE_ON;
}

/* The certificate key decoder itself: OpenSSL's EC one (eckey_pub_decode in
 * crypto/ec/ec_ameth.c) builds the curve's EC_GROUP from its tables for every
 * certificate, Montgomery constants included (a third of a certificate's
 * parse, about 140,000 instructions). Ours takes the group of a named curve
 * from g_ec_groups, made once at set-up and only read afterwards (EC_KEY_set_group
 * copies it), and hands everything else (explicit parameters, other curves) to
 * OpenSSL's. It joins the method table as an application method
 * (EVP_PKEY_asn1_add0: found before the built-in one, and without the ENGINE
 * table's global lock), a copy of OpenSSL's EC method but for pub_decode. */
static const int fast_curves[] = {NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1};
static EC_GROUP *g_ec_groups[ES_ARRAY_LEN(fast_curves)];
static int (*g_builtin_pub_decode)(EVP_PKEY *pk, const X509_PUBKEY *pub);

static int fast_ec_pub_decode(EVP_PKEY *pkey, const X509_PUBKEY *pub)
{
    const unsigned char *p = NULL;
    int len = 0, ptype = 0;
    const void *pval = NULL;
    X509_ALGOR *alg = NULL;
    if (!X509_PUBKEY_get0_param(NULL, &p, &len, &alg, pub))
        return 0;
    X509_ALGOR_get0(NULL, &ptype, &pval, alg);
    const EC_GROUP *g = NULL;
    if (ptype == V_ASN1_OBJECT) {
        int nid = OBJ_obj2nid(pval);
        for (size_t i = 0; i < ES_ARRAY_LEN(fast_curves) && !g; i++)
            if (fast_curves[i] == nid)
                g = g_ec_groups[i];
    }
    if (!g)
        return g_builtin_pub_decode(pkey, pub);
    EC_KEY *k = EC_KEY_new();
    if (!k || !EC_KEY_set_group(k, g)) {
        EC_KEY_free(k);
        return 0;
    }
    if (!o2i_ECPublicKey(&k, &p, len)) {
        ERR_raise(ERR_LIB_EC, EC_R_DECODE_ERROR); /* as OpenSSL's own decoder says */
        EC_KEY_free(k);
        return 0;
    }
    return EVP_PKEY_assign_EC_KEY(pkey, k);
}

/* Markers for find_public_slots: distinct functions that are never called. */
static int mark_decode(EVP_PKEY *pk, const X509_PUBKEY *pub)
{
    return (void)pk, (void)pub, 0;
}
static int mark_encode(X509_PUBKEY *pub, const EVP_PKEY *pk)
{
    return (void)pk, (void)pub, 1;
}
static int mark_cmp(const EVP_PKEY *a, const EVP_PKEY *b)
{
    return (void)a, (void)b, 2;
}
static int mark_print(BIO *out, const EVP_PKEY *pk, int indent, ASN1_PCTX *pctx)
{
    return (void)out, (void)pk, (void)indent, (void)pctx, 3;
}
static int mark_size(const EVP_PKEY *pk)
{
    return (void)pk, 4;
}
static int mark_bits(const EVP_PKEY *pk)
{
    return (void)pk, 5;
}

typedef void (*any_fn)(void);
#define PUBLIC_SLOTS 6
#define SCAN_WORDS   32 /* EVP_PKEY_asn1_set_public's six are within the first 16 in 3.0 */

/* OpenSSL has setters but no getters for a method's public-key functions, and
 * replacing only pub_decode means passing the other five back in. So this
 * finds where EVP_PKEY_asn1_set_public stores each one, in a scratch method
 * given the markers above, and reads OpenSSL's five from a copy of the
 * built-in method at those places. Only pointer-sized words at offsets that
 * set_public itself wrote are read. Returns false when the markers are not
 * found exactly once each (another layout): the fast decoder then stays off. */
static bool find_public_slots(size_t slot[PUBLIC_SLOTS])
{
    EVP_PKEY_ASN1_METHOD *scratch = EVP_PKEY_asn1_new(EVP_PKEY_EC, 0, "EC", NULL);
    if (!scratch)
        return false;
    EVP_PKEY_asn1_set_public(scratch, mark_decode, mark_encode, mark_cmp, mark_print, mark_size,
                             mark_bits);
    const any_fn marks[PUBLIC_SLOTS] = {(any_fn)mark_decode, (any_fn)mark_encode,
                                        (any_fn)mark_cmp,    (any_fn)mark_print,
                                        (any_fn)mark_size,   (any_fn)mark_bits};
    size_t found[PUBLIC_SLOTS] = {0};
    bool ok = true;
    for (size_t m = 0; m < PUBLIC_SLOTS && ok; m++) {
        size_t hits = 0;
        for (size_t w = 0; w < SCAN_WORDS; w++) {
            any_fn f;
            memcpy(&f, (const char *)scratch + w * sizeof f, sizeof f);
            if (f == marks[m])
                hits++, found[m] = w;
        }
        ok = hits == 1 && (m == 0 || found[m] > found[m - 1]);
    }
    EVP_PKEY_asn1_free(scratch);
    if (ok)
        memcpy(slot, found, sizeof found);
    return ok;
}

/* Adds fast_ec_pub_decode (above); false leaves OpenSSL's decoder in place. */
static bool add_fast_ec_decoder(void)
{
    size_t slot[PUBLIC_SLOTS];
    const EVP_PKEY_ASN1_METHOD *builtin = EVP_PKEY_asn1_find(NULL, EVP_PKEY_EC);
    if (!builtin || !find_public_slots(slot))
        return false;
    for (size_t i = 0; i < ES_ARRAY_LEN(fast_curves); i++) {
        g_ec_groups[i] = EC_GROUP_new_by_curve_name(fast_curves[i]);
        if (!g_ec_groups[i])
            goto fail;
        EC_GROUP_set_asn1_flag(g_ec_groups[i], OPENSSL_EC_NAMED_CURVE);
    }
    EVP_PKEY_ASN1_METHOD *m = EVP_PKEY_asn1_new(EVP_PKEY_EC, 0, "EC", "OpenSSL EC algorithm");
    if (!m)
        goto fail;
    EVP_PKEY_asn1_copy(m, builtin); /* every function of OpenSSL's EC method */
    any_fn f[PUBLIC_SLOTS];
    for (size_t i = 0; i < PUBLIC_SLOTS; i++)
        memcpy(&f[i], (const char *)m + slot[i] * sizeof f[i], sizeof f[i]);
    g_builtin_pub_decode = (int (*)(EVP_PKEY *, const X509_PUBKEY *))f[0];
    EVP_PKEY_asn1_set_public(m, fast_ec_pub_decode, (int (*)(X509_PUBKEY *, const EVP_PKEY *))f[1],
                             (int (*)(const EVP_PKEY *, const EVP_PKEY *))f[2],
                             (int (*)(BIO *, const EVP_PKEY *, int, ASN1_PCTX *))f[3],
                             (int (*)(const EVP_PKEY *))f[4], (int (*)(const EVP_PKEY *))f[5]);
    if (!g_builtin_pub_decode || !EVP_PKEY_asn1_add0(m)) {
        EVP_PKEY_asn1_free(m);
        goto fail;
    }
    /* The application methods are sorted on their first search: that happens
     * here, on this thread, before any other thread exists. */
    if (EVP_PKEY_asn1_find(NULL, EVP_PKEY_EC) != m)
        es_die(ES_EXIT_RUNTIME, "internal error: the fast EC key decoder was not taken");
    return true;
fail:
    for (size_t i = 0; i < ES_ARRAY_LEN(fast_curves); i++) {
        EC_GROUP_free(g_ec_groups[i]);
        g_ec_groups[i] = NULL;
    }
    ERR_clear_error();
    return false;
}

static enum es_tls_keydecode turn_on(void)
{
    ENGINE *e = ENGINE_new();
    if (!e || !ENGINE_set_id(e, "edgeshake-keydecode") ||
        !ENGINE_set_name(e, "OpenSSL's built-in EC method (fast key decoding)") ||
        !ENGINE_set_pkey_meths(e, legacy_pkey_meths) || !ENGINE_register_pkey_meths(e)) {
        ENGINE_free(e); /* the slow path still works */
        ERR_clear_error();
        return ES_KEYDECODE_FAILED;
    }
    g_legacy_engine = e;
    (void)add_fast_ec_decoder(); /* without it, OpenSSL's decoder builds each group */
    return ES_KEYDECODE_ON;
}
#pragma GCC diagnostic pop
#else
static enum es_tls_keydecode decide(void)
{
    if (OpenSSL_version_num() >= 0x30100000L)
        return ES_KEYDECODE_NOT_NEEDED;
    (void)test_disabled;
    (void)ec_in_default_provider;
    return ES_KEYDECODE_NO_ENGINES;
}

static enum es_tls_keydecode turn_on(void)
{
    return ES_KEYDECODE_NO_ENGINES;
}
#endif

enum es_tls_keydecode es_tls_fast_key_decode_setup(void)
{
    if (!g_keydecode_decided) {
        g_keydecode = decide();
        if (g_keydecode == ES_KEYDECODE_ON)
            g_keydecode = turn_on();
        g_keydecode_decided = true;
    }
    return g_keydecode;
}

enum es_tls_keydecode es_tls_fast_key_decode_state(void)
{
    return g_keydecode_decided ? g_keydecode : decide();
}

const char *es_tls_keydecode_text(enum es_tls_keydecode st)
{
    switch (st) {
    case ES_KEYDECODE_ON:
        return "on for scan, bench and enum (OpenSSL 3.0: EC certificate keys through "
               "OpenSSL's built-in decoder, an ENGINE)";
    case ES_KEYDECODE_NOT_NEEDED: return "off: not needed (OpenSSL 3.1 or newer)";
    case ES_KEYDECODE_NO_ENGINES: return "off: this OpenSSL has no ENGINE support";
    case ES_KEYDECODE_FIPS: return "off: OpenSSL is in FIPS mode";
    case ES_KEYDECODE_PROVIDER:
        return "off: EC comes from another provider than OpenSSL's default (a default "
               "property query or provider configuration)";
    case ES_KEYDECODE_OTHER_ENGINE: return "off: another ENGINE handles EC";
    case ES_KEYDECODE_DISABLED: return "off: disabled by ES_TEST_TLS=provider_decode";
    case ES_KEYDECODE_FAILED: return "off: OpenSSL refused the ENGINE";
    }
    return "off";
}

/* ------------------------------------------------------------------------ */
/* Process-wide: the trust store and the key log file.                       */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
/* The shared store: valid while g_store_users > 0; each user holds one
 * reference of its own. A ctxset that asks for another CA file while the
 * shared one is in use gets a private store. */
static X509_STORE *g_store;
static char *g_store_path; /* NULL = the system default paths */
static size_t g_store_users;

static pthread_mutex_t g_keylog_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *g_keylog;
static char *g_keylog_path;
static size_t g_keylog_users;

/* Equal strings, NULL equal only to NULL. */
static bool streq0(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The OpenSSL error queue as text (for start-up messages only), and empties
 * it: a system error's strerror when there is one (a missing --ca-file is
 * "No such file or directory", not OpenSSL's "system lib"), else the reason
 * of the last error. */
static const char *ossl_reason(char *buf, size_t len)
{
    unsigned long e, last = 0, sys = 0;
    while ((e = ERR_get_error()) != 0) {
        if (ERR_SYSTEM_ERROR(e) && !sys)
            sys = e;
        last = e;
    }
    const char *why = last ? ERR_reason_error_string(last) : NULL;
    if (sys)
        snprintf(buf, len, "%s", strerror(ERR_GET_REASON(sys)));
    else
        snprintf(buf, len, "%s", why && why[0] ? why : "rejected");
    return buf;
}

static X509_STORE *load_store(const char *ca_file, char *err, size_t errlen)
{
    X509_STORE *s = X509_STORE_new();
    if (!s) {
        snprintf(err, errlen, "cannot create the trust store (out of memory)");
        return NULL;
    }
    err_clear();
    int ok = ca_file ? X509_STORE_load_file(s, ca_file) : X509_STORE_set_default_paths(s);
    if (!ok) {
        char why[160];
        if (ca_file)
            snprintf(err, errlen, "--ca-file %s: cannot load certificates: %s", ca_file,
                     ossl_reason(why, sizeof why));
        else
            snprintf(err, errlen, "cannot load the system trust store: %s",
                     ossl_reason(why, sizeof why));
        X509_STORE_free(s);
        return NULL;
    }
    err_clear();
    return s;
}

static X509_STORE *store_acquire(const char *ca_file, char *err, size_t errlen)
{
    X509_STORE *s = NULL;
    pthread_mutex_lock(&g_lock);
    if (g_store_users > 0 && streq0(g_store_path, ca_file)) {
        if (X509_STORE_up_ref(g_store)) {
            g_store_users++;
            s = g_store;
        } else {
            snprintf(err, errlen, "cannot share the trust store");
        }
    } else if (g_store_users == 0) {
        s = load_store(ca_file, err, errlen);
        if (s) {
            g_store = s;
            g_store_path = ca_file ? es_xstrdup(ca_file) : NULL;
            g_store_users = 1;
        }
    } else {
        s = load_store(ca_file, err, errlen); /* private: another CA file */
    }
    pthread_mutex_unlock(&g_lock);
    return s;
}

static void store_release(X509_STORE *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&g_lock);
    if (s == g_store && --g_store_users == 0) {
        g_store = NULL;
        free(g_store_path);
        g_store_path = NULL;
    }
    pthread_mutex_unlock(&g_lock);
    X509_STORE_free(s);
}

/* Opens the key log (0600, appended) or shares the open one. */
static bool keylog_acquire(const char *path, char *err, size_t errlen)
{
    bool ok = true;
    pthread_mutex_lock(&g_keylog_lock);
    if (g_keylog_users > 0) {
        if (streq0(g_keylog_path, path)) {
            g_keylog_users++;
        } else {
            snprintf(err, errlen, "--keylog %s: another key log (%s) is already open", path,
                     g_keylog_path);
            ok = false;
        }
        goto out;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "--keylog %s: %s", path, strerror(errno));
        ok = false;
        goto out;
    }
    /* The file holds session secrets: owner-only even if it existed. */
    (void)fchmod(fd, 0600);
    g_keylog = fdopen(fd, "a");
    if (!g_keylog) {
        snprintf(err, errlen, "--keylog %s: %s", path, strerror(errno));
        close(fd);
        ok = false;
        goto out;
    }
    g_keylog_path = es_xstrdup(path);
    g_keylog_users = 1;
out:
    pthread_mutex_unlock(&g_keylog_lock);
    return ok;
}

static void keylog_release(void)
{
    pthread_mutex_lock(&g_keylog_lock);
    if (g_keylog_users > 0 && --g_keylog_users == 0) {
        fclose(g_keylog);
        g_keylog = NULL;
        free(g_keylog_path);
        g_keylog_path = NULL;
    }
    pthread_mutex_unlock(&g_keylog_lock);
}

static void keylog_cb(const SSL *ssl, const char *line)
{
    (void)ssl;
    pthread_mutex_lock(&g_keylog_lock);
    if (g_keylog) {
        fputs(line, g_keylog);
        fputc('\n', g_keylog);
        fflush(g_keylog);
    }
    pthread_mutex_unlock(&g_keylog_lock);
}

/* ------------------------------------------------------------------------ */
/* The probe.                                                                */

enum tp_state {
    TP_IDLE = 0,
    TP_HANDSHAKE, /* ClientHello sent, driving SSL_do_handshake */
    TP_POST,      /* TLS 1.3 after a CertificateRequest: handshake done, waiting for the
                     server's first record or the end of the grace (wait_until_ns) */
    TP_HTTP,      /* handshake done: the h2 check and/or the GET (httpcheck.h) */
    TP_DONE,      /* outcome decided; only pending bytes and the row are left */
};

#define OUT_CAP  1024 /* one ClientHello in one SEND, usually; lent per send (out_take) */
#define NAME_CAP 256  /* subject / issuer, RFC 2253, ASCII (high bytes escaped) */

struct es_tlsprobe {
    enum tp_state state;
    struct es_tls_ctxset *set;
    const struct es_edge *edge;
    const struct es_variant *variant;
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    uint64_t start_ns, hs_end_ns;
    uint64_t first_rx_ns;   /* the first step over server bytes: one round trip */
    uint64_t wait_until_ns; /* TP_POST: when the grace ends */
    bool rx_any, first_byte_bad, ssl_failed;
    bool hello_seen;   /* a ServerHello arrived: negotiated fields can be read */
    bool cert_request; /* the server asked for a client certificate */
    bool post_record;  /* TP_POST: a handshake or alert record arrived */

    /* alerts as the callbacks saw them: -1 = none */
    int peer_alert, local_alert;
    bool peer_alert_fatal;

    /* the outcome */
    const char *sni, *status, *error, *stage, *alert_from;
    int alert;
    const char *tls_version, *cipher, *group, *verify, *h2;
    int ocsp;
    int kx_bits, chain_len;
    int dh_bits; /* a TLS 1.2 DHE key the security callback saw (maybe refused), 0 = none */
    long days_left;
    char group_buf[24]; /* a DHE group without a negotiated name: "ffdhe2048", "dh1024" */
    char cert_key[24];  /* "ec256", "rsa2048", "ed25519" */
    char cert_sig[64];  /* "ecdsa-with-SHA256", "sha256WithRSAEncryption" */
    char alpn[64];
    char sha256[65];
    char subject[NAME_CAP], issuer[NAME_CAP];
    char not_before[24], not_after[24];
    /* --hello pq|split: the first flight goes out in two segments, cut at
     * `cut` (0 = no cut); tx_read counts bytes taken from wbio */
    int hello_bytes; /* the ClientHello as sent (its records), -1 = none */
    uint32_t cut, tx_read;
    bool cut_passed;
    bool http_timeout; /* --http-check: the deadline came before the GET */
    bool http_on;      /* es_httpcheck_start ran: es_httpcheck_end is due */
    /* TP_HTTP */
    int http_mode; /* enum es_http_mode; 0 = the check did not run */
    int64_t http_wall_s;
    struct es_httpcheck http;

    /* bytes for the network, taken from wbio */
    uint16_t out_len, out_off;
    uint8_t *out; /* OUT_CAP bytes lent by the set while bytes wait to be sent, else NULL */
};

struct vcache_entry {
    XXH128_hash_t key;
    const char *verify; /* NULL = empty slot */
    uint64_t when_ns;
};

/* The text columns of one leaf certificate, kept by its DER (see
 * collect_cert): a fleet serves the same certificate from many edges. */
#define CERTC_SIZE    64   /* entries, direct-mapped by xxh3 of the DER */
#define CERTC_DER_MAX 4096 /* longer leaves are not kept */
struct certc_entry {
    uint64_t hash;
    uint32_t len; /* 0 = empty */
    uint8_t *der; /* CERTC_DER_MAX bytes, allocated when first filled */
    char sha256[65];
    char subject[NAME_CAP], issuer[NAME_CAP];
    char not_before[24], not_after[24];
    char cert_key[24], cert_sig[64];
};

/* One per worker (engine.c), used by that worker's thread only. It has its
 * own OpenSSL library context: OpenSSL 3.0 takes the read lock of the
 * library context several hundred times per handshake (every algorithm
 * fetch, name lookup and provider-side parameter), plus the locks of its name
 * map and method store, and bumps reference counts of the fetched methods;
 * in the default context those are process-wide, so every core would write
 * the same cache lines on every handshake. In the worker's own context they
 * are the worker's. */
struct es_tls_ctxset {
    OSSL_LIB_CTX *libctx;
    const struct es_variant *variants;
    size_t nvariants;
    SSL_CTX **ctx; /* by variant; variants that differ only in SNI share one */
    bool no_verify, h2_check, keylog;
    const char *http_path; /* --http-check, NULL = off */
    X509_STORE *store;
    X509_STORE_CTX *vctx;
    BIO *namebio;
    XXH3_state_t *xxh;
    EVP_MD *sha256; /* fetched once: EVP_sha256() would fetch it per probe */
    uint8_t *der;
    size_t dercap;
    struct vcache_entry *vcache;
    uint64_t verifications;
    struct certc_entry *certc; /* CERTC_SIZE */
    SSL *pool[ES_TLS_SSL_POOL]; /* idle, reset, each with its two memory BIOs */
    uint8_t **outfree; /* send buffers (OUT_CAP) not lent to a probe */
    size_t noutfree, outcap, nout;
    unsigned npool;
    uint64_t ssl_new, ssl_reused;
};

static const char none_text[] = "none";

size_t es_tlsprobe_size(void)
{
    return sizeof(struct es_tlsprobe);
}

uint64_t es_tls_ctxset_verifications(const struct es_tls_ctxset *set)
{
    return set->verifications;
}

size_t es_tls_ctxset_send_buffers(const struct es_tls_ctxset *set)
{
    return set->nout;
}

uint64_t es_tls_ctxset_ssl_new(const struct es_tls_ctxset *set)
{
    return set->ssl_new;
}

uint64_t es_tls_ctxset_ssl_reused(const struct es_tls_ctxset *set)
{
    return set->ssl_reused;
}

/* ------------------------------------------------------------------------ */
/* The one SSL_get_error mapping.                                            */

enum es_tls_io es_tls_map_error(int ssl_error, unsigned long err, const char **reason)
{
    *reason = NULL;
    switch (ssl_error) {
    case SSL_ERROR_NONE: return ES_TLS_IO_DONE;
    case SSL_ERROR_WANT_READ: return ES_TLS_IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return ES_TLS_IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: /* close_notify */
        *reason = es_tok_eof_during_handshake;
        return ES_TLS_IO_FAILED;
    case SSL_ERROR_SYSCALL:
        /* A memory BIO has no errno: an empty queue means the BIO said EOF. */
        *reason = err ? es_tok_handshake_error : es_tok_eof_during_handshake;
        return ES_TLS_IO_FAILED;
    case SSL_ERROR_SSL:
        *reason = es_tok_handshake_error;
        if (err && !ERR_SYSTEM_ERROR(err) && ERR_GET_LIB(err) == ERR_LIB_SSL) {
            switch (ERR_GET_REASON(err)) {
            case SSL_R_WRONG_VERSION_NUMBER: *reason = es_tok_wrong_version_number; break;
            case SSL_R_UNEXPECTED_EOF_WHILE_READING: *reason = es_tok_eof_during_handshake; break;
            case SSL_R_NO_SHARED_CIPHER:
            case SSL_R_NO_CIPHERS_AVAILABLE:
            case SSL_R_NO_CIPHER_MATCH: *reason = es_tok_no_shared_cipher; break;
            case SSL_R_DH_KEY_TOO_SMALL: *reason = es_tok_dh_key_too_small; break;
            default: break;
            }
        }
        return ES_TLS_IO_FAILED;
    default: /* WANT_X509_LOOKUP, WANT_ASYNC, ...: never asked for */
        *reason = es_tok_handshake_error;
        return ES_TLS_IO_FAILED;
    }
}

/* A server Certificate longer than ES_TLS_MAX_CERT_LIST: OpenSSL rejects it
 * at its header with EXCESSIVE_MESSAGE_SIZE while in the state of reading
 * the server's Certificate (the same reason code for another message, whose
 * caps are OpenSSL's own, stays handshake_error). */
static bool cert_list_too_long(const SSL *ssl, unsigned long err)
{
    return err && !ERR_SYSTEM_ERROR(err) && ERR_GET_LIB(err) == ERR_LIB_SSL &&
           ERR_GET_REASON(err) == SSL_R_EXCESSIVE_MESSAGE_SIZE &&
           SSL_get_state(ssl) == TLS_ST_CR_CERT;
}

/* Classifies the result r of the SSL call just made, then leaves the error
 * queue empty for whoever runs next on this thread. */
static enum es_tls_io ssl_result(struct es_tlsprobe *tp, int r, const char **reason)
{
    unsigned long err = ERR_peek_error();
    enum es_tls_io io = es_tls_map_error(SSL_get_error(tp->ssl, r), err, reason);
    if (io == ES_TLS_IO_FAILED && cert_list_too_long(tp->ssl, err))
        *reason = es_tok_cert_list_too_long;
    if (err)
        ERR_clear_error();
    if (io == ES_TLS_IO_FAILED)
        tp->ssl_failed = true;
    return io;
}

/* ------------------------------------------------------------------------ */
/* Callbacks (per SSL_CTX; the probe is the SSL's app data).                 */

static void info_cb(const SSL *ssl, int where, int ret)
{
    if (!(where & SSL_CB_ALERT))
        return;
    struct es_tlsprobe *tp = SSL_get_app_data(ssl);
    if (!tp)
        return;
    int level = (ret >> 8) & 0xff, code = ret & 0xff;
    bool fatal = level == SSL3_AL_FATAL;
    if (where & SSL_CB_READ) {
        if (!tp->peer_alert_fatal) { /* the first fatal one wins */
            tp->peer_alert = code;
            tp->peer_alert_fatal = fatal;
        }
    } else if (fatal && tp->local_alert < 0) {
        tp->local_alert = code;
    }
}

static const char *const stage_order[] = {es_tok_client_hello,   es_tok_server_hello,
                                          es_tok_certificate,    es_tok_finished,
                                          es_tok_post_handshake, es_tok_h2,
                                          es_tok_http};

static int stage_rank(const char *stage)
{
    for (size_t i = 0; i < ES_ARRAY_LEN(stage_order); i++)
        if (stage_order[i] == stage)
            return (int)i;
    return -1;
}

/* Stages only move forward (a HelloRetryRequest is a second ServerHello). */
static void advance_stage(struct es_tlsprobe *tp, const char *stage)
{
    if (stage_rank(stage) > stage_rank(tp->stage))
        tp->stage = stage;
}

static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    (void)version;
    (void)arg;
    if (write_p || (content_type != SSL3_RT_HANDSHAKE && content_type != SSL3_RT_ALERT) || len < 1)
        return;
    struct es_tlsprobe *tp = SSL_get_app_data(ssl);
    if (!tp)
        return;
    if (tp->state == TP_POST)
        tp->post_record = true; /* a session ticket, a KeyUpdate, an alert */
    if (content_type != SSL3_RT_HANDSHAKE)
        return;
    switch (((const uint8_t *)buf)[0]) {
    case SSL3_MT_SERVER_HELLO:
        tp->hello_seen = true;
        advance_stage(tp, es_tok_server_hello);
        break;
    case SSL3_MT_CERTIFICATE: advance_stage(tp, es_tok_certificate); break;
    case SSL3_MT_CERTIFICATE_REQUEST: tp->cert_request = true; break;
    default: break;
    }
}

static const char *dh_group_text(struct es_tlsprobe *tp, EVP_PKEY *k);

/* OpenSSL's default security callback, which ours defers to. */
typedef int (*security_fn)(const SSL *s, const SSL_CTX *ctx, int op, int bits, int nid, void *other,
                           void *ex);
static security_fn g_default_security;
static pthread_once_t g_security_once = PTHREAD_ONCE_INIT;

static void find_default_security(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx)
        g_default_security = SSL_CTX_get_security_callback(ctx);
    SSL_CTX_free(ctx);
    err_clear();
}

/* Judges as OpenSSL's default does, and on the way notes the server's
 * TLS 1.2 DHE key (op SSL_SECOP_TMP_DH), which OpenSSL drops when it is
 * below the security level: a weak DH prime is still named in the row. */
static int security_cb(const SSL *ssl, const SSL_CTX *ctx, int op, int bits, int nid, void *other,
                       void *ex)
{
    /* OpenSSL asks dozens of times per handshake (each cipher, signature
     * algorithm, group, version): the probe is looked up only for a DH key. */
    struct es_tlsprobe *tp = op == SSL_SECOP_TMP_DH && ssl ? SSL_get_app_data(ssl) : NULL;
    if (tp && other) {
        EVP_PKEY *k = other;
        tp->dh_bits = EVP_PKEY_get_bits(k);
        tp->kx_bits = tp->dh_bits;
        tp->group = dh_group_text(tp, k);
    }
    return g_default_security(ssl, ctx, op, bits, nid, other, ex);
}

/* ------------------------------------------------------------------------ */
/* The set of SSL_CTXs.                                                      */

/* OpenSSL's verification step: accepts every chain (see make_ctx). */
static int skip_verify_cb(X509_STORE_CTX *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 1;
}

/* Variants that differ only in SNI mode can share an SSL_CTX. */
static bool same_ctx_config(const struct es_variant *a, const struct es_variant *b)
{
    return a->tls_min == b->tls_min && a->tls_max == b->tls_max && streq0(a->ciphers, b->ciphers) &&
           streq0(a->ciphersuites, b->ciphersuites) && streq0(a->groups, b->groups) &&
           a->alpn_wire_len == b->alpn_wire_len &&
           (a->alpn_wire_len == 0 || memcmp(a->alpn_wire, b->alpn_wire, a->alpn_wire_len) == 0) &&
           (a->hello == ES_HELLO_PQ) == (b->hello == ES_HELLO_PQ); /* pq: a padding extension */
}

static SSL_CTX *make_ctx(OSSL_LIB_CTX *libctx, const struct es_variant *v,
                         const struct es_tls_opts *opts, char *err, size_t errlen)
{
    char why[160];
    err_clear();
    SSL_CTX *ctx = SSL_CTX_new_ex(libctx, NULL, TLS_client_method());
    if (!ctx) {
        snprintf(err, errlen, "variant %s: cannot create an SSL_CTX: %s", v->name,
                 ossl_reason(why, sizeof why));
        return NULL;
    }
    /* TLS 1.0 and 1.1 are refused at the default security level. Set before
     * the cipher string, so that an explicit @SECLEVEL in it wins. */
    if (v->tls_min && v->tls_min < TLS1_2_VERSION)
        SSL_CTX_set_security_level(ctx, 0);
    const char *what = NULL, *value = NULL;
    if (!SSL_CTX_set_min_proto_version(ctx, v->tls_min) ||
        !SSL_CTX_set_max_proto_version(ctx, v->tls_max)) {
        what = "--tls", value = v->tls_offered;
    } else if (v->ciphers && !SSL_CTX_set_cipher_list(ctx, v->ciphers)) {
        what = "--ciphers", value = v->ciphers;
    } else if (v->ciphersuites && !SSL_CTX_set_ciphersuites(ctx, v->ciphersuites)) {
        what = "--ciphersuites", value = v->ciphersuites;
    } else if (v->groups && !SSL_CTX_set1_groups_list(ctx, v->groups)) {
        what = "--groups", value = v->groups;
    } else if (v->alpn_wire &&
               SSL_CTX_set_alpn_protos(ctx, v->alpn_wire, (unsigned)v->alpn_wire_len) != 0) {
        what = "--alpn", value = v->alpn_offered;
    }
    if (what) {
        snprintf(err, errlen, "variant %s: %s '%s' rejected by OpenSSL: %s", v->name, what, value,
                 ossl_reason(why, sizeof why));
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* Verification is ours, after the handshake, and never fatal. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    /* So OpenSSL's own chain building, which runs even under
     * SSL_VERIFY_NONE and whose result nothing reads, is skipped. */
    SSL_CTX_set_cert_verify_callback(ctx, skip_verify_cb, NULL);
    /* Every probe is a full handshake; idle buffers go back to the heap. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* Explicit, not OpenSSL's default: a hostile chain costs at most this. */
    SSL_CTX_set_max_cert_list(ctx, ES_TLS_MAX_CERT_LIST);
    SSL_CTX_set_tlsext_status_type(ctx, TLSEXT_STATUSTYPE_ocsp);
    SSL_CTX_set_info_callback(ctx, info_cb);
    SSL_CTX_set_msg_callback(ctx, msg_cb);
    pthread_once(&g_security_once, find_default_security);
    if (g_default_security)
        SSL_CTX_set_security_callback(ctx, security_cb);
    if (opts->keylog)
        SSL_CTX_set_keylog_callback(ctx, keylog_cb);
    err_clear();
    return ctx;
}

/* Variant i's SSL_CTX already carries the pq padding (an earlier pq variant
 * shares it). */
static bool pq_ready(const struct es_tls_ctxset *set, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (set->ctx[j] == set->ctx[i] && set->variants[j].hello == ES_HELLO_PQ)
            return true;
    return false;
}

/* The set's own library context (see struct es_tls_ctxset): the same
 * configuration file as OpenSSL's default context (OPENSSL_CONF, else
 * OpenSSL's default path; providers and properties set there apply alike),
 * and, as there, the default provider when the file activates none. */
static OSSL_LIB_CTX *worker_libctx(char *err, size_t errlen)
{
    char why[160];
    err_clear();
    OSSL_LIB_CTX *libctx = OSSL_LIB_CTX_new();
    if (!libctx) {
        snprintf(err, errlen, "cannot create an OpenSSL library context (out of memory)");
        return NULL;
    }
    char *conf = CONF_get1_default_config_file();
    if (conf && access(conf, R_OK) == 0 && !OSSL_LIB_CTX_load_config(libctx, conf)) {
        snprintf(err, errlen, "OpenSSL configuration %s: %s", conf, ossl_reason(why, sizeof why));
        OPENSSL_free(conf);
        OSSL_LIB_CTX_free(libctx);
        return NULL;
    }
    OPENSSL_free(conf);
    /* FIPS mode switched on in the default context by the program, not by
     * the file (edgeshake never does; a test does): the same here. */
    if (EVP_default_properties_is_fips_enabled(NULL) &&
        !EVP_default_properties_is_fips_enabled(libctx))
        (void)EVP_default_properties_enable_fips(libctx, 1);
    err_clear();
    return libctx;
}

struct es_tls_ctxset *es_tls_ctxset_new(const struct es_variant *variants, size_t nvariants,
                                        const struct es_tls_opts *opts, char *err, size_t errlen)
{
    struct es_tls_ctxset *set = es_xcalloc(1, sizeof *set);
    set->variants = variants;
    set->nvariants = nvariants;
    set->no_verify = opts->no_verify;
    set->h2_check = opts->h2_check;
    set->http_path = opts->http_path;
    set->ctx = es_xcalloc(nvariants, sizeof *set->ctx);
    if (!(set->libctx = worker_libctx(err, errlen)))
        goto fail;
    if (opts->keylog) {
        if (!keylog_acquire(opts->keylog, err, errlen))
            goto fail;
        set->keylog = true;
    }
    for (size_t i = 0; i < nvariants; i++) {
        for (size_t j = 0; j < i && !set->ctx[i]; j++) {
            if (same_ctx_config(&variants[i], &variants[j]) && SSL_CTX_up_ref(set->ctx[j]))
                set->ctx[i] = set->ctx[j];
        }
        if (!set->ctx[i] && !(set->ctx[i] = make_ctx(set->libctx, &variants[i], opts, err, errlen)))
            goto fail;
        if (variants[i].hello == ES_HELLO_PQ && set->ctx[i] != (i ? set->ctx[i - 1] : NULL) &&
            !pq_ready(set, i) && es_hello_pq_install(set->ctx[i], err, errlen) < 0)
            goto fail;
    }
    if (!set->no_verify) {
        set->store = store_acquire(opts->ca_file, err, errlen);
        if (!set->store)
            goto fail;
        set->vctx = X509_STORE_CTX_new();
        if (!set->vctx) {
            snprintf(err, errlen, "cannot create a verification context (out of memory)");
            goto fail;
        }
        set->vcache = es_xcalloc(ES_TLS_VERIFY_CACHE_SIZE, sizeof *set->vcache);
        set->xxh = XXH3_createState();
        if (!set->xxh)
            es_die(ES_EXIT_RUNTIME, "out of memory allocating an xxh3 state");
    }
    set->certc = es_xcalloc(CERTC_SIZE, sizeof *set->certc);
    set->sha256 = EVP_MD_fetch(set->libctx, "SHA256", NULL);
    set->namebio = BIO_new(BIO_s_mem());
    if (!set->namebio || !set->sha256) {
        snprintf(err, errlen, "cannot create a memory BIO or fetch SHA-256 (out of memory)");
        goto fail;
    }
    return set;
fail:
    es_tls_ctxset_free(set);
    return NULL;
}

void es_tls_ctxset_free(struct es_tls_ctxset *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->nvariants; i++)
        SSL_CTX_free(set->ctx[i]); /* shared ones hold one reference per variant */
    free(set->ctx);
    store_release(set->store);
    X509_STORE_CTX_free(set->vctx);
    BIO_free(set->namebio);
    XXH3_freeState(set->xxh);
    EVP_MD_free(set->sha256);
    free(set->der);
    free(set->vcache);
    for (unsigned i = 0; i < set->npool; i++)
        SSL_free(set->pool[i]);
    for (size_t i = 0; i < set->noutfree; i++)
        free(set->outfree[i]);
    free(set->outfree);
    for (size_t i = 0; set->certc && i < CERTC_SIZE; i++)
        free(set->certc[i].der);
    free(set->certc);
    if (set->keylog)
        keylog_release();
    OSSL_LIB_CTX_free(set->libctx); /* after everything made from it */
    free(set);
}

/* ------------------------------------------------------------------------ */
/* Certificates.                                                             */

/* i2d of x appended at set->der[off]; returns its length, or -1. The buffer
 * grows to the largest chain seen, then stays (no allocation per probe). */
static int der_append(struct es_tls_ctxset *set, X509 *x, size_t off)
{
    int n = i2d_X509(x, NULL);
    if (n <= 0)
        return -1;
    set->der = es_xgrow(set->der, &set->dercap, off + (size_t)n, 1);
    unsigned char *p = set->der + off;
    if (i2d_X509(x, &p) != n)
        return -1;
    return n;
}

static void name_text(struct es_tls_ctxset *set, const X509_NAME *name, char *out, size_t cap)
{
    out[0] = '\0';
    (void)BIO_reset(set->namebio);
    if (X509_NAME_print_ex(set->namebio, name, 0, XN_FLAG_RFC2253) < 0)
        return;
    char *data;
    long n = BIO_get_mem_data(set->namebio, &data);
    if (n <= 0)
        return;
    size_t len = (size_t)n < cap - 1 ? (size_t)n : cap - 1;
    memcpy(out, data, len);
    out[len] = '\0';
}

static void time_text(const ASN1_TIME *t, char *out, size_t cap)
{
    struct tm tm;
    out[0] = '\0';
    if (!t || !ASN1_TIME_to_tm(t, &tm) || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        out[0] = '\0';
}

static const char *verify_token(int err)
{
    switch (err) {
    case X509_V_OK: return es_tok_ok;
    case X509_V_ERR_CERT_HAS_EXPIRED: return es_tok_expired;
    case X509_V_ERR_CERT_NOT_YET_VALID: return es_tok_not_yet_valid;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH: return es_tok_hostname_mismatch;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: return es_tok_self_signed;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: return es_tok_unknown_ca;
    default: return es_tok_untrusted;
    }
}

static bool is_ip_text(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* The name a client of this probe would check: the SNI name in SNI mode
 * NAME, else the target host (an IP for IP targets). */
static const char *verify_name(const struct es_tlsprobe *tp, bool *is_ip)
{
    if (tp->variant->sni_mode == ES_SNI_NAME && tp->variant->sni_name) {
        *is_ip = is_ip_text(tp->variant->sni_name);
        return tp->variant->sni_name;
    }
    *is_ip = tp->edge->host_is_ip;
    return tp->edge->host;
}

static const char *verify_chain(struct es_tls_ctxset *set, X509 *leaf, STACK_OF(X509) * chain,
                                const char *name, bool is_ip)
{
    X509_STORE_CTX *c = set->vctx;
    set->verifications++;
    err_clear();
    if (!X509_STORE_CTX_init(c, set->store, leaf, chain)) {
        err_clear();
        return es_tok_untrusted;
    }
    X509_STORE_CTX_set_default(c, "ssl_server");
    X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(c);
    int set_ok =
        is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, name) : X509_VERIFY_PARAM_set1_host(vp, name, 0);
    const char *tok = es_tok_untrusted;
    if (set_ok)
        tok = X509_verify_cert(c) == 1 ? es_tok_ok : verify_token(X509_STORE_CTX_get_error(c));
    X509_STORE_CTX_cleanup(c);
    err_clear();
    return tok;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Verifies through the cache: key = xxh3-128 of each certificate's DER
 * (length-prefixed) and the name. The leaf's DER is at set->der[0..leaf_len). */
static const char *verify_cached(struct es_tlsprobe *tp, X509 *leaf, size_t leaf_len,
                                 uint64_t now_ns)
{
    struct es_tls_ctxset *set = tp->set;
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(tp->ssl); /* client side: leaf first */
    bool is_ip;
    const char *name = verify_name(tp, &is_ip);

    XXH3_128bits_reset(set->xxh);
    uint32_t n32 = (uint32_t)leaf_len;
    XXH3_128bits_update(set->xxh, &n32, sizeof n32);
    XXH3_128bits_update(set->xxh, set->der, leaf_len);
    for (int i = 0; chain && i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        if (i == 0 && X509_cmp(x, leaf) == 0)
            continue; /* the leaf, hashed above */
        int n = der_append(set, x, leaf_len);
        if (n < 0)
            return es_tok_untrusted;
        n32 = (uint32_t)n;
        XXH3_128bits_update(set->xxh, &n32, sizeof n32);
        XXH3_128bits_update(set->xxh, set->der + leaf_len, (size_t)n);
    }
    n32 = (uint32_t)strlen(name) | (is_ip ? 0x80000000u : 0);
    XXH3_128bits_update(set->xxh, &n32, sizeof n32);
    XXH3_128bits_update(set->xxh, name, strlen(name));
    XXH128_hash_t key = XXH3_128bits_digest(set->xxh);

    struct vcache_entry *e = &set->vcache[key.low64 & (ES_TLS_VERIFY_CACHE_SIZE - 1)];
    if (e->verify && XXH128_isEqual(e->key, key) &&
        now_ns - e->when_ns < (uint64_t)ES_TLS_VERIFY_CACHE_TTL_S * 1000000000u)
        return e->verify;
    e->key = key;
    e->verify = verify_chain(set, leaf, chain, name, is_ip);
    e->when_ns = now_ns;
    return e->verify;
}

/* cert_key: the leaf's key type and size in one word, "ec256", "rsa2048",
 * "ed25519"; another type by its OpenSSL name in lower case, with its size. */
static void key_text(EVP_PKEY *k, char *out, size_t cap)
{
    static const struct {
        const char *ossl, *word;
        bool sized;
    } kinds[] = {
        {"EC", "ec", true},          {"RSA", "rsa", true},
        {"RSA-PSS", "rsapss", true}, {"ED25519", "ed25519", false},
        {"ED448", "ed448", false},   {"DSA", "dsa", true},
        {"SM2", "sm2", true},
    };
    out[0] = '\0';
    if (!k)
        return;
    int bits = EVP_PKEY_get_bits(k);
    for (size_t i = 0; i < ES_ARRAY_LEN(kinds); i++) {
        if (EVP_PKEY_is_a(k, kinds[i].ossl)) {
            if (kinds[i].sized)
                snprintf(out, cap, "%s%d", kinds[i].word, bits);
            else
                snprintf(out, cap, "%s", kinds[i].word);
            return;
        }
    }
    const char *name = EVP_PKEY_get0_type_name(k);
    if (!name)
        return;
    size_t n = 0;
    for (; name[n] && n + 1 < cap; n++)
        out[n] = (name[n] >= 'A' && name[n] <= 'Z') ? (char)(name[n] + 32) : name[n];
    out[n] = '\0';
    if (bits > 0 && n < cap)
        snprintf(out + n, cap - n, "%d", bits);
}

/* cert_days_left: whole days from now to t, rounded down (so negative from
 * the second t has passed). ES_ROW_NONE when t cannot be read. */
static long days_left(const ASN1_TIME *t)
{
    int day = 0, sec = 0;
    if (!t || !ASN1_TIME_diff(&day, &sec, NULL, t))
        return ES_ROW_NONE;
    long long total = (long long)day * 86400 + sec; /* day and sec share a sign */
    return (long)(total >= 0 ? total / 86400 : -((-total + 86399) / 86400));
}

/* cert_sig: the leaf's signature algorithm, from OpenSSL's parsed certificate. */
static void cert_sig_text(struct es_tlsprobe *tp, X509 *leaf)
{
    const X509_ALGOR *alg = NULL;
    const ASN1_OBJECT *obj = NULL;
    X509_get0_signature(NULL, &alg, leaf);
    if (alg)
        X509_ALGOR_get0(&obj, NULL, NULL, alg);
    /* The long name, as `openssl x509 -text` prints it; an OID unknown to
     * OpenSSL in dotted form. */
    if (!obj || OBJ_obj2txt(tp->cert_sig, sizeof tp->cert_sig, obj, 0) <= 0)
        tp->cert_sig[0] = '\0';
}

/* The inventory columns that are not the leaf's alone: cert_days_left (from
 * now) and chain_len. */
static void collect_inventory(struct es_tlsprobe *tp, X509 *leaf)
{
    tp->days_left = days_left(X509_get0_notAfter(leaf));
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(tp->ssl); /* client side: leaf first */
    tp->chain_len = chain ? sk_X509_num(chain) : 1;
}

/* The columns that depend on the leaf's bytes alone: SHA-256, names,
 * validity, key and signature algorithm. */
static void cert_texts(struct es_tlsprobe *tp, X509 *leaf, int n)
{
    struct es_tls_ctxset *set = tp->set;
    if (n > 0) {
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        if (EVP_Digest(set->der, (size_t)n, md, &mdlen, set->sha256, NULL) && mdlen == 32)
            hex(md, mdlen, tp->sha256);
    }
    name_text(set, X509_get_subject_name(leaf), tp->subject, sizeof tp->subject);
    name_text(set, X509_get_issuer_name(leaf), tp->issuer, sizeof tp->issuer);
    time_text(X509_get0_notBefore(leaf), tp->not_before, sizeof tp->not_before);
    time_text(X509_get0_notAfter(leaf), tp->not_after, sizeof tp->not_after);
    key_text(X509_get0_pubkey(leaf), tp->cert_key, sizeof tp->cert_key);
    cert_sig_text(tp, leaf);
}

#define CERTC_COPY(dst, src)                                                                       \
    do {                                                                                           \
        _Static_assert(sizeof(dst) == sizeof(src), "same text sizes");                             \
        memcpy(dst, src, sizeof(dst));                                                             \
    } while (0)

/* cert_texts through the set's cache: the same DER (compared whole) gives the
 * same texts, so a hit copies them (about 35,000 instructions less). */
static void cert_texts_cached(struct es_tlsprobe *tp, X509 *leaf, int n)
{
    struct es_tls_ctxset *set = tp->set;
    if (n <= 0 || n > CERTC_DER_MAX) {
        cert_texts(tp, leaf, n);
        return;
    }
    uint64_t h = XXH3_64bits(set->der, (size_t)n);
    struct certc_entry *e = &set->certc[h & (CERTC_SIZE - 1)];
    if (e->len == (uint32_t)n && e->hash == h && memcmp(e->der, set->der, (size_t)n) == 0) {
        CERTC_COPY(tp->sha256, e->sha256);
        CERTC_COPY(tp->subject, e->subject);
        CERTC_COPY(tp->issuer, e->issuer);
        CERTC_COPY(tp->not_before, e->not_before);
        CERTC_COPY(tp->not_after, e->not_after);
        CERTC_COPY(tp->cert_key, e->cert_key);
        CERTC_COPY(tp->cert_sig, e->cert_sig);
        return;
    }
    cert_texts(tp, leaf, n);
    if (!e->der)
        e->der = es_xmalloc(CERTC_DER_MAX);
    memcpy(e->der, set->der, (size_t)n);
    e->len = (uint32_t)n;
    e->hash = h;
    CERTC_COPY(e->sha256, tp->sha256);
    CERTC_COPY(e->subject, tp->subject);
    CERTC_COPY(e->issuer, tp->issuer);
    CERTC_COPY(e->not_before, tp->not_before);
    CERTC_COPY(e->not_after, tp->not_after);
    CERTC_COPY(e->cert_key, tp->cert_key);
    CERTC_COPY(e->cert_sig, tp->cert_sig);
}

/* Fills the certificate columns and verify from the peer's certificate, if
 * the server sent one. */
static void collect_cert(struct es_tlsprobe *tp, uint64_t now_ns)
{
    X509 *leaf = SSL_get0_peer_certificate(tp->ssl);
    if (!leaf)
        return;
    struct es_tls_ctxset *set = tp->set;
    int n = der_append(set, leaf, 0);
    cert_texts_cached(tp, leaf, n);
    collect_inventory(tp, leaf);
    if (set->no_verify)
        tp->verify = es_tok_off;
    else
        tp->verify = n > 0 ? verify_cached(tp, leaf, (size_t)n, now_ns) : es_tok_untrusted;
    err_clear();
}

/* ------------------------------------------------------------------------ */
/* Negotiated parameters.                                                    */

static const char *version_text(int v)
{
    switch (v) {
    case TLS1_3_VERSION: return "1.3";
    case TLS1_2_VERSION: return "1.2";
    case TLS1_1_VERSION: return "1.1";
    case TLS1_VERSION: return "1.0";
    default: return NULL;
    }
}

/* The group in the spelling --groups takes: "X25519", "P-256", "ffdhe2048". */
static const char *group_text(SSL *ssl)
{
    int nid = SSL_get_negotiated_group(ssl);
    if (nid <= 0 || nid == NID_undef)
        return NULL;
    if (nid & TLSEXT_nid_unknown)
        return SSL_group_to_name(ssl, nid); /* a provider's group */
    const char *nist = EC_curve_nid2nist(nid);
    return nist ? nist : OBJ_nid2sn(nid);
}

/* A finite-field group by the name OpenSSL gives its prime (an RFC 7919
 * group: "ffdhe2048"), else "dh" and its size ("dh1024"). */
static const char *dh_group_text(struct es_tlsprobe *tp, EVP_PKEY *k)
{
    size_t n = 0;
    if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, tp->group_buf,
                                       sizeof tp->group_buf, &n) &&
        n > 0)
        return tp->group_buf;
    snprintf(tp->group_buf, sizeof tp->group_buf, "dh%d", EVP_PKEY_get_bits(k));
    return tp->group_buf;
}

/* kx_group and kx_bits from the server's ephemeral key (ECDHE, X25519,
 * DHE, TLS 1.3 key shares): X25519 253, P-256 256, ffdhe2048 2048. A DHE
 * key that our security level refused (dh_key_too_small) is never kept by
 * OpenSSL: the security callback named it already. No ephemeral key (TLS
 * <= 1.2 RSA key exchange, or not that far): both empty. */
static void collect_kx(struct es_tlsprobe *tp)
{
    EVP_PKEY *k = NULL;
    if (SSL_get_peer_tmp_key(tp->ssl, &k) != 1 || !k) {
        if (!tp->dh_bits) {
            tp->group = NULL;
            tp->kx_bits = -1;
        }
        return;
    }
    tp->kx_bits = EVP_PKEY_get_bits(k);
    if (EVP_PKEY_is_a(k, "DH") && SSL_version(tp->ssl) < TLS1_3_VERSION)
        tp->group = dh_group_text(tp, k); /* TLS 1.2 DHE names no group */
    else
        tp->group = group_text(tp->ssl);
    EVP_PKEY_free(k);
}

/* What the ServerHello (and, in TLS 1.2, the ServerKeyExchange) settled:
 * also on failing rows, once a ServerHello was accepted. The cipher is the
 * evidence: OpenSSL takes it (the pending cipher, current once the keys are
 * in use) only after the ServerHello's version passed; before, SSL_version
 * is merely the highest version offered. */
static void collect_negotiated(struct es_tlsprobe *tp)
{
    SSL *ssl = tp->ssl;
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    if (!c)
        c = SSL_get_pending_cipher(ssl);
    if (!tp->hello_seen || !c)
        return;
    tp->tls_version = version_text(SSL_version(ssl));
    tp->cipher = SSL_CIPHER_get_name(c);
    collect_kx(tp);
    err_clear();
}

/* The whole handshake's parameters: the above, ALPN and OCSP. */
static void collect_params(struct es_tlsprobe *tp)
{
    SSL *ssl = tp->ssl;
    collect_negotiated(tp);
    const unsigned char *alpn;
    unsigned alpn_len;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    if (alpn_len >= sizeof tp->alpn)
        alpn_len = sizeof tp->alpn - 1;
    memcpy(tp->alpn, alpn ? (const char *)alpn : "", alpn ? alpn_len : 0);
    tp->alpn[alpn ? alpn_len : 0] = '\0';
    const unsigned char *resp;
    long n = SSL_get_tlsext_status_ocsp_resp(ssl, &resp);
    tp->ocsp = n > 0 && resp ? 1 : 0;
    err_clear();
}

/* ------------------------------------------------------------------------ */
/* Ending.                                                                   */

/* Queues a close_notify when the connection is still healthy. */
static void polite_close(struct es_tlsprobe *tp)
{
    if (tp->ssl_failed)
        return;
    err_clear();
    (void)SSL_shutdown(tp->ssl);
    err_clear();
}

/* The handshake failed: status, error and alert from what we know, in
 * order of precedence (see token.h). */
static enum es_tls_want fail(struct es_tlsprobe *tp, const char *reason, uint64_t now_ns)
{
    assert(tp->state == TP_HANDSHAKE);
    tp->hs_end_ns = now_ns;
    tp->state = TP_DONE;
    tp->ssl_failed = true;
    if (tp->peer_alert >= 0 && tp->peer_alert_fatal) {
        tp->status = es_tok_alert;
        tp->alert = tp->peer_alert;
        tp->alert_from = es_tok_peer;
        tp->error = es_alert_name(tp->alert);
    } else {
        tp->status = reason == es_tok_handshake_timeout ? es_tok_timeout : es_tok_tls_error;
        /* Not TLS answered: whatever OpenSSL made of it. A timeout or a
         * reset is still what ended the probe. */
        if (tp->first_byte_bad && reason != es_tok_handshake_timeout &&
            reason != es_tok_connection_reset)
            reason = es_tok_wrong_version_number;
        tp->error = reason;
        /* On EOF OpenSSL "sends" decode_error into the closed connection:
         * a consequence, not the cause, so it is not reported. */
        if (tp->local_alert >= 0 && reason != es_tok_eof_during_handshake) {
            tp->alert = tp->local_alert;
            tp->alert_from = es_tok_local;
            if (reason == es_tok_handshake_error)
                tp->error = es_alert_name(tp->alert);
        } else if (tp->peer_alert >= 0) { /* a warning (close_notify, user_canceled) */
            tp->alert = tp->peer_alert;
            tp->alert_from = es_tok_peer;
        }
    }
    if (tp->ssl) {
        collect_negotiated(tp);
        collect_cert(tp, now_ns);
    }
    return ES_TLS_DONE;
}

/* ------------------------------------------------------------------------ */
/* After the handshake: --h2-check and --http-check (httpcheck.h) over the    */
/* decrypted stream.                                                          */

/* Writes what the check has to say (preface, SETTINGS, the request, a
 * goodbye); false when the SSL refuses it. */
static bool http_flush(struct es_tlsprobe *tp)
{
    uint8_t buf[4096];
    size_t n;
    while ((n = es_httpcheck_output(&tp->http, buf, sizeof buf)) > 0) {
        if (tp->ssl_failed)
            return false;
        const char *reason;
        err_clear();
        int r = SSL_write(tp->ssl, buf, (int)n);
        if (ssl_result(tp, r, &reason) != ES_TLS_IO_DONE)
            return false;
    }
    return true;
}

static enum es_tls_want http_finish(struct es_tlsprobe *tp, bool ended_by_eof)
{
    assert(tp->state == TP_HTTP);
    tp->state = TP_DONE;
    tp->http_wall_s = (int64_t)(es_wall_ms() / 1000);
    if (!tp->ssl_failed)
        (void)http_flush(tp); /* the SETTINGS ACK, a GOAWAY */
    struct es_http_result r;
    es_httpcheck_result(&tp->http, tp->http_wall_s, &r);
    tp->h2 = r.h2;
    /* Stage http once a GET went out over a working connection. */
    if (tp->http_mode == ES_HTTP_H1_GET || (tp->http_mode == ES_HTTP_H2_GET && r.h2 == es_tok_ok))
        tp->stage = es_tok_http;
    if (ended_by_eof && tp->peer_alert >= 0 && tp->peer_alert_fatal) {
        /* status ok never stands beside a fatal alert; a TLS alert after the
         * handshake is a post-handshake verdict (TLS 1.3 certificate_required
         * that came after the grace), not an HTTP/2 or HTTP failure: the same
         * row whether it arrived before or during the check. */
        tp->h2 = NULL;
        tp->http_mode = 0;
        tp->stage = es_tok_post_handshake;
        tp->status = es_tok_alert;
        tp->error = es_alert_name(tp->peer_alert);
        tp->alert = tp->peer_alert;
        tp->alert_from = es_tok_peer;
    }
    polite_close(tp);
    return ES_TLS_DONE;
}

static enum es_tls_want http_step(struct es_tlsprobe *tp)
{
    assert(tp->state == TP_HTTP);
    uint8_t buf[4096];
    for (;;) {
        const char *reason;
        err_clear();
        int r = SSL_read(tp->ssl, buf, sizeof buf);
        if (r > 0) {
            enum es_http_want w = es_httpcheck_input(&tp->http, buf, (size_t)r);
            if (!http_flush(tp)) {
                es_httpcheck_eof(&tp->http);
                return http_finish(tp, true);
            }
            if (w == ES_HTTP_DONE || es_httpcheck_done(&tp->http))
                return http_finish(tp, false);
            continue;
        }
        switch (ssl_result(tp, r, &reason)) {
        case ES_TLS_IO_WANT_READ:
        case ES_TLS_IO_WANT_WRITE: return ES_TLS_WANT_IO;
        case ES_TLS_IO_DONE:
        case ES_TLS_IO_FAILED: es_httpcheck_eof(&tp->http); return http_finish(tp, true);
        }
    }
}

/* The Host / :authority of the request: the SNI name sent, else the target
 * (its IP for IP targets). */
static const char *http_host(const struct es_tlsprobe *tp)
{
    return tp->sni ? tp->sni : tp->edge->host;
}

static enum es_tls_want http_start(struct es_tlsprobe *tp, enum es_http_mode mode)
{
    tp->state = TP_HTTP;
    tp->http_mode = mode;
    tp->http_on = true;
    tp->stage = mode == ES_HTTP_H1_GET ? es_tok_http : es_tok_h2;
    enum es_http_want w = es_httpcheck_start(&tp->http, mode, tp->set->http_path, http_host(tp),
                                             tp->edge->port);
    if (w == ES_HTTP_DONE)
        return http_finish(tp, false);
    if (!http_flush(tp)) {
        es_httpcheck_eof(&tp->http);
        return http_finish(tp, true);
    }
    return http_step(tp); /* the server's SETTINGS may have come with the handshake */
}

/* ------------------------------------------------------------------------ */
/* The handshake.                                                            */

static bool alpn_is_h2(const struct es_tlsprobe *tp)
{
    return strcmp(tp->alpn, "h2") == 0;
}

static bool wants_h2_check(const struct es_tlsprobe *tp)
{
    return tp->set->h2_check && alpn_is_h2(tp);
}

/* The handshake is complete and nothing after it went wrong: the GET
 * (--http-check, over h2 or HTTP/1.1), the h2 check, or the end. */
static enum es_tls_want after_handshake(struct es_tlsprobe *tp)
{
    if (tp->set->http_path)
        return http_start(tp, alpn_is_h2(tp) ? ES_HTTP_H2_GET : ES_HTTP_H1_GET);
    if (wants_h2_check(tp))
        return http_start(tp, ES_HTTP_H2_SETTINGS);
    tp->state = TP_DONE;
    polite_close(tp);
    return ES_TLS_DONE;
}

/* TP_POST: the grace, a few round trips (the first one measured from the
 * ClientHello to the server's first flight), within bounds (tlsprobe.h). */
static uint64_t post_grace_ns(const struct es_tlsprobe *tp)
{
    uint64_t rtt = tp->first_rx_ns > tp->start_ns ? tp->first_rx_ns - tp->start_ns : 0;
    uint64_t g = ES_TLS_POST_GRACE_RTTS * rtt, lo = ES_TLS_POST_GRACE_MIN_MS * 1000000ull,
             hi = ES_TLS_POST_GRACE_MAX_MS * 1000000ull;
    return g < lo ? lo : g > hi ? hi : g;
}

/* TP_POST ends in a failed read: a fatal alert from the server (TLS 1.3's
 * certificate_required, or any other) makes the row an alert row at stage
 * post_handshake; our own fatal alert (the server sent something broken)
 * a tls_error there; an EOF, a close_notify or a reset without an alert
 * leaves the completed handshake ok. */
static enum es_tls_want post_failed(struct es_tlsprobe *tp, const char *reason, uint64_t now_ns)
{
    assert(tp->state == TP_POST);
    tp->state = TP_DONE;
    tp->ssl_failed = true;
    if (tp->peer_alert >= 0 && tp->peer_alert_fatal) {
        tp->status = es_tok_alert;
        tp->alert = tp->peer_alert;
        tp->alert_from = es_tok_peer;
        tp->error = es_alert_name(tp->alert);
    } else if (tp->local_alert >= 0 && reason != es_tok_eof_during_handshake &&
               reason != es_tok_connection_reset) {
        tp->status = es_tok_tls_error;
        tp->alert = tp->local_alert;
        tp->alert_from = es_tok_local;
        tp->error = es_alert_name(tp->alert);
    } else {
        return ES_TLS_DONE; /* ok, as the handshake left it */
    }
    tp->stage = es_tok_post_handshake;
    tp->hs_end_ns = now_ns;
    return ES_TLS_DONE;
}

/* TP_POST: processes what arrived (SSL_peek leaves application data for
 * the h2 check) and decides whether the wait is over. */
static enum es_tls_want post_step(struct es_tlsprobe *tp, uint64_t now_ns)
{
    assert(tp->state == TP_POST);
    const char *reason;
    uint8_t b;
    err_clear();
    int r = SSL_peek(tp->ssl, &b, 1);
    if (r > 0)
        tp->post_record = true; /* the server spoke first (HTTP/2 SETTINGS) */
    else {
        switch (ssl_result(tp, r, &reason)) {
        case ES_TLS_IO_WANT_READ:
        case ES_TLS_IO_WANT_WRITE: break;
        case ES_TLS_IO_DONE:
        case ES_TLS_IO_FAILED: return post_failed(tp, reason, now_ns);
        }
    }
    if (!tp->post_record && now_ns < tp->wait_until_ns)
        return ES_TLS_WANT_IO;
    tp->wait_until_ns = 0;
    return after_handshake(tp);
}

static enum es_tls_want handshake_done(struct es_tlsprobe *tp, uint64_t now_ns)
{
    tp->hs_end_ns = now_ns;
    tp->status = es_tok_ok;
    tp->error = NULL;
    tp->stage = es_tok_finished;
    collect_params(tp);
    collect_cert(tp, now_ns);
    if (tp->cert_request && SSL_version(tp->ssl) >= TLS1_3_VERSION) {
        tp->state = TP_POST;
        tp->wait_until_ns = now_ns + post_grace_ns(tp);
        return post_step(tp, now_ns); /* the verdict may have come with the flight */
    }
    return after_handshake(tp);
}

static enum es_tls_want handshake_step(struct es_tlsprobe *tp, uint64_t now_ns)
{
    assert(tp->state == TP_HANDSHAKE);
    const char *reason;
    if (tp->rx_any && !tp->first_rx_ns)
        tp->first_rx_ns = now_ns;
    err_clear();
    int r = SSL_do_handshake(tp->ssl);
    switch (ssl_result(tp, r, &reason)) {
    case ES_TLS_IO_DONE: return handshake_done(tp, now_ns);
    case ES_TLS_IO_WANT_READ:
    case ES_TLS_IO_WANT_WRITE: return ES_TLS_WANT_IO;
    case ES_TLS_IO_FAILED: break;
    }
    return fail(tp, reason, now_ns);
}

/* ------------------------------------------------------------------------ */
/* SSL objects: made once, reset and used again.                              */

/* An SSL for ctx with its two memory BIOs: an idle one of the pool, else a
 * new one. NULL when out of memory. */
static SSL *ssl_take(struct es_tls_ctxset *set, SSL_CTX *ctx)
{
    for (unsigned i = set->npool; i-- > 0;) {
        SSL *s = set->pool[i];
        if (SSL_get_SSL_CTX(s) == ctx) {
            set->pool[i] = set->pool[--set->npool];
            set->ssl_reused++;
            return s;
        }
    }
    SSL *s = SSL_new(ctx);
    BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
    if (!s || !rbio || !wbio) {
        SSL_free(s);
        BIO_free(rbio);
        BIO_free(wbio);
        return NULL;
    }
    SSL_set_bio(s, rbio, wbio); /* s owns them */
    set->ssl_new++;
    return s;
}

/* The probe is over: s goes back to the pool, reset, or is freed when the
 * pool is full or a reset fails. What a reset SSL keeps is what SSL_new gave
 * it from the SSL_CTX (cipher lists, groups, ALPN offer, callbacks, options),
 * the same for every probe of that SSL_CTX. What the last connection left:
 *   - handshake, record layer, keys, negotiated version/cipher/group, the
 *     server's key share, ALPN selected, the client random: SSL_clear
 *     (ssl3_clear zeroes all TLS 1.2/1.3 state);
 *   - the session (the peer's certificate and chain, a TLS 1.3 ticket):
 *     SSL_clear keeps a good one for resumption, SSL_set_session(NULL) drops
 *     it, so no probe ever offers another probe's session;
 *   - a stapled OCSP response: dropped here (OpenSSL also drops it when it
 *     writes the next ClientHello);
 *   - the verify result: back to X509_V_OK (edgeshake's verify column is its
 *     own, but OpenSSL's result is not carried either);
 *   - SNI: es_tlsprobe_start sets the name or clears it, every time;
 *   - app data: cleared here, set at start; bytes left in either BIO:
 *     BIO_reset; the record buffers: SSL_free_buffers.
 * test_tlsprobe.c (test_ssl_reuse_*) compares reused SSLs' rows and
 * ClientHellos with those of new ones (and so the certificate text cache's
 * hits with fresh sets' misses). */
static void ssl_give(struct es_tls_ctxset *set, SSL *s)
{
    SSL_set_app_data(s, NULL);
    err_clear();
    if (set->npool < ES_TLS_SSL_POOL && SSL_clear(s) && SSL_set_session(s, NULL)) {
        SSL_set_tlsext_status_ocsp_resp(s, NULL, 0);
        SSL_set_verify_result(s, X509_V_OK);
        (void)BIO_reset(SSL_get_rbio(s));
        (void)BIO_reset(SSL_get_wbio(s));
        (void)SSL_free_buffers(s);
        err_clear();
        set->pool[set->npool++] = s;
        return;
    }
    err_clear();
    SSL_free(s); /* frees both BIOs */
}

static void hello_measure(struct es_tlsprobe *tp);

enum es_tls_want es_tlsprobe_start(struct es_tlsprobe *tp, struct es_tls_ctxset *set,
                                   const struct es_probe *p, uint64_t now_ns)
{
    assert(p->variant < set->nvariants);
    memset(tp, 0, sizeof *tp); /* out too: es_tlsprobe_end gave any buffer back */
    tp->state = TP_HANDSHAKE;
    tp->set = set;
    tp->edge = p->edge;
    tp->variant = &set->variants[p->variant];
    tp->start_ns = now_ns;
    tp->peer_alert = tp->local_alert = tp->alert = -1;
    tp->ocsp = -1;
    tp->kx_bits = tp->chain_len = -1;
    tp->days_left = ES_ROW_NONE;
    tp->hello_bytes = -1;
    tp->stage = es_tok_client_hello;
    tp->sni = es_probe_sni(tp->variant, tp->edge);

    err_clear();
    tp->ssl = ssl_take(set, set->ctx[p->variant]);
    if (!tp->ssl) {
        err_clear();
        return fail(tp, es_tok_handshake_error, now_ns);
    }
    tp->rbio = SSL_get_rbio(tp->ssl);
    tp->wbio = SSL_get_wbio(tp->ssl);
    BIO_set_mem_eof_return(tp->rbio, -1); /* empty = "try again", until es_tlsprobe_eof */
    SSL_set_app_data(tp->ssl, tp);
    SSL_set_connect_state(tp->ssl);
    /* NULL clears a name a reused SSL had */
    if (!SSL_set_tlsext_host_name(tp->ssl, tp->sni)) {
        err_clear();
        return fail(tp, es_tok_handshake_error, now_ns);
    }
    enum es_tls_want w = handshake_step(tp, now_ns);
    hello_measure(tp);
    return w;
}

/* The first flight is the ClientHello: its size, and where --hello pq|split
 * cuts it (hello.h). */
static void hello_measure(struct es_tlsprobe *tp)
{
    if (!tp->wbio)
        return;
    char *p = NULL;
    long n = BIO_get_mem_data(tp->wbio, &p);
    if (n <= 0 || !p)
        return;
    tp->hello_bytes = n > INT_MAX ? INT_MAX : (int)n;
    size_t cut = es_hello_cut(tp->variant->hello, (const uint8_t *)p, (size_t)n);
    tp->cut = cut < UINT32_MAX ? (uint32_t)cut : 0;
}

/* Before the cut of a two-segment ClientHello. */
static bool before_cut(const struct es_tlsprobe *tp)
{
    return tp->cut && !tp->cut_passed;
}

/* Send buffers. A probe holds one only while it has bytes to send (from
 * the moment they are taken out of wbio until the last of them is sent), so
 * probes that wait for the server hold none: 10,000 probes waiting for a
 * ServerHello cost no send buffer each. The set keeps returned buffers; it
 * allocates only when more probes are sending at once than ever before. */
static uint8_t *out_take(struct es_tls_ctxset *set)
{
    if (set->noutfree > 0)
        return set->outfree[--set->noutfree];
    set->nout++;
    return es_xmalloc(OUT_CAP);
}

static void out_give(struct es_tlsprobe *tp)
{
    struct es_tls_ctxset *set = tp->set;
    if (!tp->out)
        return;
    if (set->noutfree == set->outcap)
        set->outfree = es_xgrow(set->outfree, &set->outcap, set->noutfree + 1, sizeof *set->outfree);
    set->outfree[set->noutfree++] = tp->out;
    tp->out = NULL;
    tp->out_len = tp->out_off = 0;
}

size_t es_tlsprobe_pending(struct es_tlsprobe *tp, const uint8_t **data)
{
    static const uint8_t nothing[1];
    if (tp->out_off == tp->out_len) {
        tp->out_off = tp->out_len = 0;
        int cap = OUT_CAP;
        if (before_cut(tp) && (uint32_t)cap > tp->cut - tp->tx_read)
            cap = (int)(tp->cut - tp->tx_read); /* 0 once the first segment is out */
        if (cap > 0 && tp->wbio && BIO_ctrl_pending(tp->wbio) > 0) {
            if (!tp->out)
                tp->out = out_take(tp->set);
            int n = BIO_read(tp->wbio, tp->out, cap);
            if (n > 0) {
                tp->out_len = (uint16_t)n;
                tp->tx_read += (uint32_t)n;
            }
        }
        if (tp->out_len == 0)
            out_give(tp); /* nothing to send: no buffer held */
    }
    *data = tp->out ? tp->out + tp->out_off : nothing;
    return (size_t)(tp->out_len - tp->out_off);
}

bool es_tlsprobe_more(const struct es_tlsprobe *tp)
{
    return before_cut(tp) && tp->tx_read < tp->cut;
}

bool es_tlsprobe_paused(const struct es_tlsprobe *tp)
{
    return before_cut(tp) && tp->tx_read >= tp->cut && tp->out_off == tp->out_len &&
           tp->state != TP_DONE;
}

void es_tlsprobe_resume(struct es_tlsprobe *tp)
{
    tp->cut_passed = true;
}

void es_tlsprobe_sent(struct es_tlsprobe *tp, size_t n)
{
    assert(n <= (size_t)(tp->out_len - tp->out_off));
    tp->out_off += (uint16_t)n;
    if (tp->out_off == tp->out_len)
        out_give(tp); /* all sent: the buffer goes back */
}

/* TLS record content types: change_cipher_spec, alert, handshake,
 * application_data, heartbeat. Anything else first means "not TLS". */
static bool tls_record_type(uint8_t b)
{
    return b >= 20 && b <= 24;
}

enum es_tls_want es_tlsprobe_push(struct es_tlsprobe *tp, const uint8_t *data, size_t len)
{
    if (tp->state == TP_DONE)
        return ES_TLS_DONE;
    assert(tp->state == TP_HANDSHAKE || tp->state == TP_POST || tp->state == TP_HTTP);
    if (len == 0)
        return ES_TLS_WANT_IO;
    if (!tp->rx_any) {
        tp->rx_any = true;
        tp->first_byte_bad = !tls_record_type(data[0]);
    }
    while (len > 0) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        if (BIO_write(tp->rbio, data, n) != n) { /* out of memory */
            err_clear();
            tp->ssl_failed = true;
            if (tp->state == TP_HTTP) {
                es_httpcheck_eof(&tp->http);
                return http_finish(tp, false);
            }
            if (tp->state == TP_POST)
                return post_failed(tp, es_tok_handshake_error, tp->start_ns); /* no clock here */
            return fail(tp, es_tok_handshake_error, tp->start_ns); /* no clock here: 0 ms */
        }
        data += n, len -= (size_t)n;
    }
    return ES_TLS_WANT_IO;
}

enum es_tls_want es_tlsprobe_step(struct es_tlsprobe *tp, uint64_t now_ns)
{
    switch (tp->state) {
    case TP_HANDSHAKE: return handshake_step(tp, now_ns);
    case TP_POST: return post_step(tp, now_ns);
    case TP_HTTP: return http_step(tp);
    case TP_IDLE:
    case TP_DONE: break;
    }
    return ES_TLS_DONE;
}

uint64_t es_tlsprobe_wait_until(const struct es_tlsprobe *tp)
{
    return tp->state == TP_POST ? tp->wait_until_ns : 0;
}

enum es_tls_want es_tlsprobe_input(struct es_tlsprobe *tp, const uint8_t *data, size_t len,
                                   uint64_t now_ns)
{
    if (tp->state == TP_DONE)
        return ES_TLS_DONE;
    if (len == 0)
        return ES_TLS_WANT_IO;
    if (es_tlsprobe_push(tp, data, len) == ES_TLS_DONE)
        return ES_TLS_DONE;
    return es_tlsprobe_step(tp, now_ns);
}

enum es_tls_want es_tlsprobe_eof(struct es_tlsprobe *tp, uint64_t now_ns)
{
    switch (tp->state) {
    case TP_HANDSHAKE: BIO_set_mem_eof_return(tp->rbio, 0); return handshake_step(tp, now_ns);
    case TP_POST: BIO_set_mem_eof_return(tp->rbio, 0); return post_step(tp, now_ns);
    case TP_HTTP: BIO_set_mem_eof_return(tp->rbio, 0); return http_step(tp);
    case TP_IDLE:
    case TP_DONE: break;
    }
    return ES_TLS_DONE;
}

enum es_tls_want es_tlsprobe_reset(struct es_tlsprobe *tp, uint64_t now_ns)
{
    switch (tp->state) {
    case TP_HANDSHAKE: return fail(tp, es_tok_connection_reset, now_ns);
    case TP_POST: return post_failed(tp, es_tok_connection_reset, now_ns);
    case TP_HTTP:
        tp->ssl_failed = true;
        es_httpcheck_eof(&tp->http);
        return http_finish(tp, true);
    case TP_IDLE:
    case TP_DONE: break;
    }
    return ES_TLS_DONE;
}

enum es_tls_want es_tlsprobe_timeout(struct es_tlsprobe *tp, uint64_t now_ns)
{
    switch (tp->state) {
    case TP_HANDSHAKE: return fail(tp, es_tok_handshake_timeout, now_ns);
    case TP_POST: /* the probe's deadline came within the grace: no verdict, ok */
        tp->state = TP_DONE;
        if (wants_h2_check(tp) || (tp->set->http_path && alpn_is_h2(tp)))
            tp->h2 = es_tok_timeout;
        if (tp->set->http_path)
            tp->http_timeout = true; /* the GET never went out: status 0 */
        polite_close(tp);
        return ES_TLS_DONE;
    case TP_HTTP: es_httpcheck_timeout(&tp->http); return http_finish(tp, false);
    case TP_IDLE:
    case TP_DONE: break;
    }
    return ES_TLS_DONE;
}

static const char *or_null(const char *s)
{
    return s && s[0] ? s : NULL;
}

void es_tlsprobe_fill_row(struct es_tlsprobe *tp, struct es_row *row)
{
    assert(tp->state == TP_DONE);
    row->sni = tp->sni ? tp->sni : none_text;
    row->status = tp->status;
    row->error = tp->error;
    row->alert = tp->alert;
    row->alert_name = tp->alert >= 0 ? es_alert_name(tp->alert) : NULL;
    row->alert_from = tp->alert >= 0 ? tp->alert_from : NULL;
    row->stage = tp->stage;
    row->tls_version = tp->tls_version;
    row->cipher = tp->cipher;
    row->kx_group = tp->group;
    row->alpn = or_null(tp->alpn);
    row->verify = tp->verify;
    row->cert_sha256 = or_null(tp->sha256);
    row->cert_subject = tp->verify ? tp->subject : NULL;
    row->cert_issuer = tp->verify ? tp->issuer : NULL;
    row->cert_not_before = or_null(tp->not_before);
    row->cert_not_after = or_null(tp->not_after);
    row->ocsp_stapled = tp->ocsp;
    row->h2 = tp->h2;
    row->kx_bits = tp->kx_bits;
    row->cert_key = or_null(tp->cert_key);
    row->cert_sig = or_null(tp->cert_sig);
    row->cert_days_left = tp->days_left;
    row->chain_len = tp->chain_len;
    row->hello_bytes = tp->hello_bytes;
    if (tp->http_mode == ES_HTTP_H1_GET || tp->http_mode == ES_HTTP_H2_GET) {
        struct es_http_result r;
        es_httpcheck_result(&tp->http, tp->http_wall_s, &r);
        row->http_status = r.status;
        row->http_server = or_null(r.server);
        row->clock_skew_s = es_http_clock_skew(r.date_s, tp->http_wall_s);
        row->h3_advertised = r.h3 < 0 ? NULL : r.h3 ? "yes" : "no";
    } else if (tp->http_timeout) {
        row->http_status = 0;
    }
    row->handshake_ms =
        tp->hs_end_ns >= tp->start_ns ? (double)(tp->hs_end_ns - tp->start_ns) / 1e6 : -1.0;
}

void es_tlsprobe_end(struct es_tlsprobe *tp)
{
    if (tp->http_on)
        es_httpcheck_end(&tp->http);
    tp->http_on = false;
    if (tp->ssl)
        ssl_give(tp->set, tp->ssl);
    tp->ssl = NULL;
    tp->rbio = tp->wbio = NULL;
    out_give(tp);
    tp->out_len = tp->out_off = 0;
    tp->state = TP_IDLE;
}
