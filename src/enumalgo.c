/* enumalgo.c - the catalog, the ClientHello of a probe, and the per-edge
 * state machine of `edgeshake enum` (include/edgeshake/enum.h).
 *
 * The tracks of one edge and how they start:
 *
 *   FIRST ─ok v=1.3─► TLS13 ELIM (from FIRST's answer) ──────────────► DONE
 *     │              TLS12 FIRST (1.0-1.2) ─► ELIM ─► PREF ──────────► DONE
 *     │                    └─ok v12─► VERSIONS (1.0..v12-1) ────────► DONE
 *     ├─ok v<=1.2──► TLS12 ELIM (from FIRST's answer) ─► PREF ─► GROUPS12 ─► DONE
 *     │              VERSIONS (1.0..v-1), TLS13 DONE (not accepted)
 *     └─rejected──► every track DONE, the edge failed
 *   NOSNI (independent) ──────────────────────────────────────────► DONE
 *
 * Elimination (ELIM) over the dimensions of a track: main (ciphers or TLS
 * 1.3 suites), groups (TLS 1.3 only) and ALPN (on the TLS 1.3 track when the
 * edge has TLS 1.3, else on the TLS 1.2 track). Each probe offers, per
 * dimension, what is left (not found yet), or, once a dimension is
 * exhausted, one member known to be accepted. An answer:
 *   - ok: the server's choice in each open dimension is recorded and
 *     removed from what is left; no ALPN chosen means ALPN is exhausted;
 *   - alert 120 (no_application_protocol): ALPN is exhausted;
 *   - another rejection: main or groups is exhausted. When both are open it
 *     is ambiguous, and the next probe (suspect) tests the dimension with
 *     more members left: groups' remainder with one known main member (ok:
 *     main was exhausted, and a group is found; a rejection: groups was), or
 *     main's remainder with one known group (ok: groups was exhausted, and a
 *     main member is found; a rejection: main was).
 * Every answer either removes a member or closes a dimension (or, once,
 * marks suspect, which the next answer resolves), so a track ends after at
 * most (members found + dimensions + 1) answers.
 *
 * Invariants: a track has at most one probe in flight (inflight, last);
 * tracks only ever move forward (phase order above); a dimension that is
 * exhausted never reopens. */
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeshake/enum.h"
#include "edgeshake/token.h"
#include "edgeshake/util.h"

/* ---- the catalog ------------------------------------------------------------ */

static struct es_enum_catalog g_cat = {
    .suites = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
               "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"},
    /* X25519 first: the first probe's key share then fits most servers (no
     * HelloRetryRequest); the rest in OpenSSL's default order, then the
     * finite-field groups that OpenSSL 3.0 clients do not offer by default. */
    .groups = {"X25519", "P-256", "X448", "P-521", "P-384", "ffdhe2048", "ffdhe3072", "ffdhe4096",
               "ffdhe6144", "ffdhe8192"},
    /* h2 and http/1.1: what browsers offer. http/1.0 and http/0.9: nginx
     * accepts them, and old clients offer them. spdy/3.1: an edge that still
     * accepts it runs a years-old configuration. acme-tls/1 (RFC 8737): the
     * nodes that answer TLS-ALPN-01 challenges; when only some nodes of a pool
     * do, certificate renewal works only there. (h3 is QUIC, not TLS over
     * TCP.) A candidate costs a handshake only when it is accepted. */
    .alpn = {"h2", "http/1.1", "http/1.0", "http/0.9", "spdy/3.1", "acme-tls/1"},
};
static pthread_once_t g_cat_once = PTHREAD_ONCE_INIT;

static void catalog_build(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION))
        es_die(ES_EXIT_RUNTIME, "enum: cannot create an OpenSSL client context");
    SSL_CTX_set_security_level(ctx, 0);
    SSL *ssl = NULL;
    if (SSL_CTX_set_cipher_list(ctx, "ALL:COMPLEMENTOFALL:@SECLEVEL=0") != 1 ||
        !(ssl = SSL_new(ctx)))
        es_die(ES_EXIT_RUNTIME, "enum: OpenSSL cannot list its ciphers");
    STACK_OF(SSL_CIPHER) *sk = SSL_get1_supported_ciphers(ssl);
    for (int i = 0; sk && i < sk_SSL_CIPHER_num(sk); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);
        if (!strcmp(SSL_CIPHER_get_version(c), "TLSv1.3"))
            continue;
        if (g_cat.nciphers == ES_ENUM_MAX_CIPHERS)
            break;
        g_cat.ecdhe[g_cat.nciphers] = SSL_CIPHER_get_kx_nid(c) == NID_kx_ecdhe;
        g_cat.ecdsa[g_cat.nciphers] = SSL_CIPHER_get_auth_nid(c) == NID_auth_ecdsa;
        g_cat.ciphers[g_cat.nciphers++] = SSL_CIPHER_get_name(c); /* static in libssl */
    }
    sk_SSL_CIPHER_free(sk);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (!g_cat.nciphers)
        es_die(ES_EXIT_RUNTIME, "enum: OpenSSL offers no TLS <= 1.2 cipher");
}

