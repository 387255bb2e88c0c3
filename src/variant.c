/* variant.c - see include/edgeshake/variant.h
 *
 * Three steps: read each dimension into a deduplicated list (checking ALPN
 * and SNI syntax), check every string and every (tls, ciphers, suites,
 * groups) cell with OpenSSL, then write out the cross product. */
#include "edgeshake/variant.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeshake/hello.h"
#include "edgeshake/net.h"
#include "edgeshake/target.h"
#include "edgeshake/util.h"

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        es_die(ES_EXIT_RUNTIME, "cannot format a variant string");
    char *s = es_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* A user string for a one-line message: at most 64 bytes, anything outside
 * printable ASCII as \xNN. */
static const char *show(const char *s, char *buf, size_t buflen)
{
    size_t o = 0, i;
    for (i = 0; s[i] && i < 64 && o + 5 < buflen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f)
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x", c);
    }
    if (s[i] && o + 4 <= buflen) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o < buflen ? o : buflen - 1] = '\0';
    return buf;
}

#define SHOWN 512

/* ---- the dimensions ---- */

struct tls_item {
    const char *text; /* "1.2" */
    int version;      /* TLS1_2_VERSION */
};

static const struct tls_item tls_items[] = {
    {"1.0", TLS1_VERSION},
    {"1.1", TLS1_1_VERSION},
    {"1.2", TLS1_2_VERSION},
    {"1.3", TLS1_3_VERSION},
};

struct alpn_item {
    const char *text; /* as given, or "none" */
    char *name;       /* in variant names: '/' removed */
    uint8_t *wire;    /* NULL for none */
    size_t wire_len;
};

struct sni_item {
    enum es_sni_mode mode;
    char *host;  /* ES_SNI_NAME: canonical name */
    char *label; /* "sni", "nosni", "sni:NAME" */
};

struct dims {
    const struct tls_item *tls[ES_ARRAY_LEN(tls_items)];
    size_t ntls;
    struct alpn_item *alpn;
    size_t nalpn;
    struct sni_item *sni;
    size_t nsni;
    const char **ciphers, **suites, **groups; /* n = 0: OpenSSL's default */
    size_t nciphers, nsuites, ngroups;
    enum es_hello_shape hello[3]; /* --hello, without repeats; default plain */
    size_t nhello;
};

static void dims_free(struct dims *d)
{
    for (size_t i = 0; i < d->nalpn; i++) {
        free(d->alpn[i].name);
        free(d->alpn[i].wire);
    }
    for (size_t i = 0; i < d->nsni; i++) {
        free(d->sni[i].host);
        free(d->sni[i].label);
    }
    free(d->alpn);
    free(d->sni);
    free(d->ciphers);
    free(d->suites);
    free(d->groups);
    memset(d, 0, sizeof *d);
}

/* The values of l (or def when l is empty, def may be NULL) without repeats. */
static const char **dedupe(const struct es_strlist *l, const char *def, size_t *n)
{
    size_t cnt = l->n ? l->n : def ? 1 : 0;
    const char **v = es_xcalloc(cnt ? cnt : 1, sizeof *v);
    *n = 0;
    for (size_t i = 0; i < cnt; i++) {
        const char *s = l->n ? l->v[i] : def;
        size_t j = 0;
        while (j < *n && strcmp(v[j], s) != 0)
            j++;
        if (j == *n)
            v[(*n)++] = s;
    }
    return v;
}

static bool dims_tls(const struct es_config *cfg, struct dims *d, char *err, size_t errlen)
{
    static const char *const def[] = {"1.2", "1.3"};
    char shown[SHOWN];
    size_t n = cfg->tls.n ? cfg->tls.n : ES_ARRAY_LEN(def);
    for (size_t i = 0; i < n; i++) {
        const char *s = cfg->tls.n ? cfg->tls.v[i] : def[i];
        const struct tls_item *t = NULL;
        for (size_t k = 0; k < ES_ARRAY_LEN(tls_items); k++)
            if (strcmp(s, tls_items[k].text) == 0)
                t = &tls_items[k];
        if (!t) {
            snprintf(err, errlen, "--tls '%s': expected 1.0, 1.1, 1.2 or 1.3",
                     show(s, shown, sizeof shown));
            return false;
        }
        size_t j = 0;
        while (j < d->ntls && d->tls[j] != t)
            j++;
        if (j == d->ntls)
            d->tls[d->ntls++] = t;
    }
    return true;
}

