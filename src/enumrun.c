/* enumrun.c - runs the per-edge state machines of `edgeshake enum` over the
 * engine, in rounds (include/edgeshake/enum.h).
 *
 * A round: every unfinished edge says which ClientHellos it wants now (one per
 * track, up to five, plus the probes that got no answer and are tried
 * again); the distinct ClientHellos become the round's variants, each
 * (edge, variant) pair one explicit probe of es_engine_run (es_edge.only_variant), so
 * all of them run concurrently on the io_uring workers, under --per-ip and
 * --rate like any scan. The rows come back through on_row on the workers; each
 * is matched to its probe by (host, port, ip) and the variant's name, and
 * after the round every answer is fed to its machine. A machine's next
 * ClientHello depends on the answers of the round before: rounds ≈ the
 * longest chain of one edge (about 15 for a typical edge), each concurrent
 * over all edges.
 *
 * Sharing (the default; --per-host turns it off): after the first round,
 * (host, port, ip) edges on the same (ip, port) whose first answer was the
 * same in every respect (version, cipher or suite, group, ALPN and the
 * certificate's SHA-256) are one virtual host of one server: one of them is
 * enumerated and the others share its result (their row says so in
 * same_as and counts only their own handshakes). A CDN node serving 20,000
 * names under a few certificates then costs a few enumerations, not 20,000.
 * The certificate without SNI belongs to (ip, port) and is fetched once per
 * (ip, port). */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "edgeshake/engine.h"
#include "edgeshake/enum.h"
#include "edgeshake/net.h"
#include "edgeshake/util.h"

/* One probe of a round. */
struct rprobe {
    uint32_t item;
    uint8_t track;
    uint32_t variant;
    _Atomic bool answered;
    struct es_enum_answer ans;
};

/* (host, port, ip) -> item, for matching rows (open addressing). */
struct itemtab {
    uint32_t *slot; /* item + 1; 0 = empty */
    size_t mask;
};

struct run {
    struct es_enum_item *items;
    size_t nitems;
    char (*iptext)[ES_IP_TEXT];
    struct itemtab tab;
    struct rprobe *probes;
    size_t nprobes, capprobes;
    uint32_t *first_probe; /* by item: index of its first probe this round, or UINT32_MAX */
    uint8_t *nitem_probes; /* by item: its probes this round (contiguous from first_probe) */
    _Atomic uint64_t unmatched;
};

static uint64_t key_hash(const char *host, int port, const char *ip)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s|%d|%s", host, port, ip);
    return XXH3_64bits(buf, n > 0 && (size_t)n < sizeof buf ? (size_t)n : sizeof buf);
}

static bool item_is(const struct run *r, uint32_t i, const char *host, int port, const char *ip)
{
    const struct es_edge *e = r->items[i].edge;
    return e->port == port && !strcmp(e->host, host) && !strcmp(r->iptext[i], ip);
}

static void tab_build(struct run *r)
{
    size_t cap = 16;
    while (cap < 2 * r->nitems)
        cap *= 2;
    r->tab.mask = cap - 1;
    r->tab.slot = es_xcalloc(cap, sizeof *r->tab.slot);
    for (uint32_t i = 0; i < r->nitems; i++) {
        const struct es_edge *e = r->items[i].edge;
        es_ip_str(&e->ip, r->iptext[i], ES_IP_TEXT);
        size_t j = key_hash(e->host, e->port, r->iptext[i]) & r->tab.mask;
        while (r->tab.slot[j])
            j = (j + 1) & r->tab.mask;
        r->tab.slot[j] = i + 1;
    }
}

static int64_t tab_find(const struct run *r, const char *host, int port, const char *ip)
{
    if (!host || !ip)
        return -1;
    size_t j = key_hash(host, port, ip) & r->tab.mask;
    while (r->tab.slot[j]) {
        uint32_t i = r->tab.slot[j] - 1;
        if (item_is(r, i, host, port, ip))
            return i;
        j = (j + 1) & r->tab.mask;
    }
    return -1;
}