const struct es_enum_catalog *es_enum_catalog(void)
{
    pthread_once(&g_cat_once, catalog_build);
    return &g_cat;
}

static int find(const char *const *list, size_t n, const char *name)
{
    if (!name || !*name)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], name))
            return (int)i;
    return -1;
}

int es_enum_cipher_index(const char *name)
{
    const struct es_enum_catalog *c = es_enum_catalog();
    return find(c->ciphers, c->nciphers, name);
}
int es_enum_suite_index(const char *name)
{
    return find(es_enum_catalog()->suites, ES_ENUM_NSUITES, name);
}
int es_enum_group_index(const char *name)
{
    return find(es_enum_catalog()->groups, ES_ENUM_NGROUPS, name);
}
int es_enum_alpn_index(const char *name)
{
    return find(es_enum_catalog()->alpn, ES_ENUM_NALPN, name);
}

static const char *const version_texts[ES_ENUM_NVERSIONS] = {"1.0", "1.1", "1.2", "1.3"};
static const int version_codes[ES_ENUM_NVERSIONS] = {TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION,
                                                     TLS1_3_VERSION};

int es_enum_version_index(const char *text)
{
    return find(version_texts, ES_ENUM_NVERSIONS, text);
}

const char *es_enum_version_text(int v)
{
    return v >= 0 && v < ES_ENUM_NVERSIONS ? version_texts[v] : "";
}

/* ---- masks -------------------------------------------------------------------- */

static bool bit(const uint64_t m[2], unsigned i)
{
    return (m[i / 64] >> (i % 64)) & 1;
}
static void bit_clear(uint64_t m[2], unsigned i)
{
    m[i / 64] &= ~(1ull << (i % 64));
}
static bool mask_empty(const uint64_t m[2])
{
    return !m[0] && !m[1];
}
static unsigned popcount2(const uint64_t m[2])
{
    return (unsigned)(__builtin_popcountll(m[0]) + __builtin_popcountll(m[1]));
}
static void mask_all(uint64_t m[2], size_t n)
{
    m[0] = m[1] = 0;
    for (size_t i = 0; i < n; i++)
        m[i / 64] |= 1ull << (i % 64);
}
static void mask_one(uint64_t m[2], unsigned i)
{
    m[0] = m[1] = 0;
    m[i / 64] |= 1ull << (i % 64);
}

/* ---- the variant of a hello ------------------------------------------------------ */

static void join_mask(struct es_sb *sb, const char *const *names, size_t n, const uint64_t m[2])
{
    bool first = true;
    for (size_t i = 0; i < n; i++)
        if (bit(m, (unsigned)i)) {
            if (!first)
                es_sb_add(sb, ":");
            es_sb_add(sb, names[i]);
            first = false;
        }
}

