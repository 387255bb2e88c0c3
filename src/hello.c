/* hello.c - ClientHello shapes and the ClientHello reader; see
 * include/edgeshake/hello.h.
 *
 * The padding extension carries zero bytes from one static buffer; its
 * length rides in the callback's add_arg, so nothing is allocated per SSL_CTX
 * or per handshake. */
#include "edgeshake/hello.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

static const char *const shape_names[] = {
    [ES_HELLO_PLAIN] = "plain",
    [ES_HELLO_PQ] = "pq",
    [ES_HELLO_SPLIT] = "split",
};

const char *es_hello_name(enum es_hello_shape shape)
{
    if ((unsigned)shape >= sizeof shape_names / sizeof shape_names[0])
        return NULL;
    return shape_names[shape];
}

bool es_hello_from_name(const char *s, enum es_hello_shape *shape)
{
    for (unsigned i = 0; i < sizeof shape_names / sizeof shape_names[0]; i++) {
        if (strcmp(s, shape_names[i]) == 0) {
            *shape = (enum es_hello_shape)i;
            return true;
        }
    }
    return false;
}

/* ---- the reader -------------------------------------------------------------- */

struct cur {
    const uint8_t *b;
    size_t off, end; /* end: what is there (or what the enclosing length allows) */
};

static bool take(struct cur *c, size_t n)
{
    if (c->end - c->off < n)
        return false;
    c->off += n;
    return true;
}

static bool u8(struct cur *c, size_t *v)
{
    if (c->end - c->off < 1)
        return false;
    *v = c->b[c->off++];
    return true;
}

static bool u16(struct cur *c, size_t *v)
{
    if (c->end - c->off < 2)
        return false;
    *v = (size_t)c->b[c->off] << 8 | c->b[c->off + 1];
    c->off += 2;
    return true;
}

static bool u24(struct cur *c, size_t *v)
{
    if (c->end - c->off < 3)
        return false;
    *v = (size_t)c->b[c->off] << 16 | (size_t)c->b[c->off + 1] << 8 | c->b[c->off + 2];
    c->off += 3;
    return true;
}

/* server_name's body (RFC 6066 §3) at c: the first host_name. */
static void read_sni(struct cur c, struct es_hello_info *info)
{
    size_t list, type, n;
    if (!u16(&c, &list))
        return;
    while (c.off < c.end && u8(&c, &type) && u16(&c, &n)) {
        if (type == 0) { /* host_name */
            if (c.end - c.off >= n) {
                info->name_off = c.off;
                info->name_len = n;
            }
            return;
        }
        if (!take(&c, n))
            return;
    }
}

enum es_hello_parse es_hello_parse(const uint8_t *buf, size_t len, struct es_hello_info *info)
{
    memset(info, 0, sizeof *info);
    struct cur c = {buf, 0, len};
    size_t type, ver, rlen, htype, hlen, n;
    if (!u8(&c, &type) || !u16(&c, &ver) || !u16(&c, &rlen))
        return (len == 0 || buf[0] == 22) ? ES_HELLO_PARTIAL : ES_HELLO_NOT_HELLO;
    if (type != 22 || (ver >> 8) != 3 || rlen == 0 || rlen > 16384 + 2048)
        return ES_HELLO_NOT_HELLO;
    info->record_len = 5 + rlen;
    if (c.end > info->record_len)
        c.end = info->record_len; /* the first record only */
    if (!u8(&c, &htype) || !u24(&c, &hlen))
        return ES_HELLO_PARTIAL;
    if (htype != 1 || hlen < 38)
        return ES_HELLO_NOT_HELLO;
    info->hello_len = 4 + hlen;
    size_t hello_end = 9 + hlen;
    if (c.end > hello_end)
        c.end = hello_end;
    /* From here c.end = min(bytes there, end of the first record, end of the
     * hello): stopping short of a length means PARTIAL when c.end is short of
     * what that length needs, malformed otherwise. */
    /* legacy_version, random, session id, cipher suites, compression methods */
    if (!take(&c, 2 + 32) || !u8(&c, &n) || !take(&c, n) || !u16(&c, &n) || !take(&c, n) ||
        !u8(&c, &n) || !take(&c, n))
        return c.end < hello_end ? ES_HELLO_PARTIAL : ES_HELLO_NOT_HELLO;
    size_t exts;
    if (c.off == hello_end)
        return ES_HELLO_COMPLETE; /* no extensions at all */
    if (!u16(&c, &exts))
        return c.end < hello_end ? ES_HELLO_PARTIAL : ES_HELLO_NOT_HELLO;
    info->ext_off = c.off;
    size_t exts_end = c.off + exts;
    if (exts_end > hello_end)
        return ES_HELLO_NOT_HELLO;
    if (c.end > exts_end)
        c.end = exts_end;
    while (c.off < exts_end) {
        size_t at = c.off, et, el;
        if (!u16(&c, &et) || !u16(&c, &el))
            break;
        if (at + 4 + el > exts_end)
            return ES_HELLO_NOT_HELLO;
        if (et == 0 && !info->sni_off) {
            info->sni_off = at;
            struct cur s = {buf, c.off, c.end < c.off + el ? c.end : c.off + el};
            read_sni(s, info);
        }
        if (!take(&c, el))
            break;
    }
    if (c.off == exts_end)
        return ES_HELLO_COMPLETE;
    return c.end < exts_end ? ES_HELLO_PARTIAL : ES_HELLO_NOT_HELLO;
}