/* The worker side: match the row to its probe and keep the answer. Each
 * probe is answered once, by one worker; the main thread reads the answers
 * after es_engine_run has joined the workers. */
static void on_row(void *arg, unsigned worker, const struct es_row *row)
{
    (void)worker;
    struct run *r = arg;
    int64_t item = tab_find(r, row->host, row->port, row->ip);
    char *end = NULL;
    unsigned long v =
        row->variant && row->variant[0] == 'e' ? strtoul(row->variant + 1, &end, 10) : ULONG_MAX;
    if (item >= 0 && end && !*end && r->first_probe[item] != UINT32_MAX) {
        struct rprobe *p = &r->probes[r->first_probe[item]];
        for (unsigned k = 0; k < r->nitem_probes[item]; k++)
            if (p[k].variant == v && !atomic_load(&p[k].answered)) {
                es_enum_answer_from_row(&p[k].ans, row);
                atomic_store(&p[k].answered, true);
                return;
            }
    }
    atomic_fetch_add(&r->unmatched, 1);
}

/* ---- the variants of a round: one per distinct ClientHello ---------------------- */

struct hellotab {
    struct es_enum_hello *hello;
    uint32_t *slot; /* variant + 1 */
    size_t n, cap, mask;
    struct es_variant *variants;
};

static uint32_t hello_variant(struct hellotab *h, const struct es_enum_hello *x)
{
    if (!h->slot || (h->n + 1) * 2 > h->mask + 1) {
        size_t cap = h->slot ? 2 * (h->mask + 1) : 256;
        uint32_t *s = es_xcalloc(cap, sizeof *s);
        for (size_t i = 0; i < h->n; i++) {
            size_t j = XXH3_64bits(&h->hello[i], sizeof *x) & (cap - 1);
            while (s[j])
                j = (j + 1) & (cap - 1);
            s[j] = (uint32_t)i + 1;
        }
        free(h->slot);
        h->slot = s;
        h->mask = cap - 1;
    }
    size_t j = XXH3_64bits(x, sizeof *x) & h->mask;
    while (h->slot[j]) {
        uint32_t i = h->slot[j] - 1;
        if (!memcmp(&h->hello[i], x, sizeof *x))
            return i;
        j = (j + 1) & h->mask;
    }
    h->hello = es_xgrow(h->hello, &h->cap, h->n + 1, sizeof *h->hello);
    h->hello[h->n] = *x;
    h->slot[j] = (uint32_t)h->n + 1;
    return (uint32_t)h->n++;
}

static void hellotab_reset(struct hellotab *h)
{
    for (size_t i = 0; h->variants && i < h->n; i++)
        es_enum_variant_free(&h->variants[i]);
    free(h->variants);
    h->variants = NULL;
    free(h->slot);
    h->slot = NULL;
    h->n = 0;
    h->mask = 0;
}

/* ---- sharing and the no-SNI owners ------------------------------------------------ */

static uint64_t ipport_hash(const struct es_edge *e)
{
    struct {
        struct es_ip ip;
        uint16_t port;
    } k;
    memset(&k, 0, sizeof k);
    k.ip = e->ip;
    k.port = e->port;
    return XXH3_64bits(&k, sizeof k);
}

static bool same_ipport(const struct es_edge *a, const struct es_edge *b)
{
    return a->port == b->port && es_ip_equal(&a->ip, &b->ip);
}

/* For each (ip, port), the first item with a host name fetches the no-SNI
 * certificate; the others copy it. IP targets send no SNI anyway. */
static void assign_nosni(struct es_enum_item *items, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    uint32_t *slot = es_xcalloc(cap, sizeof *slot);
    for (uint32_t i = 0; i < n; i++) {
        struct es_enum_item *it = &items[i];
        it->same_as = -1;
        it->nosni_from = -1;
        it->nosni_owner = false;
        if (it->edge->host_is_ip)
            continue;
        size_t j = ipport_hash(it->edge) & (cap - 1);
        while (slot[j] && !same_ipport(items[slot[j] - 1].edge, it->edge))
            j = (j + 1) & (cap - 1);
        if (slot[j]) {
            it->nosni_from = (int32_t)(slot[j] - 1);
        } else {
            slot[j] = i + 1;
            it->nosni_owner = true;
        }
    }
    free(slot);
}