void es_enum_variant_make(struct es_variant *v, const struct es_enum_hello *h, const char *name)
{
    const struct es_enum_catalog *cat = es_enum_catalog();
    memset(v, 0, sizeof *v);
    v->name = es_xstrdup(name);
    v->tls_min = version_codes[h->vmin];
    v->tls_max = version_codes[h->vmax];
    struct es_sb sb = {0};
    if (h->vmin == h->vmax)
        es_sb_add(&sb, version_texts[h->vmin]);
    else
        es_sb_printf(&sb, "%s-%s", version_texts[h->vmin], version_texts[h->vmax]);
    v->tls_offered = es_sb_take(&sb);

    if (h->pref[0] >= 0)
        es_sb_printf(&sb, "%s:%s", cat->ciphers[h->pref[0]], cat->ciphers[h->pref[1]]);
    else
        join_mask(&sb, cat->ciphers, cat->nciphers, h->ciphers);
    if (h->pref[0] < 0 && h->ctail)
        es_sb_printf(&sb, "%s%s", sb.len ? ":" : "", cat->ciphers[h->ctail - 1]);
    /* An empty list cannot be set: offer any one (a TLS 1.3-only probe). */
    if (!sb.len)
        es_sb_add(&sb, cat->ciphers[0]);
    es_sb_add(&sb, ":@SECLEVEL=0");
    v->ciphers = es_sb_take(&sb);
    uint64_t m[2] = {h->suites, 0};
    join_mask(&sb, cat->suites, ES_ENUM_NSUITES, m);
    if (!sb.len)
        es_sb_add(&sb, cat->suites[0]);
    v->ciphersuites = es_sb_take(&sb);
    m[0] = h->groups & ~(uint64_t)h->gtail;
    join_mask(&sb, cat->groups, ES_ENUM_NGROUPS, m);
    for (unsigned i = 0; i < ES_ENUM_NGROUPS; i++)
        if (h->gtail & (1u << i))
            es_sb_printf(&sb, "%s%s", sb.len ? ":" : "", cat->groups[i]);
    if (!sb.len)
        es_sb_add(&sb, cat->groups[0]);
    v->groups = es_sb_take(&sb);
    v->ciphers_offered = v->ciphers;
    v->groups_offered = v->groups;

    if (h->alpn) {
        uint8_t wire[256];
        size_t len = 0;
        for (unsigned i = 0; i < ES_ENUM_NALPN; i++)
            if (h->alpn & (1u << i)) {
                size_t l = strlen(cat->alpn[i]);
                wire[len++] = (uint8_t)l;
                memcpy(wire + len, cat->alpn[i], l);
                len += l;
                if (sb.len)
                    es_sb_add(&sb, ",");
                es_sb_add(&sb, cat->alpn[i]);
            }
        uint8_t *w = es_xmalloc(len);
        memcpy(w, wire, len);
        v->alpn_wire = w;
        v->alpn_wire_len = len;
        v->alpn_offered = es_sb_take(&sb);
    } else {
        v->alpn_offered = es_xstrdup("none");
    }
    v->sni_mode = h->nosni ? ES_SNI_NONE : ES_SNI_HOST;
}

void es_enum_variant_free(struct es_variant *v)
{
    free((char *)v->name);
    free((char *)v->tls_offered);
    free((char *)v->ciphers);
    free((char *)v->ciphersuites);
    free((char *)v->groups);
    free((char *)v->alpn_offered);
    free((uint8_t *)v->alpn_wire);
    memset(v, 0, sizeof *v);
}

/* ---- answers -------------------------------------------------------------------- */