/* ---- pq: the padding extension ----------------------------------------------- */

static const unsigned char zeros[ES_HELLO_MAX_PAD];

static int pad_add(SSL *s, unsigned int ext_type, unsigned int context, const unsigned char **out,
                   size_t *outlen, X509 *x, size_t chainidx, int *al, void *add_arg)
{
    (void)s;
    (void)ext_type;
    (void)context;
    (void)x;
    (void)chainidx;
    (void)al;
    *out = zeros;
    *outlen = (size_t)(uintptr_t)add_arg;
    return 1;
}

static int pad_parse(SSL *s, unsigned int ext_type, unsigned int context, const unsigned char *in,
                     size_t inlen, X509 *x, size_t chainidx, int *al, void *parse_arg)
{
    (void)s;
    (void)ext_type;
    (void)context;
    (void)in;
    (void)inlen;
    (void)x;
    (void)chainidx;
    (void)al;
    (void)parse_arg;
    return 1; /* a server that echoes it: nothing to learn */
}

/* A ClientHello of ctx, made in memory: its bytes in buf. Returns the length, 0 on failure. */
static size_t sample_hello(SSL_CTX *ctx, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    SSL *ssl = SSL_new(ctx);
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
    if (!ssl || !rb || !wb) {
        BIO_free(rb);
        BIO_free(wb);
        goto out;
    }
    SSL_set_bio(ssl, rb, wb);
    SSL_set_connect_state(ssl);
    if (!SSL_set_tlsext_host_name(ssl, "a"))
        goto out;
    (void)SSL_do_handshake(ssl); /* wants to read: the ClientHello is in wb */
    int r = BIO_read(wb, buf, (int)cap);
    n = r > 0 ? (size_t)r : 0;
out:
    SSL_free(ssl);
    ERR_clear_error();
    return n;
}

int es_hello_pq_install(SSL_CTX *ctx, char *err, size_t errlen)
{
    uint8_t buf[4096];
    struct es_hello_info info;
    size_t n = sample_hello(ctx, buf, sizeof buf);
    if (n == 0 || es_hello_parse(buf, n, &info) != ES_HELLO_COMPLETE || !info.ext_off) {
        snprintf(err, errlen, "--hello pq: cannot make a ClientHello to measure");
        return -1;
    }
    /* Our extension goes first, at ext_off: 4 bytes of header, then the
     * padding; server_name follows it and must start at or after the cut. */
    size_t pad = ES_HELLO_PQ_EXTRA - 4;
    if (info.ext_off + 4 + pad < ES_HELLO_FIRST_SEGMENT)
        pad = ES_HELLO_FIRST_SEGMENT - info.ext_off - 4;
    if (pad > ES_HELLO_MAX_PAD) {
        snprintf(err, errlen, "--hello pq: padding of %zu bytes is over the cap", pad);
        return -1;
    }
    if (!SSL_CTX_add_custom_ext(ctx, ES_HELLO_GREASE_EXT, SSL_EXT_CLIENT_HELLO, pad_add, NULL,
                                (void *)(uintptr_t)pad, pad_parse, NULL)) {
        ERR_clear_error();
        snprintf(err, errlen, "--hello pq: OpenSSL refused the padding extension");
        return -1;
    }
    return (int)pad;
}

size_t es_hello_cut(enum es_hello_shape shape, const uint8_t *buf, size_t len)
{
    if (len < 2)
        return 0;
    switch (shape) {
    case ES_HELLO_PQ: return len > ES_HELLO_FIRST_SEGMENT ? ES_HELLO_FIRST_SEGMENT : len / 2;
    case ES_HELLO_SPLIT: {
        struct es_hello_info info;
        (void)es_hello_parse(buf, len, &info);
        return info.sni_off > 0 && info.sni_off < len ? info.sni_off : len / 2;
    }
    case ES_HELLO_PLAIN: break;
    }
    return 0;
}