/* Checks one --alpn value and builds its RFC 7301 wire form. */
static bool alpn_parse(const char *s, struct alpn_item *it, char *err, size_t errlen)
{
    char shown[SHOWN];
    size_t len = strlen(s);
    it->text = s;
    if (strcmp(s, "none") == 0) {
        it->name = es_xstrdup("none");
        return true;
    }
    if (len == 0) {
        snprintf(err, errlen, "--alpn '': empty value; use --alpn none to offer no ALPN");
        return false;
    }
    if (len + 1 > 65535) {
        snprintf(err, errlen, "--alpn '%s': list longer than 65534 bytes",
                 show(s, shown, sizeof shown));
        return false;
    }
    /* Each ',' becomes a length byte, and one more goes in front: len + 1 bytes. */
    it->wire = es_xmalloc(len + 1);
    it->name = es_xmalloc(len + 1);
    size_t w = 0, nm = 0;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        size_t plen = comma ? (size_t)(comma - p) : strlen(p);
        const char *why = NULL;
        if (plen == 0)
            why = "empty protocol name";
        else if (plen > 255)
            why = "protocol name longer than 255 bytes";
        else if (plen == 4 && memcmp(p, "none", 4) == 0)
            why = "'none' cannot be combined with protocols";
        for (size_t i = 0; !why && i < plen; i++)
            if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
                why = "protocol names are printable ASCII without spaces";
        if (why) {
            snprintf(err, errlen, "--alpn '%s': %s", show(s, shown, sizeof shown), why);
            return false;
        }
        it->wire[w++] = (uint8_t)plen;
        memcpy(it->wire + w, p, plen);
        w += plen;
        for (size_t i = 0; i < plen; i++)
            if (p[i] != '/')
                it->name[nm++] = p[i];
        if (!comma)
            break;
        it->name[nm++] = ',';
        p = comma + 1;
    }
    it->name[nm] = '\0';
    it->wire_len = w;
    return true;
}

static bool dims_alpn(const struct es_config *cfg, struct dims *d, char *err, size_t errlen)
{
    size_t n;
    const char **v = dedupe(&cfg->alpn, "h2,http/1.1", &n);
    bool ok = true;
    d->alpn = es_xcalloc(n, sizeof *d->alpn);
    for (size_t i = 0; ok && i < n; i++) {
        ok = alpn_parse(v[i], &d->alpn[i], err, errlen);
        d->nalpn++; /* freed by dims_free even when half built */
        for (size_t j = 0; ok && j < i; j++) {
            if (strcmp(d->alpn[j].name, d->alpn[i].name) == 0) {
                char a[SHOWN], b[SHOWN];
                snprintf(err, errlen, "--alpn '%s' and --alpn '%s' get the same variant name '%s'",
                         show(d->alpn[j].text, a, sizeof a), show(v[i], b, sizeof b),
                         d->alpn[i].name);
                ok = false;
            }
        }
    }
    free(v);
    return ok;
}

static bool sni_parse(const char *s, struct sni_item *it, char *err, size_t errlen)
{
    char shown[SHOWN], canon[ES_HOST_MAX + 1], what[256];
    struct es_ip ip;
    if (strcmp(s, "host") == 0) {
        it->mode = ES_SNI_HOST;
        it->label = es_xstrdup("sni");
        return true;
    }
    if (strcmp(s, "none") == 0) {
        it->mode = ES_SNI_NONE;
        it->label = es_xstrdup("nosni");
        return true;
    }
    if (s[0] == '[' || es_ip_parse(s, &ip)) {
        snprintf(err, errlen,
                 "--sni '%s': an IP address cannot be sent as SNI (RFC 6066); use --sni none",
                 show(s, shown, sizeof shown));
        return false;
    }
    if (!es_host_name_check(s, strlen(s), canon, what, sizeof what)) {
        snprintf(err, errlen, "--sni '%s': %s", show(s, shown, sizeof shown), what);
        return false;
    }
    it->mode = ES_SNI_NAME;
    it->host = es_xstrdup(canon);
    it->label = xprintf("sni:%s", canon);
    return true;
}

static bool dims_sni(const struct es_config *cfg, struct dims *d, char *err, size_t errlen)
{
    size_t n;
    const char **v = dedupe(&cfg->sni, "host", &n);
    bool ok = true;
    d->sni = es_xcalloc(n, sizeof *d->sni);
    for (size_t i = 0; ok && i < n; i++) {
        struct sni_item it = {0};
        ok = sni_parse(v[i], &it, err, errlen);
        size_t j = 0;
        while (ok && j < d->nsni && strcmp(d->sni[j].label, it.label) != 0)
            j++;
        if (ok && j == d->nsni) {
            d->sni[d->nsni++] = it;
        } else {
            free(it.host);
            free(it.label);
        }
    }
    free(v);
    return ok;
}