/* What makes two first answers on one (ip, port) the same virtual host. */
struct firstkey {
    struct es_ip ip;
    uint16_t port;
    int8_t version, choice, group, alpn;
    char cert[65];
};

static void share(struct es_enum_item *items, size_t n, const struct rprobe *first)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    struct firstkey *keys = es_xcalloc(n, sizeof *keys);
    uint32_t *slot = es_xcalloc(cap, sizeof *slot);
    for (uint32_t i = 0; i < n; i++) {
        const struct rprobe *p = &first[i];
        struct es_enum_item *it = &items[i];
        if (p->item != i || !atomic_load(&p->answered) || p->ans.outcome != ES_ENUM_OK ||
            it->edge->host_is_ip)
            continue;
        struct firstkey *k = &keys[i];
        memset(k, 0, sizeof *k);
        k->ip = it->edge->ip;
        k->port = it->edge->port;
        k->version = (int8_t)p->ans.version;
        k->choice = (int8_t)(p->ans.version == 3 ? p->ans.suite : p->ans.cipher);
        k->group = (int8_t)p->ans.group;
        k->alpn = (int8_t)p->ans.alpn;
        memcpy(k->cert, p->ans.cert, sizeof k->cert);
        size_t j = XXH3_64bits(k, sizeof *k) & (cap - 1);
        while (slot[j] && memcmp(&keys[slot[j] - 1], k, sizeof *k))
            j = (j + 1) & (cap - 1);
        if (slot[j]) {
            it->same_as = (int32_t)(slot[j] - 1);
            es_enum_stop(&it->st);
        } else {
            slot[j] = i + 1;
        }
    }
    free(slot);
    free(keys);
}

/* ---- the rounds ------------------------------------------------------------------------ */

static void add_probe(struct run *r, uint32_t item, unsigned track)
{
    r->probes = es_xgrow(r->probes, &r->capprobes, r->nprobes + 1, sizeof *r->probes);
    struct rprobe *p = &r->probes[r->nprobes++];
    memset(p, 0, sizeof *p);
    p->item = item;
    p->track = (uint8_t)track;
    if (r->first_probe[item] == UINT32_MAX)
        r->first_probe[item] = (uint32_t)(r->nprobes - 1);
    r->nitem_probes[item]++;
}

/* Collects this round's probes: the tracks es_enum_next starts now and the
 * tracks still in flight (no answer last round: tried again). */
static void collect(struct run *r)
{
    r->nprobes = 0;
    struct es_enum_hello h[ES_ENUM_NTRACKS];
    unsigned t[ES_ENUM_NTRACKS];
    for (uint32_t i = 0; i < r->nitems; i++) {
        r->first_probe[i] = UINT32_MAX;
        r->nitem_probes[i] = 0;
        struct es_enum_item *it = &r->items[i];
        if (it->same_as >= 0 && it->st.tr[ES_ENUM_TRACK_NOSNI].phase == ES_ENUM_PH_DONE)
            continue;
        es_enum_next(&it->st, h, t);
        for (unsigned k = 0; k < ES_ENUM_NTRACKS; k++)
            if (it->st.tr[k].inflight)
                add_probe(r, i, k);
    }
}