static bool is(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

void es_enum_answer_from_row(struct es_enum_answer *a, const struct es_row *row)
{
    memset(a, 0, sizeof *a);
    a->alert = -1;
    a->version = es_enum_version_index(row->tls_version);
    a->cipher = es_enum_cipher_index(row->cipher);
    a->suite = es_enum_suite_index(row->cipher);
    a->group = es_enum_group_index(row->kx_group);
    a->alpn = es_enum_alpn_index(row->alpn);
    a->status = row->status;
    a->error = row->error;
    if (row->cert_sha256)
        snprintf(a->cert, sizeof a->cert, "%s", row->cert_sha256);
    if (row->alert >= 0 && is(row->alert_from, "peer"))
        a->alert = row->alert;
    if (row->alert >= 0)
        snprintf(a->alert_name, sizeof a->alert_name, "alert %d %s", row->alert,
                 row->alert_name ? row->alert_name : "");
    /* A handshake that completed says what the server chose, also when the
     * server ended the connection afterwards (a TLS 1.3 server that wants a
     * client certificate rejects us after its Finished). */
    bool completed = is(row->status, es_tok_ok) ||
                     (is(row->stage, "post_handshake") && row->tls_version && row->cipher);
    if (completed) {
        a->outcome = ES_ENUM_OK;
        return;
    }
    if (is(row->status, es_tok_alert) ||
        (is(row->status, es_tok_tls_error) && !is(row->error, es_tok_connection_reset)))
        a->outcome = ES_ENUM_REJECTED;
    else
        a->outcome = ES_ENUM_NOANSWER;
}

/* ---- the state machine ------------------------------------------------------------ */

static void dim_open(struct es_enum_dim *d, size_t n)
{
    memset(d, 0, sizeof *d);
    d->active = true;
    mask_all(d->left, n);
}

/* Records member i chosen by the server. A choice that was not offered (or
 * an unknown name) closes the dimension rather than loop. */
static void dim_record(struct es_enum_dim *d, int i)
{
    if (d->exhausted)
        return;
    if (i < 0 || !bit(d->left, (unsigned)i)) {
        d->exhausted = true;
        return;
    }
    bit_clear(d->left, (unsigned)i);
    d->found[d->nfound++] = (uint8_t)i;
    if (mask_empty(d->left))
        d->exhausted = true;
}

/* What a probe offers of dimension d: what is left, or (exhausted) the
 * first member found. */
static void dim_offer(const struct es_enum_dim *d, uint64_t out[2])
{
    if (d->exhausted && d->nfound)
        mask_one(out, d->found[0]);
    else
        memcpy(out, d->left, sizeof d->left);
}

static bool dim_open_now(const struct es_enum_dim *d)
{
    return d->active && !d->exhausted;
}

void es_enum_init(struct es_enum_state *st, bool nosni)
{
    es_enum_catalog();
    memset(st, 0, sizeof *st);
    st->vmax = st->v12 = -1;
    st->pref = -1;
    st->gcand = (uint16_t)((1u << ES_ENUM_NGROUPS) - 1);
    st->tr[ES_ENUM_TRACK_FIRST].phase = ES_ENUM_PH_FIRST;
    st->tr[ES_ENUM_TRACK_NOSNI].phase = nosni ? ES_ENUM_PH_FIRST : ES_ENUM_PH_DONE;
    dim_open(&st->alpn, ES_ENUM_NALPN);
}

void es_enum_set_groups(struct es_enum_state *st, uint16_t mask)
{
    mask &= (uint16_t)((1u << ES_ENUM_NGROUPS) - 1);
    if (mask)
        st->gcand = mask;
}

bool es_enum_groups_parse(const char *text, uint16_t *mask, char *err, size_t errlen)
{
    const char *p = text;
    for (;;) {
        size_t n = strcspn(p, ":,");
        char name[32];
        if (n == 0 || n >= sizeof name) {
            snprintf(err, errlen,
                     "--groups: empty or over-long name in '%s'; expected names "
                     "from X25519:P-256:X448:P-521:P-384:ffdhe2048:ffdhe3072:ffdhe4096:"
                     "ffdhe6144:ffdhe8192",
                     text);
            return false;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        int i = es_enum_group_index(name);
        if (i < 0) {
            snprintf(err, errlen,
                     "--groups: unknown group '%s'; expected names from "
                     "X25519:P-256:X448:P-521:P-384:ffdhe2048:ffdhe3072:ffdhe4096:"
                     "ffdhe6144:ffdhe8192",
                     name);
            return false;
        }
        *mask |= (uint16_t)(1u << i);
        if (!p[n])
            return true;
        p += n + 1;
    }
}

static void hello_all(const struct es_enum_state *st, struct es_enum_hello *h, uint8_t vmin,
                      uint8_t vmax)
{
    memset(h, 0, sizeof *h);
    h->vmin = vmin;
    h->vmax = vmax;
    mask_all(h->ciphers, es_enum_catalog()->nciphers);
    h->pref[0] = h->pref[1] = -1;
    h->suites = (1u << ES_ENUM_NSUITES) - 1;
    h->groups = st->gcand;
}

/* A group dimension: the candidates. */
static void grp_open(const struct es_enum_state *st, struct es_enum_dim *d)
{
    dim_open(d, ES_ENUM_NGROUPS);
    d->left[0] &= st->gcand;
}

/* The next elimination probe of track t, or false when t is done. */
static bool elim_hello(struct es_enum_state *st, unsigned t, struct es_enum_hello *h)
{
    struct es_enum_track_state *tr = &st->tr[t];
    bool alpn_open = tr->alpn_carrier && dim_open_now(&st->alpn);
    if (!dim_open_now(&tr->main) && !dim_open_now(&tr->grp) && !alpn_open)
        return false;
    bool tls13 = t == ES_ENUM_TRACK_TLS13;
    hello_all(st, h, tls13 ? 3 : (uint8_t)st->v12, tls13 ? 3 : (uint8_t)st->v12);
    uint64_t m[2];
    dim_offer(&tr->main, m);
    if (tr->suspect && tr->suspect_grp)
        mask_one(m, tr->main.found[0]);
    if (tls13)
        h->suites = (uint8_t)m[0];
    else
        memcpy(h->ciphers, m, sizeof m);
    /* TLS <= 1.2: the first cipher found goes last (the preference check
     * folded into elimination, see tls12_elim_feed) until the server's
     * order is known to be its own. */
    if (!tls13 && dim_open_now(&tr->main) && tr->main.nfound && !tr->tail_tie && st->pref != 1)
        h->ctail = (uint8_t)(tr->main.found[0] + 1);
    if (tr->grp.active) {
        dim_offer(&tr->grp, m);
        if (tr->suspect && !tr->suspect_grp && tr->grp.nfound)
            mask_one(m, tr->grp.found[0]);
        h->groups = (uint16_t)m[0];
    }
    if (alpn_open) {
        dim_offer(&st->alpn, m);
        h->alpn = (uint8_t)m[0];
    }
    return true;
}

/* The TLS <= 1.2 preference check, folded into elimination. Every
 * elimination probe offers what is left in catalog order and then found[0],
 * the server's choice when it was offered everything (so, if the server
 * imposes its own order, its favourite). A server that follows the client's
 * order picks the first acceptable one of that list, and one that imposes
 * its order picks found[0] again. So:
 *   - a new cipher chosen with found[0] offered: the client's order (pref 0);
 *   - found[0] chosen: either its own order, or the client's with nothing
 *     left. With the client's order known, that ends the list (as a refusal
 *     would); else it is a tie, and elimination goes on without the tail: a
 *     new cipher then proves the server's own order (pref 1), a refusal
 *     ends the list (pref stays unknown: the PREF probe decides).
 * Client-order servers (nginx's default) save the PREF probe; own-order
 * servers spend the tie instead of it. Returns true when it took the
 * answer. */
static bool tls12_tail_feed(struct es_enum_state *st, struct es_enum_track_state *tr,
                            const struct es_enum_answer *a)
{
    if (a->outcome != ES_ENUM_OK)
        return false;
    if (tr->last.ctail && a->cipher == tr->last.ctail - 1) {
        if (st->pref == 0)
            tr->main.exhausted = true;
        else
            tr->tail_tie = true;
        return true;
    }
    if (a->cipher >= 0 && bit(tr->main.left, (unsigned)a->cipher) && tr->main.nfound) {
        if (tr->last.ctail)
            st->pref = 0;
        else if (tr->tail_tie)
            st->pref = 1;
    }
    return false;
}

static void elim_feed(struct es_enum_state *st, unsigned t, const struct es_enum_answer *a)
{
    struct es_enum_track_state *tr = &st->tr[t];
    bool tls13 = t == ES_ENUM_TRACK_TLS13;
    bool alpn_open = tr->alpn_carrier && dim_open_now(&st->alpn);
    if (!tls13 && tls12_tail_feed(st, tr, a)) {
        if (alpn_open) {
            if (a->alpn < 0)
                st->alpn.exhausted = true;
            else
                dim_record(&st->alpn, a->alpn);
        }
        return;
    }
    if (a->outcome == ES_ENUM_OK) {
        if (tr->suspect && tr->suspect_grp) {
            tr->main.exhausted = true; /* {a known member} x groups worked: main was it */
            tr->suspect = false;
            dim_record(&tr->grp, a->group); /* and the probe found a group */
        } else {
            if (tr->suspect) {
                tr->grp.exhausted = true; /* main x {a known group} worked: groups was it */
                tr->suspect = false;
            } else if (dim_open_now(&tr->grp)) {
                dim_record(&tr->grp, a->group);
            }
            dim_record(&tr->main, tls13 ? a->suite : a->cipher);
        }
        if (alpn_open) {
            if (a->alpn < 0)
                st->alpn.exhausted = true; /* offered, none chosen */
            else
                dim_record(&st->alpn, a->alpn);
        }
        return;
    }
    if (alpn_open && a->alert == 120) {
        st->alpn.exhausted = true;
        return;
    }
    if (tr->suspect) {
        if (tr->suspect_grp)
            tr->grp.exhausted = true;
        else
            tr->main.exhausted = true;
        tr->suspect = false;
        return;
    }
    bool m = dim_open_now(&tr->main), g = dim_open_now(&tr->grp);
    if (m && g && tr->grp.nfound && tr->main.nfound) {
        /* Test the dimension with more members left: it is the likelier to
         * still hold an accepted one, and then the probe also finds it
         * (TLS 1.3: 5 suites, 10 groups; servers accept 3 suites and 5-10
         * groups, so the suites usually run out first). */
        tr->suspect = true;
        tr->suspect_grp = popcount2(tr->grp.left) > popcount2(tr->main.left);
    } else if (m && g && tr->grp.nfound) {
        tr->suspect = true;
        tr->suspect_grp = false;
    } else if (m)
        tr->main.exhausted = true;
    else if (g)
        tr->grp.exhausted = true;
    else if (alpn_open)
        st->alpn.exhausted = true; /* only ALPN was open: it must have been that */
}

/* TLS 1.3 accepted (FIRST negotiated it): the TLS 1.3 track starts with
 * FIRST's answer as its first, and carries ALPN. */
static void start_tls13(struct es_enum_state *st, const struct es_enum_answer *a)
{
    struct es_enum_track_state *tr = &st->tr[ES_ENUM_TRACK_TLS13];
    tr->phase = ES_ENUM_PH_ELIM;
    tr->alpn_carrier = true;
    dim_open(&tr->main, ES_ENUM_NSUITES);
    grp_open(st, &tr->grp);
    elim_feed(st, ES_ENUM_TRACK_TLS13, a);
}

static void start_versions(struct es_enum_state *st)
{
    struct es_enum_track_state *tr = &st->tr[ES_ENUM_TRACK_VERSIONS];
    tr->vhi = (int8_t)(st->v12 - 1);
    tr->phase = tr->vhi >= 0 ? ES_ENUM_PH_ELIM : ES_ENUM_PH_DONE;
}

static void after_tls12_elim(struct es_enum_state *st)
{
    struct es_enum_track_state *tr = &st->tr[ES_ENUM_TRACK_TLS12];
    if (tr->main.nfound >= 2 && st->pref < 0) {
        tr->phase = ES_ENUM_PH_PREF;
        return;
    }
    tr->phase = ES_ENUM_PH_GROUPS12;
}

static bool has_ecdhe(const struct es_enum_track_state *tr)
{
    const struct es_enum_catalog *cat = es_enum_catalog();
    for (unsigned i = 0; i < tr->main.nfound; i++)
        if (cat->ecdhe[tr->main.found[i]])
            return true;
    return false;
}

static bool tls12_ecdsa(const struct es_enum_track_state *tr)
{
    const struct es_enum_catalog *cat = es_enum_catalog();
    for (unsigned i = 0; i < tr->main.nfound; i++)
        if (cat->ecdhe[tr->main.found[i]] && cat->ecdsa[tr->main.found[i]])
            return true;
    return false;
}

static bool tls12_hello(struct es_enum_state *st, struct es_enum_hello *h)
{
    struct es_enum_track_state *tr = &st->tr[ES_ENUM_TRACK_TLS12];
    const struct es_enum_catalog *cat = es_enum_catalog();
    for (;;) {
        switch (tr->phase) {
        case ES_ENUM_PH_IDLE:
        case ES_ENUM_PH_DONE: return false;
        case ES_ENUM_PH_FIRST: hello_all(st, h, 0, 2); return true;
        case ES_ENUM_PH_ELIM:
            if (elim_hello(st, ES_ENUM_TRACK_TLS12, h))
                return true;
            after_tls12_elim(st);
            continue;
        case ES_ENUM_PH_PREF:
            hello_all(st, h, (uint8_t)st->v12, (uint8_t)st->v12);
            h->pref[0] = tr->main.found[1];
            h->pref[1] = tr->main.found[0];
            return true;
        case ES_ENUM_PH_GROUPS12:
            /* Groups matter to TLS 1.2 through ECDHE only: without TLS 1.3,
             * offer the ECDHE ciphers found and eliminate groups. */
            if (st->vmax == 3 || !has_ecdhe(tr)) {
                tr->phase = ES_ENUM_PH_DONE;
                continue;
            }
            if (!st->g12.active)
                grp_open(st, &st->g12);
            if (!dim_open_now(&st->g12)) {
                tr->phase = ES_ENUM_PH_DONE;
                continue;
            }
            hello_all(st, h, (uint8_t)st->v12, (uint8_t)st->v12);
            h->ciphers[0] = h->ciphers[1] = 0;
            for (unsigned i = 0; i < tr->main.nfound; i++)
                if (cat->ecdhe[tr->main.found[i]])
                    h->ciphers[tr->main.found[i] / 64] |= 1ull << (tr->main.found[i] % 64);
            h->groups = (uint16_t)st->g12.left[0];
            if (st->g12_carrier)
                for (unsigned i = 0; i < st->g12.nfound; i++)
                    h->gtail |= (uint16_t)(1u << st->g12.found[i]);
            h->groups |= h->gtail;
            return true;
        }
    }
}

static void tls12_feed(struct es_enum_state *st, const struct es_enum_answer *a)
{
    struct es_enum_track_state *tr = &st->tr[ES_ENUM_TRACK_TLS12];
    switch (tr->phase) {
    case ES_ENUM_PH_FIRST:
        if (a->outcome != ES_ENUM_OK || a->version < 0 || a->version > 2) {
            tr->phase = ES_ENUM_PH_DONE; /* no TLS <= 1.2 at all */
            st->tr[ES_ENUM_TRACK_VERSIONS].phase = ES_ENUM_PH_DONE;
            return;
        }
        st->v12 = (int8_t)a->version;
        st->versions |= (uint8_t)(1u << a->version);
        tr->phase = ES_ENUM_PH_ELIM;
        dim_open(&tr->main, es_enum_catalog()->nciphers);
        elim_feed(st, ES_ENUM_TRACK_TLS12, a);
        start_versions(st);
        return;
    case ES_ENUM_PH_ELIM: elim_feed(st, ES_ENUM_TRACK_TLS12, a); return;
    case ES_ENUM_PH_PREF:
        if (a->outcome == ES_ENUM_OK && a->cipher == tr->main.found[0])
            st->pref = 1;
        else if (a->outcome == ES_ENUM_OK && a->cipher == tr->main.found[1])
            st->pref = 0;
        tr->phase = ES_ENUM_PH_GROUPS12;
        return;
    case ES_ENUM_PH_GROUPS12:
        /* Over TLS 1.2 the groups a client offers also say which curves it
         * can verify: an ECDSA certificate on P-256 is unusable once P-256 is
         * not offered, and the server refuses the whole handshake. So after a
         * refusal, when ECDSA suites are involved, ask again with the groups
         * already found offered last (the carriers, among them the
         * certificate's curve): a server that follows the client's order
         * picks an unfound group when it has one, and a carrier only when
         * none is left. (A server that imposes its own group order and ranks
         * a carrier first hides the rest: listed in docs/enum.md.) */
        if (a->outcome == ES_ENUM_OK && a->group >= 0 && !bit(st->g12.left, (unsigned)a->group))
            st->g12.exhausted = true; /* a carrier: nothing new is left */
        else if (a->outcome == ES_ENUM_OK)
            dim_record(&st->g12, a->group);
        else if (!st->g12_carrier && st->g12.nfound && tls12_ecdsa(tr))
            st->g12_carrier = true;
        else
            st->g12.exhausted = true;
        return;
    case ES_ENUM_PH_IDLE:
    case ES_ENUM_PH_DONE: return;
    }
}

static void first_feed(struct es_enum_state *st, const struct es_enum_answer *a)
{
    st->tr[ES_ENUM_TRACK_FIRST].phase = ES_ENUM_PH_DONE;
    if (a->outcome != ES_ENUM_OK || a->version < 0) {
        st->failed = true;
        st->status = a->status ? a->status : es_tok_tls_error;
        st->error = a->error;
        for (unsigned t = 0; t < ES_ENUM_NTRACKS; t++)
            if (t != ES_ENUM_TRACK_NOSNI)
                st->tr[t].phase = ES_ENUM_PH_DONE;
        return;
    }
    snprintf(st->cert, sizeof st->cert, "%s", a->cert);
    st->vmax = (int8_t)a->version;
    st->versions |= (uint8_t)(1u << a->version);
    if (a->version == 3) {
        start_tls13(st, a);
        st->tr[ES_ENUM_TRACK_TLS12].phase = ES_ENUM_PH_FIRST;
        return;
    }
    st->tr[ES_ENUM_TRACK_TLS13].phase = ES_ENUM_PH_DONE;
    struct es_enum_track_state *tr = &st->tr[ES_ENUM_TRACK_TLS12];
    st->v12 = (int8_t)a->version;
    tr->phase = ES_ENUM_PH_ELIM;
    tr->alpn_carrier = true;
    dim_open(&tr->main, es_enum_catalog()->nciphers);
    elim_feed(st, ES_ENUM_TRACK_TLS12, a);
    start_versions(st);
}

static bool track_hello(struct es_enum_state *st, unsigned t, struct es_enum_hello *h)
{
    struct es_enum_track_state *tr = &st->tr[t];
    switch (t) {
    case ES_ENUM_TRACK_FIRST:
        if (tr->phase != ES_ENUM_PH_FIRST)
            return false;
        hello_all(st, h, 0, 3);
        h->alpn = (1u << ES_ENUM_NALPN) - 1;
        return true;
    case ES_ENUM_TRACK_NOSNI:
        if (tr->phase != ES_ENUM_PH_FIRST)
            return false;
        hello_all(st, h, 0, 3);
        h->nosni = true;
        return true;
    case ES_ENUM_TRACK_VERSIONS:
        if (tr->phase != ES_ENUM_PH_ELIM)
            return false;
        hello_all(st, h, 0, (uint8_t)tr->vhi);
        return true;
    case ES_ENUM_TRACK_TLS12: return tls12_hello(st, h);
    case ES_ENUM_TRACK_TLS13:
        if (tr->phase == ES_ENUM_PH_ELIM && elim_hello(st, t, h))
            return true;
        if (tr->phase == ES_ENUM_PH_ELIM)
            tr->phase = ES_ENUM_PH_DONE;
        return false;
    }
    return false;
}

size_t es_enum_next(struct es_enum_state *st, struct es_enum_hello *out, unsigned *tracks)
{
    size_t n = 0;
    for (unsigned t = 0; t < ES_ENUM_NTRACKS; t++) {
        struct es_enum_track_state *tr = &st->tr[t];
        if (tr->inflight)
            continue;
        if (st->handshakes >= ES_ENUM_MAX_HANDSHAKE && tr->phase != ES_ENUM_PH_DONE &&
            tr->phase != ES_ENUM_PH_IDLE) {
            tr->phase = ES_ENUM_PH_DONE;
            st->partial = true;
            st->error = "handshake_cap";
            continue;
        }
        if (!track_hello(st, t, &tr->last))
            continue;
        tr->inflight = true;
        tr->tries = 0;
        out[n] = tr->last;
        tracks[n++] = t;
    }
    /* A track that finished while others were being asked may free another
     * (TLS12's elimination leads to PREF in the same call): nothing more is
     * needed, the next call picks it up. */
    return n;
}

void es_enum_feed(struct es_enum_state *st, unsigned t, const struct es_enum_answer *a)
{
    if (t >= ES_ENUM_NTRACKS || !st->tr[t].inflight)
        return;
    struct es_enum_track_state *tr = &st->tr[t];
    st->handshakes++;
    if (a->outcome == ES_ENUM_NOANSWER) {
        if (tr->tries++ < ES_ENUM_RETRIES && st->handshakes < ES_ENUM_MAX_HANDSHAKE)
            return; /* still in flight: the runner sends tr->last again */
        tr->inflight = false;
        if (t == ES_ENUM_TRACK_FIRST) {
            first_feed(st, a);
            return;
        }
        if (t == ES_ENUM_TRACK_NOSNI)
            snprintf(st->nosni_error, sizeof st->nosni_error, "%s", a->error ? a->error : "");
        else {
            st->partial = true;
            st->error = a->error;
        }
        tr->phase = ES_ENUM_PH_DONE;
        return;
    }
    tr->inflight = false;
    switch (t) {
    case ES_ENUM_TRACK_FIRST: first_feed(st, a); return;
    case ES_ENUM_TRACK_NOSNI:
        tr->phase = ES_ENUM_PH_DONE;
        if (a->outcome == ES_ENUM_OK)
            snprintf(st->cert_nosni, sizeof st->cert_nosni, "%s", a->cert);
        else
            snprintf(st->nosni_error, sizeof st->nosni_error, "%s",
                     a->alert_name[0] ? a->alert_name
                     : a->error       ? a->error
                                      : "");
        return;
    case ES_ENUM_TRACK_VERSIONS:
        if (a->outcome == ES_ENUM_OK && a->version >= 0 && a->version <= tr->vhi) {
            st->versions |= (uint8_t)(1u << a->version);
            tr->vhi = (int8_t)(a->version - 1);
            if (tr->vhi < 0)
                tr->phase = ES_ENUM_PH_DONE;
        } else {
            tr->phase = ES_ENUM_PH_DONE;
        }
        return;
    case ES_ENUM_TRACK_TLS12: tls12_feed(st, a); return;
    case ES_ENUM_TRACK_TLS13: elim_feed(st, t, a); return;
    }
}

bool es_enum_finished(const struct es_enum_state *st)
{
    for (unsigned t = 0; t < ES_ENUM_NTRACKS; t++)
        if (st->tr[t].inflight ||
            (st->tr[t].phase != ES_ENUM_PH_DONE && st->tr[t].phase != ES_ENUM_PH_IDLE))
            return false;
    return true;
}

void es_enum_stop(struct es_enum_state *st)
{
    for (unsigned t = 0; t < ES_ENUM_NTRACKS; t++) {
        if (t == ES_ENUM_TRACK_NOSNI)
            continue;
        st->tr[t].phase = ES_ENUM_PH_DONE;
        st->tr[t].inflight = false;
    }
}

/* ---- the lists of a result ------------------------------------------------------------ */

static void join_found(char *out, const struct es_enum_dim *d, const char *const *names)
{
    size_t len = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < d->nfound; i++) {
        int n =
            snprintf(out + len, ES_ENUM_LIST_MAX - len, "%s%s", i ? ";" : "", names[d->found[i]]);
        if (n < 0 || (size_t)n >= ES_ENUM_LIST_MAX - len)
            break;
        len += (size_t)n;
    }
}

void es_enum_lists(const struct es_enum_state *st, char *versions, char *ciphers12, char *suites13,
                   char *groups, char *alpn)
{
    const struct es_enum_catalog *cat = es_enum_catalog();
    size_t len = 0;
    versions[0] = '\0';
    for (int v = 0; v < ES_ENUM_NVERSIONS; v++)
        if (st->versions & (1u << v))
            len += (size_t)snprintf(versions + len, ES_ENUM_LIST_MAX - len, "%s%s", len ? ";" : "",
                                    version_texts[v]);
    join_found(ciphers12, &st->tr[ES_ENUM_TRACK_TLS12].main, cat->ciphers);
    join_found(suites13, &st->tr[ES_ENUM_TRACK_TLS13].main, cat->suites);
    join_found(groups, st->vmax == 3 ? &st->tr[ES_ENUM_TRACK_TLS13].grp : &st->g12, cat->groups);
    join_found(alpn, &st->alpn, cat->alpn);
}