/* ---- the dimensions a TLS version uses ---- */

static size_t cipher_choices(const struct dims *d, int version)
{
    return version <= TLS1_2_VERSION && d->nciphers ? d->nciphers : 1;
}

static const char *cipher_at(const struct dims *d, int version, size_t k)
{
    return version <= TLS1_2_VERSION && d->nciphers ? d->ciphers[k] : NULL;
}

static size_t suite_choices(const struct dims *d, int version)
{
    return version == TLS1_3_VERSION && d->nsuites ? d->nsuites : 1;
}

static const char *suite_at(const struct dims *d, int version, size_t k)
{
    return version == TLS1_3_VERSION && d->nsuites ? d->suites[k] : NULL;
}

static size_t group_choices(const struct dims *d)
{
    return d->ngroups ? d->ngroups : 1;
}

static const char *group_at(const struct dims *d, size_t k)
{
    return d->ngroups ? d->groups[k] : NULL;
}

/* The OpenSSL cipher string of a variant: TLS 1.0 and 1.1 need security
 * level 0 in OpenSSL 3 (see variant.h). malloc'd, or NULL = default. */
static char *cipher_string(int version, const char *ciphers)
{
    if (version < TLS1_2_VERSION)
        return xprintf("%s:@SECLEVEL=0", ciphers ? ciphers : "DEFAULT");
    return ciphers ? es_xstrdup(ciphers) : NULL;
}

static size_t mul_sat(size_t a, size_t b)
{
    size_t r;
    return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}

static size_t matrix_size(const struct dims *d)
{
    size_t total = 0;
    for (size_t t = 0; t < d->ntls; t++) {
        int ver = d->tls[t]->version;
        size_t n = mul_sat(mul_sat(d->nalpn, d->nsni), cipher_choices(d, ver));
        n = mul_sat(mul_sat(n, suite_choices(d, ver)), group_choices(d));
        n = mul_sat(n, d->nhello);
        total = total + n < total ? SIZE_MAX : total + n;
    }
    return total;
}

/* ---- OpenSSL checks ---- */

bool es_variant_configure_ctx(SSL_CTX *ctx, const struct es_variant *v, char *err, size_t errlen)
{
    char shown[SHOWN];
    bool ok = false;
    ERR_clear_error();
    if (!SSL_CTX_set_min_proto_version(ctx, v->tls_min) ||
        !SSL_CTX_set_max_proto_version(ctx, v->tls_max)) {
        snprintf(err, errlen, "this OpenSSL cannot offer TLS %s", v->tls_offered);
        goto out;
    }
    if (v->ciphers && SSL_CTX_set_cipher_list(ctx, v->ciphers) != 1) {
        snprintf(err, errlen, "OpenSSL rejects the cipher list '%s'",
                 show(v->ciphers, shown, sizeof shown));
        goto out;
    }
    if (v->ciphersuites && SSL_CTX_set_ciphersuites(ctx, v->ciphersuites) != 1) {
        snprintf(err, errlen, "OpenSSL rejects the TLS 1.3 suites '%s'",
                 show(v->ciphersuites, shown, sizeof shown));
        goto out;
    }
    if (v->groups && SSL_CTX_set1_groups_list(ctx, v->groups) != 1) {
        snprintf(err, errlen, "OpenSSL rejects the groups '%s'",
                 show(v->groups, shown, sizeof shown));
        goto out;
    }
    ok = true;
out:
    ERR_clear_error();
    return ok;
}

static size_t count_tls13_suites(SSL_CTX *ctx)
{
    STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ctx);
    size_t n = 0;
    for (int i = 0; sk && i < sk_SSL_CIPHER_num(sk); i++)
        if (strcmp(SSL_CIPHER_get_version(sk_SSL_CIPHER_value(sk, i)), "TLSv1.3") == 0)
            n++;
    return n;
}

static bool check_ciphers(SSL_CTX *scratch, const struct dims *d, char *err, size_t errlen)
{
    char shown[SHOWN];
    for (size_t i = 0; i < d->nciphers; i++) {
        const char *c = d->ciphers[i];
        ERR_clear_error();
        if (SSL_CTX_set_cipher_list(scratch, c) != 1) {
            snprintf(err, errlen, "--ciphers '%s': OpenSSL accepts none of these ciphers%s",
                     show(c, shown, sizeof shown),
                     strstr(c, "TLS_") ? " (TLS 1.3 suites go in --ciphersuites)" : "");
            return false;
        }
    }
    return true;
}