int es_enum_run(struct es_enum_item *items, size_t n, const struct es_enum_run_opts *o,
                uint64_t *rounds_out)
{
    es_enum_catalog();
    struct run r = {.items = items, .nitems = n};
    r.iptext = es_xcalloc(n ? n : 1, sizeof *r.iptext);
    r.first_probe = es_xcalloc(n ? n : 1, sizeof *r.first_probe);
    r.nitem_probes = es_xcalloc(n ? n : 1, sizeof *r.nitem_probes);
    tab_build(&r);
    assign_nosni(items, n);
    for (size_t i = 0; i < n; i++) {
        es_enum_init(&items[i].st, items[i].nosni_owner);
        if (o->groups)
            es_enum_set_groups(&items[i].st, o->groups);
    }

    struct es_config cfg = *o->cfg;
    cfg.quiet = true; /* the engine's per-run lines would be one per round */
    cfg.progress = false;
    cfg.repeat = 1;
    cfg.no_verify = true; /* the enumerator records the certificate, it does not judge it */
    cfg.h2_check = false;
    bool progress = !o->quiet && (o->cfg->progress || isatty(STDERR_FILENO));

    struct hellotab ht = {0};
    struct es_edge *redges = NULL;
    size_t capedges = 0;
    int status = 0;
    uint64_t round = 0;
    for (;;) {
        collect(&r);
        if (!r.nprobes)
            break;
        round++;
        hellotab_reset(&ht);
        redges = es_xgrow(redges, &capedges, r.nprobes, sizeof *redges);
        for (size_t k = 0; k < r.nprobes; k++) {
            struct rprobe *p = &r.probes[k];
            const struct es_enum_item *it = &items[p->item];
            p->variant = hello_variant(&ht, &it->st.tr[p->track].last);
            redges[k] = *it->edge;
            redges[k].only_variant = p->variant + 1;
        }
        ht.variants = es_xcalloc(ht.n, sizeof *ht.variants);
        for (size_t v = 0; v < ht.n; v++) {
            char name[24];
            snprintf(name, sizeof name, "e%zu", v);
            es_enum_variant_make(&ht.variants[v], &ht.hello[v], name);
            ht.variants[v].index = (unsigned)v;
        }
        if (progress)
            fprintf(stderr, "%s: round %llu: %zu handshakes, %zu ClientHello variants\n",
                    es_progname, (unsigned long long)round, r.nprobes, ht.n);
        struct es_engine_params p = {
            .cfg = &cfg,
            .edges = redges,
            .nedges = r.nprobes,
            .variants = ht.variants,
            .nvariants = ht.n,
            .on_row = on_row,
            .on_row_arg = &r,
        };
        struct es_engine_result res;
        enum es_engine_status st = es_engine_run(&p, &res);
        if (st == ES_ENGINE_FAILED) {
            status = 1;
            break;
        }
        if (atomic_load(&r.unmatched))
            es_die(ES_EXIT_RUNTIME, "internal error: %llu enum rows matched no probe",
                   (unsigned long long)atomic_load(&r.unmatched));
        bool first_round = round == 1;
        for (size_t k = 0; k < r.nprobes; k++) {
            struct rprobe *q = &r.probes[k];
            if (atomic_load(&q->answered))
                es_enum_feed(&items[q->item].st, q->track, &q->ans);
        }
        if (st == ES_ENGINE_INTERRUPTED) {
            status = 130;
            break;
        }
        if (first_round && !o->per_host) {
            /* Round 1 holds every item's first probe, in item order, first in
             * each item's run of probes: index them by item for share(). */
            struct rprobe *first = es_xcalloc(n ? n : 1, sizeof *first);
            for (uint32_t i = 0; i < n; i++) {
                first[i].item = UINT32_MAX;
                if (r.first_probe[i] != UINT32_MAX) {
                    struct rprobe *q = &r.probes[r.first_probe[i]];
                    if (q->track == ES_ENUM_TRACK_FIRST) {
                        first[i] = *q;
                        first[i].item = i;
                    }
                }
            }
            share(items, n, first);
            free(first);
        }
    }
    hellotab_reset(&ht);
    free(ht.hello);
    free(redges);
    free(r.probes);
    free(r.tab.slot);
    free(r.iptext);
    free(r.first_probe);
    free(r.nitem_probes);
    if (rounds_out)
        *rounds_out = round;
    return status;
}