/* OpenSSL skips suite names it does not know; we refuse them, one by one. */
static bool check_suites(SSL_CTX *scratch, const struct dims *d, char *err, size_t errlen)
{
    char shown[SHOWN], name[128];
    for (size_t i = 0; i < d->nsuites; i++) {
        const char *s = d->suites[i];
        for (const char *p = s;;) {
            const char *colon = strchr(p, ':');
            size_t len = colon ? (size_t)(colon - p) : strlen(p);
            if (len == 0) {
                snprintf(err, errlen, "--ciphersuites '%s': empty suite name",
                         show(s, shown, sizeof shown));
                return false;
            }
            bool known = len < sizeof name;
            if (known) {
                memcpy(name, p, len);
                name[len] = '\0';
                ERR_clear_error();
                known = SSL_CTX_set_ciphersuites(scratch, name) == 1 &&
                        count_tls13_suites(scratch) == 1;
            }
            if (!known) {
                char nshown[SHOWN];
                snprintf(nshown, sizeof nshown, "%.*s", (int)(len < 64 ? len : 64), p);
                snprintf(err, errlen,
                         "--ciphersuites '%s': OpenSSL does not know the TLS 1.3 suite '%s'%s",
                         show(s, shown, sizeof shown), show(nshown, name, sizeof name),
                         memchr(p, '-', len) ? " (TLS 1.2 ciphers go in --ciphers)" : "");
                return false;
            }
            if (!colon)
                break;
            p = colon + 1;
        }
    }
    return true;
}

static bool check_groups(SSL_CTX *scratch, const struct dims *d, char *err, size_t errlen)
{
    char shown[SHOWN];
    for (size_t i = 0; i < d->ngroups; i++) {
        ERR_clear_error();
        if (SSL_CTX_set1_groups_list(scratch, d->groups[i]) != 1) {
            snprintf(err, errlen,
                     "--groups '%s': OpenSSL rejects this list of groups (known names include "
                     "X25519, X448, P-256, P-384, P-521, ffdhe2048)",
                     show(d->groups[i], shown, sizeof shown));
            return false;
        }
    }
    return true;
}

/* "--tls 1.2 --ciphers 'X' --groups 'Y'": the options that make one cell. */
static void cell_desc(const struct es_variant *v, const char *c, char *buf, size_t len)
{
    char a[SHOWN], b[SHOWN], g[SHOWN];
    snprintf(buf, len, "--tls %s%s%s%s%s%s%s%s%s%s", v->tls_offered, c ? " --ciphers '" : "",
             c ? show(c, a, sizeof a) : "", c ? "'" : "",
             v->ciphersuites ? " --ciphersuites '" : "",
             v->ciphersuites ? show(v->ciphersuites, b, sizeof b) : "", v->ciphersuites ? "'" : "",
             v->groups ? " --groups '" : "", v->groups ? show(v->groups, g, sizeof g) : "",
             v->groups ? "'" : "");
}

/* Can OpenSSL offer this cell? c is the --ciphers string as given (NULL =
 * default); cell->ciphers is what goes to OpenSSL. Builds a real ClientHello
 * into a memory BIO. */
static bool check_cell(const struct es_variant *cell, const char *c, char *err, size_t errlen)
{
    char desc[4 * SHOWN], what[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = NULL;
    bool ok = false;
    cell_desc(cell, c, desc, sizeof desc);
    if (!ctx) {
        snprintf(err, errlen, "OpenSSL cannot create a client context");
        goto out;
    }
    if (!es_variant_configure_ctx(ctx, cell, what, sizeof what)) {
        snprintf(err, errlen, "%s: %s", desc, what);
        goto out;
    }
    ssl = SSL_new(ctx);
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
    if (!ssl || !rb || !wb) {
        BIO_free(rb);
        BIO_free(wb);
        snprintf(err, errlen, "OpenSSL cannot create a client connection");
        goto out;
    }
    SSL_set_bio(ssl, rb, wb);
    SSL_set_connect_state(ssl);
    if (c) {
        STACK_OF(SSL_CIPHER) *sk = SSL_get1_supported_ciphers(ssl);
        int n = sk ? sk_SSL_CIPHER_num(sk) : 0;
        sk_SSL_CIPHER_free(sk);
        if (n == 0) {
            char shown[SHOWN];
            snprintf(err, errlen,
                     "--tls %s with --ciphers '%s': none of these ciphers can be "
                     "offered with TLS %s",
                     cell->tls_offered, show(c, shown, sizeof shown), cell->tls_offered);
            goto out;
        }
    }
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r > 0 || SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ || BIO_pending(wb) <= 0) {
        unsigned long e = ERR_peek_last_error();
        const char *reason = e ? ERR_reason_error_string(e) : NULL;
        snprintf(err, errlen, "%s: OpenSSL cannot build a ClientHello with these settings (%s)",
                 desc, reason ? reason : "unknown reason");
        goto out;
    }
    ok = true;
out:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

/* Every distinct (tls, ciphers, suites, groups) cell, once. */
static bool check_cells(const struct dims *d, char *err, size_t errlen)
{
    for (size_t t = 0; t < d->ntls; t++) {
        const struct tls_item *tls = d->tls[t];
        for (size_t ci = 0; ci < cipher_choices(d, tls->version); ci++) {
            const char *c = cipher_at(d, tls->version, ci);
            char *cs = cipher_string(tls->version, c);
            bool ok = true;
            for (size_t si = 0; ok && si < suite_choices(d, tls->version); si++) {
                for (size_t gi = 0; ok && gi < group_choices(d); gi++) {
                    struct es_variant cell = {
                        .tls_min = tls->version,
                        .tls_max = tls->version,
                        .tls_offered = tls->text,
                        .ciphers = cs,
                        .ciphersuites = suite_at(d, tls->version, si),
                        .groups = group_at(d, gi),
                    };
                    ok = check_cell(&cell, c, err, errlen);
                }
            }
            free(cs);
            if (!ok)
                return false;
        }
    }
    return true;
}

static void default_warn(void *ctx, const char *msg)
{
    (void)ctx;
    es_warn("%s", msg);
}

static void warn_unused(const struct dims *d, es_variant_warn_fn *warn, void *ctx)
{
    bool old = false, tls13 = false;
    for (size_t t = 0; t < d->ntls; t++) {
        old |= d->tls[t]->version <= TLS1_2_VERSION;
        tls13 |= d->tls[t]->version == TLS1_3_VERSION;
    }
    if (d->nciphers && !old)
        warn(ctx, "--ciphers has no effect: it sets the TLS 1.0-1.2 cipher list and only TLS 1.3 "
                  "is offered (TLS 1.3 suites are set with --ciphersuites)");
    if (d->nsuites && !tls13)
        warn(ctx, "--ciphersuites has no effect: it sets the TLS 1.3 suites and TLS 1.3 is not "
                  "offered (add --tls 1.3)");
}

/* --hello: the shapes in command-line order, once each (cli.c checked the
 * names; checked again for callers that build a config by hand). */
static bool dims_hello(const struct es_config *cfg, struct dims *d, char *err, size_t errlen)
{
    size_t n;
    const char **v = dedupe(&cfg->hello, "plain", &n);
    bool ok = true;
    d->nhello = 0;
    for (size_t i = 0; ok && i < n; i++) {
        enum es_hello_shape shape;
        char shown[SHOWN];
        if (!es_hello_from_name(v[i], &shape)) {
            snprintf(err, errlen, "--hello '%s': expected plain, pq or split",
                     show(v[i], shown, sizeof shown));
            ok = false;
        } else if (d->nhello < ES_ARRAY_LEN(d->hello)) {
            d->hello[d->nhello++] = shape;
        }
    }
    free(v);
    return ok;
}

/* ---- the matrix ---- */

static void fill(struct es_variant *v, const struct tls_item *tls, const struct alpn_item *a,
                 const struct sni_item *s, const char *c, const char *cs, const char *g,
                 enum es_hello_shape hello)
{
    v->hello = hello;
    v->tls_min = v->tls_max = tls->version;
    v->tls_offered = es_xstrdup(tls->text);
    v->alpn_offered = es_xstrdup(a->text);
    if (a->wire) {
        uint8_t *w = es_xmalloc(a->wire_len);
        memcpy(w, a->wire, a->wire_len);
        v->alpn_wire = w;
        v->alpn_wire_len = a->wire_len;
    }
    v->sni_mode = s->mode;
    v->sni_name = s->host ? es_xstrdup(s->host) : NULL;
    v->ciphers = cipher_string(tls->version, c);
    v->ciphersuites = cs ? es_xstrdup(cs) : NULL;
    v->groups = g ? es_xstrdup(g) : NULL;
    const char *offered = tls->version == TLS1_3_VERSION ? cs : c;
    v->ciphers_offered = es_xstrdup(offered ? offered : "");
    v->groups_offered = es_xstrdup(g ? g : "");
    /* plain adds nothing: names from before --hello stay as they were */
    const char *shape = hello == ES_HELLO_PLAIN ? NULL : es_hello_name(hello);
    v->name = xprintf("tls%s/%s/%s%s%s%s%s%s%s%s%s", tls->text, a->name, s->label, c ? "/c:" : "",
                      c ? c : "", cs ? "/cs:" : "", cs ? cs : "", g ? "/g:" : "", g ? g : "",
                      shape ? "/" : "", shape ? shape : "");
}

static struct es_variant *matrix(const struct dims *d, size_t count)
{
    struct es_variant *v = es_xcalloc(count, sizeof *v);
    size_t k = 0;
    for (size_t t = 0; t < d->ntls; t++) {
        const struct tls_item *tls = d->tls[t];
        for (size_t a = 0; a < d->nalpn; a++)
            for (size_t s = 0; s < d->nsni; s++)
                for (size_t ci = 0; ci < cipher_choices(d, tls->version); ci++)
                    for (size_t si = 0; si < suite_choices(d, tls->version); si++)
                        for (size_t gi = 0; gi < group_choices(d); gi++)
                            for (size_t h = 0; h < d->nhello; h++) {
                                v[k].index = (unsigned)k;
                                fill(&v[k], tls, &d->alpn[a], &d->sni[s],
                                     cipher_at(d, tls->version, ci), suite_at(d, tls->version, si),
                                     group_at(d, gi), d->hello[h]);
                                k++;
                            }
    }
    return v;
}

bool es_variants_build_ex(const struct es_config *cfg, es_variant_warn_fn *warn, void *warn_ctx,
                          struct es_variant **out, size_t *n, char *err, size_t errlen)
{
    struct dims d = {0};
    SSL_CTX *scratch = NULL;
    bool ok = false;
    *out = NULL;
    *n = 0;
    if (!dims_tls(cfg, &d, err, errlen) || !dims_alpn(cfg, &d, err, errlen) ||
        !dims_sni(cfg, &d, err, errlen))
        goto out;
    d.ciphers = dedupe(&cfg->ciphers, NULL, &d.nciphers);
    d.suites = dedupe(&cfg->ciphersuites, NULL, &d.nsuites);
    d.groups = dedupe(&cfg->groups, NULL, &d.ngroups);
    if (!dims_hello(cfg, &d, err, errlen))
        goto out;
    size_t count = matrix_size(&d);
    if (count > ES_VARIANTS_MAX) {
        snprintf(err, errlen,
                 "the variant matrix has %s%zu variants; the limit is %d (give fewer --tls, "
                 "--alpn, --sni, --ciphers, --ciphersuites, --groups or --hello values)",
                 count == SIZE_MAX ? "over " : "", count, ES_VARIANTS_MAX);
        goto out;
    }
    scratch = SSL_CTX_new(TLS_client_method());
    if (!scratch) {
        snprintf(err, errlen, "OpenSSL cannot create a client context");
        goto out;
    }
    if (!check_ciphers(scratch, &d, err, errlen) || !check_suites(scratch, &d, err, errlen) ||
        !check_groups(scratch, &d, err, errlen) || !check_cells(&d, err, errlen))
        goto out;
    warn_unused(&d, warn ? warn : default_warn, warn_ctx);
    *out = matrix(&d, count);
    *n = count;
    ok = true;
out:
    SSL_CTX_free(scratch);
    ERR_clear_error();
    dims_free(&d);
    return ok;
}

bool es_variants_build(const struct es_config *cfg, struct es_variant **out, size_t *n, char *err,
                       size_t errlen)
{
    return es_variants_build_ex(cfg, NULL, NULL, out, n, err, errlen);
}

void es_variants_free(struct es_variant *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        free((void *)v[i].name);
        free((void *)v[i].tls_offered);
        free((void *)v[i].alpn_offered);
        free((void *)v[i].alpn_wire);
        free((void *)v[i].sni_name);
        free((void *)v[i].ciphers);
        free((void *)v[i].ciphersuites);
        free((void *)v[i].groups);
        free((void *)v[i].ciphers_offered);
        free((void *)v[i].groups_offered);
    }
    free(v);
}
