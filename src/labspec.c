/* labspec.c - the lab spec parser (DESIGN §3.5); see include/edgeshake/labspec.h.
 *
 * The text is untrusted (a user's file, and a fuzz target): it is cut into
 * lines of at most LINE_MAX_BYTES, each line is checked to be printable UTF-8
 * and copied into a NUL-terminated buffer, then split into words in place.
 * Every word is parsed with bounds-checked helpers (es_parse_u64, es_ip_parse,
 * es_endpoint_parse). Uniqueness checks go through xxh3 hash tables so that a
 * large spec (a benchmark lab with thousands of edges) parses in linear time.
 *
 * Everything allocated hangs off the spec as soon as it exists, or is freed by
 * the function that made it before it returns false, so that one
 * es_labspec_free cleans up after any error. */
#include "edgeshake/labspec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "edgeshake/net.h"
#include "edgeshake/util.h"

#define LINE_MAX_BYTES    4096
#define MAX_WORDS         (LINE_MAX_BYTES / 2 + 1)
#define FILE_MAX_BYTES    (64u << 20)
#define LABEL_MAX         32
#define DNS_NAME_MAX      253
#define DELAY_MAX_MS      600000
#define ALPN_PROTO_MAX    255
#define DEFAULT_CERT_NAME "edge.lab.test"
#define DEFAULT_ALPN      "h2,http/1.1"
#define SHOWN_MAX         64 /* bytes of a user's word quoted in a message */
#define SUBJECT_O_MAX     64 /* X.509 ub-organization-name */

#define EXPECT_HOST_RULE                                                                           \
    "LABEL=IP[,IP...], LABEL=nxdomain|servfail|refused|drop or ecs:SUBNET/LEN=..."
#define EXPECT_DNS_NAME                                                                            \
    "a DNS name: labels of 1 to 63 characters from a-z 0-9 - _, 253 bytes in all"
#define EXPECT_LOOPBACK "an address in 127.0.0.0/8 or ::1 (the lab only ever binds loopback)"

/* ---- hash tables of indexes (xxh3, open addressing, linear probing) ---- */

struct slot {
    uint64_t hash;
    size_t idx1; /* element index + 1; 0 = empty */
};

struct table {
    struct slot *slots;
    size_t cap; /* a power of two, or 0 */
    size_t n;
};

/* True when element idx (of whatever array ctx holds) equals key. */
typedef bool (*eq_fn)(const void *ctx, size_t idx, const void *key);

/* The index of the element equal to key, or SIZE_MAX. */
static size_t table_get(const struct table *t, uint64_t hash, eq_fn eq, const void *ctx,
                        const void *key)
{
    if (!t->cap)
        return SIZE_MAX;
    size_t mask = t->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const struct slot *s = &t->slots[i];
        if (!s->idx1)
            return SIZE_MAX;
        if (s->hash == hash && eq(ctx, s->idx1 - 1, key))
            return s->idx1 - 1;
    }
}

static void table_place(struct slot *slots, size_t cap, uint64_t hash, size_t idx1)
{
    size_t i = hash & (cap - 1);
    while (slots[i].idx1)
        i = (i + 1) & (cap - 1);
    slots[i].hash = hash;
    slots[i].idx1 = idx1;
}

/* Adds idx under hash; the caller has checked that no equal element exists. */
static void table_add(struct table *t, uint64_t hash, size_t idx)
{
    if ((t->n + 1) * 2 > t->cap) {
        size_t ncap = t->cap ? t->cap : 16;
        while ((t->n + 1) * 2 > ncap) {
            if (ncap > SIZE_MAX / 2 / sizeof(struct slot))
                es_die(ES_EXIT_RUNTIME, "lab spec: hash table too large");
            ncap *= 2;
        }
        struct slot *ns = es_xcalloc(ncap, sizeof *ns);
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i].idx1)
                table_place(ns, ncap, t->slots[i].hash, t->slots[i].idx1);
        free(t->slots);
        t->slots = ns;
        t->cap = ncap;
    }
    table_place(t->slots, t->cap, hash, idx + 1);
    t->n++;
}

static void table_free(struct table *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = t->n = 0;
}

static uint64_t hash_str(const char *s)
{
    return XXH3_64bits(s, strlen(s));
}

static uint64_t hash_ip(const struct es_ip *ip, unsigned extra, uint64_t seed)
{
    uint8_t k[19];
    k[0] = ip->family == AF_INET6;
    memcpy(k + 1, ip->bytes, 16);
    k[17] = (uint8_t)(extra >> 8);
    k[18] = (uint8_t)extra;
    return XXH3_64bits_withSeed(k, sizeof k, seed);
}

static bool endpoint_equal(const struct es_endpoint *a, const struct es_endpoint *b)
{
    return a->port == b->port && es_ip_equal(&a->ip, &b->ip);
}

static bool eq_host(const void *ctx, size_t idx, const void *key)
{
    const struct es_labspec *spec = ctx;
    return strcmp(spec->hosts[idx].name, key) == 0;
}

static bool eq_edge(const void *ctx, size_t idx, const void *key)
{
    const struct es_labspec *spec = ctx;
    return endpoint_equal(&spec->edges[idx].addr, key);
}

static bool eq_res_label(const void *ctx, size_t idx, const void *key)
{
    const struct es_labspec *spec = ctx;
    return strcmp(spec->resolvers[idx].label, key) == 0;
}

static bool eq_res_addr(const void *ctx, size_t idx, const void *key)
{
    const struct es_labspec *spec = ctx;
    return endpoint_equal(&spec->resolvers[idx].addr, key);
}

/* ---- the parser ---- */

/* Where an answer rule lives, for the table that finds repeated rules. */
struct ansref {
    size_t host, ans;
};

/* What identifies a rule of a host: its resolver label, or its ECS subnet. */
struct anskey {
    size_t host;
    const char *label; /* NULL: ECS rule */
    const struct es_ip *ecs;
    unsigned prefix;
};

/* The first host (by spec order) whose answers include an IP. */
struct ipref {
    struct es_ip ip;
    size_t host;
};

struct parser {
    struct es_labspec *spec;
    const char *name;
    char *err;
    size_t errlen;
    unsigned line;
    size_t cap_resolvers, cap_hosts, cap_edges;
    struct table hosts, edges, res_labels, res_addrs, answers;
    struct ansref *refs;
    size_t nrefs, cap_refs;
    char buf[LINE_MAX_BYTES + 1];
    char *word[MAX_WORDS];
    size_t nwords;
    char shown[4][SHOWN_MAX + 4];
    unsigned nshown;
};

static bool eq_answer(const void *ctx, size_t idx, const void *key)
{
    const struct parser *p = ctx;
    const struct anskey *k = key;
    const struct ansref *r = &p->refs[idx];
    if (r->host != k->host)
        return false;
    const struct es_lab_answer *a = &p->spec->hosts[r->host].answers[r->ans];
    if (k->label)
        return a->label && strcmp(a->label, k->label) == 0;
    return !a->label && a->ecs_prefix == k->prefix && es_ip_equal(&a->ecs, k->ecs);
}

static uint64_t hash_anskey(const struct anskey *k)
{
    if (k->label)
        return XXH3_64bits_withSeed(k->label, strlen(k->label), (uint64_t)k->host * 2 + 1);
    return hash_ip(k->ecs, k->prefix, (uint64_t)k->host * 2);
}

/* Writes "NAME:LINE: message" into the caller's buffer; returns false so that
 * callers can `return fail(...)`. */
static bool fail(struct parser *p, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool fail(struct parser *p, unsigned line, const char *fmt, ...)
{
    if (!p->err || !p->errlen)
        return false;
    int n = snprintf(p->err, p->errlen, "%s:%u: ", p->name, line);
    if (n < 0 || (size_t)n >= p->errlen)
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

/* A user's word for a message: at most SHOWN_MAX bytes, cut on a UTF-8
 * boundary, "..." when cut. Valid until four more calls. */
static const char *shown(struct parser *p, const char *s)
{
    char *out = p->shown[p->nshown++ % ES_ARRAY_LEN(p->shown)];
    size_t n = strlen(s);
    if (n <= SHOWN_MAX) {
        memcpy(out, s, n + 1);
        return out;
    }
    n = SHOWN_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--; /* s[n] is a continuation byte: do not split its character */
    memcpy(out, s, n);
    memcpy(out + n, "...", 4);
    return out;
}

/* Index of s in words[0..n), or -1. */
static int keyword(const char *s, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, words[i]) == 0)
            return (int)i;
    return -1;
}

/* Checks that a line is UTF-8 without control characters (tabs are fine).
 * Returns NULL, or what is wrong, with *col the 1-based offset of the first
 * bad byte and *byte its value. */
static const char *check_text(const unsigned char *s, size_t n, size_t *col, unsigned *byte)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], cp, min;
        size_t more;
        *col = i + 1;
        *byte = c;
        if (c == 0)
            return "NUL byte";
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return "control byte";
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            more = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return "invalid UTF-8";
        }
        if (n - i - 1 < more)
            return "invalid UTF-8";
        for (size_t k = 1; k <= more; k++) {
            unsigned cc = s[i + k];
            if ((cc & 0xc0) != 0x80)
                return "invalid UTF-8";
            cp = cp << 6 | (cc & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return "invalid UTF-8";
        if (cp <= 0x9f)
            return "control character"; /* C1 controls, U+0080..U+009F */
        i += more + 1;
    }
    return NULL;
}

/* Lower-cases a DNS name into out (DNS_NAME_MAX + 1 bytes) without its
 * trailing dot. With wildcard, a first label "*" is allowed. Returns NULL, or
 * why the name is not valid. */
static const char *dns_name(const char *in, char *out, bool wildcard)
{
    size_t n = strlen(in);
    if (n && in[n - 1] == '.')
        n--;
    if (n == 0)
        return "it is empty";
    if (n > DNS_NAME_MAX)
        return "it is longer than 253 bytes";
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c == '.') {
            if (label == 0)
                return "it has an empty label";
            label = 0;
        } else if (c == '*' && wildcard && i == 0 && n > 2 && in[1] == '.') {
            label = 1;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
            if (++label > 63)
                return "a label is longer than 63 bytes";
        } else {
            return "it has a character other than a-z 0-9 - _ .";
        }
        out[i] = c;
    }
    if (label == 0)
        return "it has an empty label";
    out[n] = '\0';
    return NULL;
}

static bool valid_label(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return n >= 1 && n <= LABEL_MAX;
}

/* Parses ADDR[:PORT] (default_port 0: the port is required); on failure says
 * precisely what is wrong. `what` is "edge" or "resolver". */
static bool parse_addr(struct parser *p, const char *what, const char *s, uint16_t default_port,
                       struct es_endpoint *ep)
{
    if (es_endpoint_parse(s, default_port, ep))
        return true;
    const char *form = default_port ? "ADDR[:PORT], e.g. 127.0.0.1:53 or [::1]:53"
                                    : "ADDR:PORT, e.g. 127.0.0.1:8443 or [::1]:8443";
    char host[ES_IP_TEXT];
    const char *h = s, *port = NULL;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || (close[1] && close[1] != ':'))
            return fail(p, p->line, "bad %s address '%s'; expected %s", what, shown(p, s), form);
        h = s + 1;
        hlen = (size_t)(close - h);
        if (close[1] == ':')
            port = close + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon && strchr(s, ':') != colon) {
            if (!default_port)
                return fail(p, p->line,
                            "%s address '%s' has no port (an IPv6 address with a port is "
                            "written in brackets); expected %s",
                            what, shown(p, s), form);
            colon = NULL;
        }
        hlen = colon ? (size_t)(colon - s) : strlen(s);
        if (colon)
            port = colon + 1;
    }
    if (hlen == 0 || hlen >= sizeof host)
        return fail(p, p->line, "bad IP address in %s address '%s'; expected %s", what, shown(p, s),
                    form);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    struct es_ip ip;
    if (!es_ip_parse(host, &ip))
        return fail(p, p->line, "bad IP address '%s' in %s address '%s'; expected %s",
                    shown(p, host), what, shown(p, s), form);
    uint64_t v;
    if (port && !es_parse_u64(port, 1, 65535, &v))
        return fail(p, p->line, "bad port '%s' in %s address '%s'; expected a port from 1 to 65535",
                    shown(p, port), what, shown(p, s));
    if (!port)
        return fail(p, p->line, "%s address '%s' has no port; expected %s", what, shown(p, s),
                    form);
    return fail(p, p->line, "bad %s address '%s'; expected %s", what, shown(p, s), form);
}

static bool check_loopback(struct parser *p, const char *what, const struct es_endpoint *ep)
{
    if (es_ip_is_loopback(&ep->ip))
        return true;
    char buf[ES_ENDPOINT_TEXT];
    return fail(p, p->line, "%s address %s is not loopback; expected %s", what,
                es_endpoint_str(ep, buf, sizeof buf), EXPECT_LOOPBACK);
}

/* Splits "KEY=VALUE" in place; *value is NULL when there is no '='. */
static char *split_kv(char *w, char **value)
{
    char *eq = strchr(w, '=');
    *value = NULL;
    if (eq) {
        *eq = '\0';
        *value = eq + 1;
    }
    return w;
}

/* ---- resolver LABEL ADDR[:PORT] [fault=drop|servfail|refused] ---- */

static const char *const resolver_faults[] = {"drop", "servfail", "refused"};
static const enum es_lab_dnsfault resolver_fault_vals[] = {ES_DNS_DROP, ES_DNS_SERVFAIL,
                                                           ES_DNS_REFUSED};

static bool parse_resolver(struct parser *p)
{
    struct es_labspec *spec = p->spec;
    if (p->nwords < 3)
        return fail(p, p->line,
                    "resolver needs a label and an address; expected resolver LABEL ADDR[:PORT] "
                    "[fault=drop|servfail|refused]");
    const char *label = p->word[1];
    if (!valid_label(label))
        return fail(p, p->line,
                    "bad resolver label '%s'; expected 1 to 32 characters from A-Z a-z 0-9 _ -",
                    shown(p, label));
    struct es_lab_resolver r = {.line = p->line, .fault = ES_DNS_ANSWER};
    if (!parse_addr(p, "resolver", p->word[2], 53, &r.addr))
        return false;
    if (!check_loopback(p, "resolver", &r.addr))
        return false;
    bool have_fault = false;
    for (size_t i = 3; i < p->nwords; i++) {
        char *value;
        const char *key = split_kv(p->word[i], &value);
        if (strcmp(key, "fault") != 0)
            return fail(p, p->line, "unknown resolver option '%s'; expected fault", shown(p, key));
        if (have_fault)
            return fail(p, p->line, "resolver option 'fault' given twice; expected it once");
        int k = value ? keyword(value, resolver_faults, ES_ARRAY_LEN(resolver_faults)) : -1;
        if (k < 0)
            return fail(p, p->line,
                        "bad value '%s' for resolver option 'fault'; expected "
                        "fault=drop|servfail|refused",
                        shown(p, value ? value : ""));
        r.fault = resolver_fault_vals[k];
        have_fault = true;
    }
    uint64_t hl = hash_str(label), ha = hash_ip(&r.addr.ip, r.addr.port, 0);
    size_t dup = table_get(&p->res_labels, hl, eq_res_label, spec, label);
    if (dup != SIZE_MAX)
        return fail(p, p->line,
                    "resolver label '%s' already declared on line %u; expected a new label", label,
                    spec->resolvers[dup].line);
    dup = table_get(&p->res_addrs, ha, eq_res_addr, spec, &r.addr);
    if (dup != SIZE_MAX) {
        char buf[ES_ENDPOINT_TEXT];
        return fail(p, p->line,
                    "resolver address %s already used by resolver '%s' on line %u; expected a "
                    "new address",
                    es_endpoint_str(&r.addr, buf, sizeof buf), spec->resolvers[dup].label,
                    spec->resolvers[dup].line);
    }
    r.label = es_xstrdup(label);
    spec->resolvers =
        es_xgrow(spec->resolvers, &p->cap_resolvers, spec->nresolvers + 1, sizeof *spec->resolvers);
    spec->resolvers[spec->nresolvers] = r;
    table_add(&p->res_labels, hl, spec->nresolvers);
    table_add(&p->res_addrs, ha, spec->nresolvers);
    spec->nresolvers++;
    return true;
}

/* ---- host NAME RULE... ---- */

static const char *const dns_kinds[] = {"nxdomain", "servfail", "refused", "drop"};
static const enum es_lab_dnsfault dns_kind_vals[] = {ES_DNS_NXDOMAIN, ES_DNS_SERVFAIL,
                                                     ES_DNS_REFUSED, ES_DNS_DROP};

static int cmp_ip(const void *a, const void *b)
{
    const struct es_ip *x = a, *y = b;
    if (x->family != y->family)
        return x->family < y->family ? -1 : 1;
    return memcmp(x->bytes, y->bytes, 16);
}

/* Parses the value of a rule ("IP,IP" or a keyword) into a; `rule` is the
 * whole word, for messages. Frees what it allocated when it fails. */
static bool parse_rule_value(struct parser *p, const char *rule, char *value,
                             struct es_lab_answer *a)
{
    if (!*value)
        return fail(p, p->line,
                    "rule '%s' has no value; expected IP[,IP...], nxdomain, "
                    "servfail, refused or drop after '='",
                    shown(p, rule));
    int k = keyword(value, dns_kinds, ES_ARRAY_LEN(dns_kinds));
    if (k >= 0) {
        a->kind = dns_kind_vals[k];
        return true;
    }
    a->kind = ES_DNS_ANSWER;
    size_t n = 1;
    for (const char *c = value; *c; c++)
        n += *c == ',';
    a->ips = es_xcalloc(n, sizeof *a->ips);
    char *s = value;
    for (size_t i = 0; i < n; i++) {
        char *comma = strchr(s, ',');
        if (comma)
            *comma = '\0';
        if (!*s || !es_ip_parse(s, &a->ips[i])) {
            fail(p, p->line,
                 "bad IP address '%s' in rule '%s'; expected IP[,IP...] (IPv4 or IPv6, no "
                 "spaces), or one of nxdomain, servfail, refused, drop",
                 shown(p, s), shown(p, rule));
            goto err;
        }
        s = comma ? comma + 1 : s + strlen(s);
    }
    a->nips = n;
    /* A repeated address is a typo: find it on a sorted copy (linear time). */
    struct es_ip *sorted = es_xmalloc(n * sizeof *sorted);
    memcpy(sorted, a->ips, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_ip);
    for (size_t i = 1; i < n; i++) {
        if (cmp_ip(&sorted[i - 1], &sorted[i]) == 0) {
            char buf[ES_IP_TEXT];
            fail(p, p->line, "address %s is listed twice in rule '%s'; expected each address once",
                 es_ip_str(&sorted[i], buf, sizeof buf), shown(p, rule));
            free(sorted);
            goto err;
        }
    }
    free(sorted);
    return true;
err:
    free(a->ips);
    a->ips = NULL;
    a->nips = 0;
    return false;
}

/* Parses the ECS part "SUBNET/LEN" of an "ecs:SUBNET/LEN=..." rule. */
static bool parse_ecs(struct parser *p, const char *rule, char *subnet, struct es_lab_answer *a)
{
    char *slash = strrchr(subnet, '/');
    if (!slash)
        return fail(p, p->line, "ECS rule '%s' has no prefix length; expected ecs:SUBNET/LEN=...",
                    shown(p, rule));
    *slash = '\0';
    if (!es_ip_parse(subnet, &a->ecs))
        return fail(p, p->line,
                    "bad ECS subnet '%s' in rule '%s'; expected ecs:SUBNET/LEN=..., e.g. "
                    "ecs:198.51.100.0/24=...",
                    shown(p, subnet), shown(p, rule));
    unsigned max = a->ecs.family == AF_INET ? 32 : 128;
    uint64_t len;
    if (!es_parse_u64(slash + 1, 0, UINT64_MAX, &len))
        return fail(p, p->line, "bad ECS prefix length '%s' in rule '%s'; expected 0 to %u",
                    shown(p, slash + 1), shown(p, rule), max);
    if (len > max)
        return fail(p, p->line,
                    "ECS prefix /%s in rule '%s' is longer than %s allows; expected 0 to %u",
                    shown(p, slash + 1), shown(p, rule), max == 32 ? "IPv4" : "IPv6", max);
    a->ecs_prefix = (unsigned)len;
    struct es_ip masked = a->ecs;
    for (unsigned b = a->ecs_prefix; b < max; b++)
        masked.bytes[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
    if (!es_ip_equal(&masked, &a->ecs)) {
        char buf[ES_IP_TEXT];
        return fail(p, p->line, "ECS subnet in rule '%s' has bits set past /%u; expected %s/%u",
                    shown(p, rule), a->ecs_prefix, es_ip_str(&masked, buf, sizeof buf),
                    a->ecs_prefix);
    }
    return true;
}

/* The host named `name` (normalized), created on first use. */
static size_t host_index(struct parser *p, const char *name)
{
    struct es_labspec *spec = p->spec;
    uint64_t h = hash_str(name);
    size_t i = table_get(&p->hosts, h, eq_host, spec, name);
    if (i != SIZE_MAX)
        return i;
    spec->hosts = es_xgrow(spec->hosts, &p->cap_hosts, spec->nhosts + 1, sizeof *spec->hosts);
    i = spec->nhosts++;
    spec->hosts[i] = (struct es_lab_host){.line = p->line, .name = es_xstrdup(name)};
    table_add(&p->hosts, h, i);
    return i;
}

/* Appends a (parsed, checked) rule to host hi; the host takes ownership. */
static void host_add(struct parser *p, size_t hi, uint64_t hash, struct es_lab_answer *a)
{
    struct es_lab_host *h = &p->spec->hosts[hi];
    size_t n = h->nanswers;
    if ((n & (n - 1)) == 0) /* 0, 1, 2, 4, ...: the array is full */
        h->answers = es_xrealloc(h->answers, (n ? 2 * n : 1) * sizeof *h->answers);
    h->answers[n] = *a;
    h->nanswers = n + 1;
    p->refs = es_xgrow(p->refs, &p->cap_refs, p->nrefs + 1, sizeof *p->refs);
    p->refs[p->nrefs] = (struct ansref){.host = hi, .ans = n};
    table_add(&p->answers, hash, p->nrefs++);
}

static bool parse_host_rule(struct parser *p, size_t hi, char *w)
{
    char rule[LINE_MAX_BYTES + 1];
    snprintf(rule, sizeof rule, "%s", w); /* w is cut up below; keep it whole for messages */
    char *value;
    char *key = split_kv(w, &value);
    struct es_lab_answer a = {.line = p->line};
    struct anskey k = {.host = hi};
    if (strncmp(key, "ecs:", 4) == 0) {
        if (!value)
            return fail(p, p->line, "ECS rule '%s' has no '='; expected ecs:SUBNET/LEN=IP[,IP...]",
                        shown(p, rule));
        if (!parse_ecs(p, rule, key + 4, &a))
            return false;
        k.ecs = &a.ecs;
        k.prefix = a.ecs_prefix;
    } else {
        if (!value)
            return fail(p, p->line, "rule '%s' has no '='; expected " EXPECT_HOST_RULE,
                        shown(p, rule));
        if (!valid_label(key))
            return fail(p, p->line,
                        "bad resolver label '%s' in rule '%s'; expected " EXPECT_HOST_RULE
                        " (labels are 1 to 32 characters from A-Z a-z 0-9 _ -)",
                        shown(p, key), shown(p, rule));
        k.label = key;
    }
    uint64_t hash = hash_anskey(&k);
    size_t dup = table_get(&p->answers, hash, eq_answer, p, &k);
    if (dup != SIZE_MAX) {
        const struct es_lab_answer *d = &p->spec->hosts[hi].answers[p->refs[dup].ans];
        if (k.label)
            return fail(p, p->line,
                        "host '%s' already has a rule for resolver '%s' (line %u); expected one "
                        "rule per resolver label",
                        p->spec->hosts[hi].name, key, d->line);
        char buf[ES_IP_TEXT];
        return fail(p, p->line,
                    "host '%s' already has a rule for ecs:%s/%u (line %u); expected one rule per "
                    "subnet",
                    p->spec->hosts[hi].name, es_ip_str(&a.ecs, buf, sizeof buf), a.ecs_prefix,
                    d->line);
    }
    if (!parse_rule_value(p, rule, value, &a))
        return false;
    if (k.label)
        a.label = es_xstrdup(key);
    host_add(p, hi, hash, &a);
    return true;
}

static bool parse_host(struct parser *p)
{
    if (p->nwords < 3)
        return fail(p, p->line,
                    "host needs a name and at least one rule; expected host NAME " EXPECT_HOST_RULE
                    " ...");
    char name[DNS_NAME_MAX + 1];
    const char *why = dns_name(p->word[1], name, true); /* "*.fleet.test": a wildcard */
    if (why)
        return fail(p, p->line, "bad host name '%s': %s; expected " EXPECT_DNS_NAME,
                    shown(p, p->word[1]), why);
    /* Found by fuzzing (tests/corpus/labspec/regress-numeric-host): a name of
     * only digits and dots ("7.6.1", "127.0.0.1") passed here, but the scanner
     * reads it as an IPv4 address (target.c), so scan.args could not scan it. */
    if (strspn(name, "0123456789.") == strlen(name))
        return fail(p, p->line,
                    "bad host name '%s': it is all digits and dots, which a scan reads as an "
                    "IPv4 address; expected " EXPECT_DNS_NAME,
                    shown(p, p->word[1]));
    size_t hi = host_index(p, name);
    for (size_t i = 2; i < p->nwords; i++)
        if (!parse_host_rule(p, hi, p->word[i]))
            return false;
    return true;
}

/* ---- edge ADDR:PORT [KEY=VALUE...] ---- */

enum edge_opt {
    OPT_CERT,
    OPT_KEY,
    OPT_TLS,
    OPT_CIPHERS,
    OPT_CIPHERSUITES,
    OPT_GROUPS,
    OPT_ALPN,
    OPT_ALPN_STRICT,
    OPT_SNI,
    OPT_H2,
    OPT_DELAY,
    OPT_FLAKY,
    OPT_FAULT,
    OPT_SUBJECT_O,
    OPT_CLIENT_CERT,
    OPT_DH,
    OPT_MAX_HELLO,
    OPT_HTTP_STATUS,
    OPT_CLOCK_SKEW,
};

/* Indexed by enum edge_opt; `expect` is the form shown when a value is bad. */
static const struct {
    const char *name;
    const char *expect;
} edge_opts[] = {
    [OPT_CERT] = {"cert", "cert=NAME[:expired|:future|:wrong|:selfsigned|:expiring]"},
    [OPT_KEY] = {"key", "key=ecdsa|rsa"},
    [OPT_TLS] = {"tls", "tls=VERSION[,VERSION...] with versions 1.0, 1.1, 1.2, 1.3"},
    [OPT_CIPHERS] = {"ciphers", "ciphers=STRING, an OpenSSL cipher list"},
    [OPT_CIPHERSUITES] = {"ciphersuites", "ciphersuites=STRING, OpenSSL TLS 1.3 suites"},
    [OPT_GROUPS] = {"groups", "groups=STRING, e.g. X25519:P-256"},
    [OPT_ALPN] = {"alpn", "alpn=PROTO[,PROTO...] (each 1 to 255 bytes, e.g. h2,http/1.1) or "
                          "alpn=none"},
    [OPT_ALPN_STRICT] = {"alpn_strict", "alpn_strict=yes|no"},
    [OPT_SNI] = {"sni", "sni=strict|any"},
    [OPT_H2] = {"h2", "h2=ok|broken"},
    [OPT_DELAY] = {"delay", "delay=MS, a whole number from 0 to 600000"},
    [OPT_FLAKY] = {"flaky", "flaky=P, a percentage from 0 to 100"},
    [OPT_FAULT] = {"fault", "fault=refuse|blackhole|reset|garbage|http|drip|close|hugechain|"
                            "sni_router"},
    [OPT_SUBJECT_O] = {"subject_o", "subject_o=TEXT, percent-encoded (%XX), 1 to 64 bytes"},
    [OPT_CLIENT_CERT] = {"client_cert", "client_cert=required|optional|none"},
    [OPT_DH] = {"dh", "dh=1024|2048 (the DHE prime's bits)"},
    [OPT_MAX_HELLO] = {"max_hello", "max_hello=BYTES, a whole number from 64 to 65536"},
    [OPT_HTTP_STATUS] = {"http_status", "http_status=N, an HTTP status from 100 to 599"},
    [OPT_CLOCK_SKEW] = {"clock_skew", "clock_skew=S, seconds from -315360000 to 315360000 "
                                      "(a leading - is slow)"},
};

static const char *const cert_kinds[] = {"expired", "future", "wrong", "selfsigned", "expiring"};
static const enum es_lab_certkind cert_kind_vals[] = {
    ES_CERT_EXPIRED, ES_CERT_FUTURE, ES_CERT_WRONG, ES_CERT_SELFSIGNED, ES_CERT_EXPIRING};
static const char *const tls_versions[] = {"1.0", "1.1", "1.2", "1.3"};
static const unsigned tls_version_bits[] = {ES_TLS_1_0, ES_TLS_1_1, ES_TLS_1_2, ES_TLS_1_3};
static const char *const edge_faults[] = {"refuse", "blackhole", "reset",     "garbage",   "http",
                                          "drip",   "close",     "hugechain", "sni_router"};
static const enum es_lab_fault edge_fault_vals[] = {
    ES_FAULT_REFUSE, ES_FAULT_BLACKHOLE, ES_FAULT_RESET,     ES_FAULT_GARBAGE,   ES_FAULT_HTTP,
    ES_FAULT_DRIP,   ES_FAULT_CLOSE,     ES_FAULT_HUGECHAIN, ES_FAULT_SNI_ROUTER};
static const char *const yes_no[] = {"no", "yes"};
static const char *const sni_modes[] = {"any", "strict"};
static const char *const h2_modes[] = {"ok", "broken"};
/* indexed by enum es_lab_clientcert */
static const char *const client_cert_modes[] = {"none", "optional", "required"};
static const char *const dh_sizes[] = {"1024", "2048"};

static void edge_clear(struct es_lab_edge *e)
{
    free(e->cert_name);
    free(e->ciphers);
    free(e->ciphersuites);
    free(e->groups);
    free(e->alpn);
    free(e->subject_o);
    e->cert_name = e->ciphers = e->ciphersuites = e->groups = e->alpn = e->subject_o = NULL;
}

static bool bad_value(struct parser *p, enum edge_opt o, const char *value)
{
    return fail(p, p->line, "bad value '%s' for edge option '%s'; expected %s", shown(p, value),
                edge_opts[o].name, edge_opts[o].expect);
}

/* cert=NAME[:KIND]; an empty NAME keeps the default name (see labspec-t.h). */
static bool opt_cert(struct parser *p, struct es_lab_edge *e, const char *value)
{
    const char *colon = strchr(value, ':');
    size_t nlen = colon ? (size_t)(colon - value) : strlen(value);
    if (colon) {
        int k = keyword(colon + 1, cert_kinds, ES_ARRAY_LEN(cert_kinds));
        if (k < 0)
            return bad_value(p, OPT_CERT, value);
        e->cert_kind = cert_kind_vals[k];
    }
    if (nlen == 0) {
        if (!colon)
            return bad_value(p, OPT_CERT, value);
        return true;
    }
    char raw[LINE_MAX_BYTES + 1], name[DNS_NAME_MAX + 1];
    memcpy(raw, value, nlen);
    raw[nlen] = '\0';
    const char *why = dns_name(raw, name, true);
    if (why)
        return fail(p, p->line, "bad certificate name '%s' in cert=%s: %s; expected %s",
                    shown(p, raw), shown(p, value), why, EXPECT_DNS_NAME);
    e->cert_name = es_xstrdup(name);
    return true;
}

static bool opt_tls(struct parser *p, struct es_lab_edge *e, const char *value)
{
    if (!*value)
        return fail(p, p->line, "edge option 'tls' has an empty list; expected %s",
                    edge_opts[OPT_TLS].expect);
    unsigned bits = 0;
    const char *s = value;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        int k = -1;
        for (size_t i = 0; i < ES_ARRAY_LEN(tls_versions); i++)
            if (n == 3 && memcmp(s, tls_versions[i], 3) == 0)
                k = (int)i;
        if (k < 0)
            return bad_value(p, OPT_TLS, value);
        bits |= tls_version_bits[k];
        if (!comma)
            break;
        s = comma + 1;
    }
    e->tls = bits;
    return true;
}

static bool opt_alpn(struct parser *p, struct es_lab_edge *e, const char *value)
{
    if (strcmp(value, "none") == 0)
        return true; /* e->alpn stays NULL */
    if (!*value)
        return fail(p, p->line, "edge option 'alpn' has an empty list; expected %s",
                    edge_opts[OPT_ALPN].expect);
    const char *s = value;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        if (n == 0 || n > ALPN_PROTO_MAX || (n == 4 && memcmp(s, "none", 4) == 0))
            return bad_value(p, OPT_ALPN, value);
        if (!comma)
            break;
        s = comma + 1;
    }
    e->alpn = es_xstrdup(value);
    return true;
}

static bool opt_string(struct parser *p, enum edge_opt o, char **out, const char *value)
{
    if (!*value)
        return fail(p, p->line, "edge option '%s' has an empty value; expected %s",
                    edge_opts[o].name, edge_opts[o].expect);
    *out = es_xstrdup(value);
    return true;
}

/* One of a fixed set of words, stored as its index. */
static bool opt_word(struct parser *p, enum edge_opt o, const char *const *words, size_t n,
                     const char *value, int *out)
{
    int k = keyword(value, words, n);
    if (k < 0)
        return bad_value(p, o, value);
    *out = k;
    return true;
}

#define CLOCK_SKEW_MAX_S 315360000u /* ten years */

static bool opt_number(struct parser *p, enum edge_opt o, const char *value, uint64_t max,
                       unsigned *out)
{
    uint64_t v;
    if (!es_parse_u64(value, 0, max, &v))
        return bad_value(p, o, value);
    *out = (unsigned)v;
    return true;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* subject_o=TEXT: TEXT percent-decoded (%XX) to 1..SUBJECT_O_MAX bytes of
 * UTF-8 without NUL. Control characters, commas, quotes and markup are
 * allowed on purpose: the lab serves hostile subjects to the scanner. */
static bool opt_subject_o(struct parser *p, struct es_lab_edge *e, const char *value)
{
    unsigned char out[LINE_MAX_BYTES + 1];
    size_t n = 0;
    for (size_t i = 0; value[i]; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == '%') {
            int hi = hex_digit(value[i + 1]), lo = hi < 0 ? -1 : hex_digit(value[i + 2]);
            if (lo < 0)
                return fail(p, p->line,
                            "subject_o=%s: bad escape at byte %zu; expected %%XX with two hex "
                            "digits (%%25 for a '%%' itself)",
                            shown(p, value), i + 1);
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        out[n++] = c;
    }
    if (n == 0 || n > SUBJECT_O_MAX)
        return fail(p, p->line,
                    "subject_o=%s: it decodes to %zu bytes; expected 1 to %d bytes (X.509 "
                    "ub-organization-name)",
                    shown(p, value), n, SUBJECT_O_MAX);
    /* UTF-8 without NUL: check_text, stepping over the controls it reports. */
    for (size_t off = 0; off < n;) {
        size_t col;
        unsigned byte;
        const char *bad = check_text(out + off, n - off, &col, &byte);
        if (!bad)
            break;
        off += col - 1;
        if (!strcmp(bad, "control byte") || !strcmp(bad, "control character")) {
            off += byte < 0x80 ? 1 : 2; /* C0 and DEL, or a two-byte C1 control */
            continue;
        }
        return fail(p, p->line,
                    "subject_o=%s: the decoded text has %s 0x%02x at byte %zu; expected UTF-8 "
                    "text without NUL",
                    shown(p, value), bad, byte, off + 1);
    }
    e->subject_o = es_xmalloc(n + 1);
    memcpy(e->subject_o, out, n);
    e->subject_o[n] = '\0';
    return true;
}

static bool edge_option(struct parser *p, struct es_lab_edge *e, enum edge_opt o, const char *value)
{
    int k = -1;
    switch (o) {
    case OPT_CERT: return opt_cert(p, e, value);
    case OPT_KEY:
        if (!opt_word(p, o, (const char *const[]){"ecdsa", "rsa"}, 2, value, &k))
            return false;
        e->key = k ? ES_KEY_RSA : ES_KEY_ECDSA;
        return true;
    case OPT_TLS: return opt_tls(p, e, value);
    case OPT_CIPHERS: return opt_string(p, o, &e->ciphers, value);
    case OPT_CIPHERSUITES: return opt_string(p, o, &e->ciphersuites, value);
    case OPT_GROUPS: return opt_string(p, o, &e->groups, value);
    case OPT_ALPN: return opt_alpn(p, e, value);
    case OPT_ALPN_STRICT:
        if (!opt_word(p, o, yes_no, ES_ARRAY_LEN(yes_no), value, &k))
            return false;
        e->alpn_strict = k == 1;
        return true;
    case OPT_SNI:
        if (!opt_word(p, o, sni_modes, ES_ARRAY_LEN(sni_modes), value, &k))
            return false;
        e->sni_strict = k == 1;
        return true;
    case OPT_H2:
        if (!opt_word(p, o, h2_modes, ES_ARRAY_LEN(h2_modes), value, &k))
            return false;
        e->h2_broken = k == 1;
        return true;
    case OPT_DELAY: return opt_number(p, o, value, DELAY_MAX_MS, &e->delay_ms);
    case OPT_FLAKY: return opt_number(p, o, value, 100, &e->flaky_pct);
    case OPT_FAULT:
        if (!opt_word(p, o, edge_faults, ES_ARRAY_LEN(edge_faults), value, &k))
            return false;
        e->fault = edge_fault_vals[k];
        return true;
    case OPT_SUBJECT_O: return opt_subject_o(p, e, value);
    case OPT_CLIENT_CERT:
        if (!opt_word(p, o, client_cert_modes, ES_ARRAY_LEN(client_cert_modes), value, &k))
            return false;
        e->client_cert = (enum es_lab_clientcert)k;
        return true;
    case OPT_DH:
        if (!opt_word(p, o, dh_sizes, ES_ARRAY_LEN(dh_sizes), value, &k))
            return false;
        e->dh_bits = k ? 2048 : 1024;
        return true;
    case OPT_MAX_HELLO:
        if (!opt_number(p, o, value, 65536, &e->max_hello) || e->max_hello < 64)
            return bad_value(p, o, value);
        return true;
    case OPT_HTTP_STATUS:
        if (!opt_number(p, o, value, 599, &e->http_status) || e->http_status < 100)
            return bad_value(p, o, value);
        return true;
    case OPT_CLOCK_SKEW: {
        bool neg = value[0] == '-';
        unsigned s;
        if (!opt_number(p, o, value + neg, CLOCK_SKEW_MAX_S, &s))
            return bad_value(p, o, value);
        e->clock_skew_s = neg ? -(long)s : (long)s;
        return true;
    }
    }
    return false;
}

/* dh= needs what DHE needs: an RSA key (the DHE suites sign with RSA; no
 * key= means key=rsa) and a version that has DHE suites (TLS 1.2 or older). */
static bool dh_options(struct parser *p, struct es_lab_edge *e, unsigned seen)
{
    if (!e->dh_bits)
        return true;
    if ((seen & (1u << OPT_KEY)) && e->key != ES_KEY_RSA)
        return fail(
            p, p->line,
            "dh=%u needs key=rsa (the DHE suites sign with RSA); expected key=rsa or no key=",
            e->dh_bits);
    if (!(e->tls & (ES_TLS_1_0 | ES_TLS_1_1 | ES_TLS_1_2)))
        return fail(p, p->line,
                    "dh=%u needs TLS 1.2 or older in tls= (TLS 1.3 has no DHE suites); expected "
                    "e.g. tls=1.2 or tls=1.2,1.3",
                    e->dh_bits);
    e->key = ES_KEY_RSA;
    return true;
}

/* Parses the options of an edge line into e (which owns what they allocate). */
static bool edge_options(struct parser *p, struct es_lab_edge *e)
{
    unsigned seen = 0;
    for (size_t i = 2; i < p->nwords; i++) {
        char *value;
        const char *key = split_kv(p->word[i], &value);
        int o = -1;
        for (size_t j = 0; j < ES_ARRAY_LEN(edge_opts); j++)
            if (strcmp(key, edge_opts[j].name) == 0)
                o = (int)j;
        if (o < 0)
            return fail(p, p->line,
                        "unknown edge option '%s'; expected one of cert, key, tls, ciphers, "
                        "ciphersuites, groups, alpn, alpn_strict, sni, h2, delay, flaky, fault, "
                        "subject_o, client_cert, dh, max_hello, http_status, clock_skew",
                        shown(p, key));
        if (!value)
            return fail(p, p->line, "edge option '%s' has no value; expected %s", key,
                        edge_opts[o].expect);
        if (seen & (1u << o))
            return fail(p, p->line, "edge option '%s' given twice; expected each option once", key);
        seen |= 1u << o;
        if (!edge_option(p, e, (enum edge_opt)o, value))
            return false;
    }
    if (!(seen & (1u << OPT_ALPN)))
        e->alpn = es_xstrdup(DEFAULT_ALPN);
    return dh_options(p, e, seen);
}

static bool parse_edge(struct parser *p)
{
    struct es_labspec *spec = p->spec;
    if (p->nwords < 2)
        return fail(p, p->line,
                    "edge needs an address; expected edge ADDR:PORT [KEY=VALUE...], e.g. edge "
                    "127.0.0.1:8443 tls=1.3");
    struct es_lab_edge e = {.line = p->line, .tls = ES_TLS_1_2 | ES_TLS_1_3};
    if (!parse_addr(p, "edge", p->word[1], 0, &e.addr) || !check_loopback(p, "edge", &e.addr))
        return false;
    if (!edge_options(p, &e)) {
        edge_clear(&e);
        return false;
    }
    uint64_t h = hash_ip(&e.addr.ip, e.addr.port, 0);
    size_t dup = table_get(&p->edges, h, eq_edge, spec, &e.addr);
    if (dup != SIZE_MAX) {
        char buf[ES_ENDPOINT_TEXT];
        edge_clear(&e);
        return fail(p, p->line,
                    "edge address %s already declared on line %u; expected one edge line per "
                    "address",
                    es_endpoint_str(&spec->edges[dup].addr, buf, sizeof buf),
                    spec->edges[dup].line);
    }
    spec->edges = es_xgrow(spec->edges, &p->cap_edges, spec->nedges + 1, sizeof *spec->edges);
    spec->edges[spec->nedges] = e;
    table_add(&p->edges, h, spec->nedges++);
    return true;
}

/* ---- lines ---- */

/* Splits p->buf into words in place: '#' starts a comment, spaces and tabs separate. */
static void split_words(struct parser *p)
{
    char *hash = strchr(p->buf, '#');
    if (hash)
        *hash = '\0';
    p->nwords = 0;
    char *s = p->buf;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        p->word[p->nwords++] = s; /* at most one word per two bytes: fits MAX_WORDS */
        while (*s && *s != ' ' && *s != '\t')
            s++;
        if (*s)
            *s++ = '\0';
    }
}

static bool parse_line(struct parser *p, const char *line, size_t n)
{
    if (n > LINE_MAX_BYTES)
        return fail(p, p->line, "line is %zu bytes long; expected at most %d bytes", n,
                    LINE_MAX_BYTES);
    size_t col;
    unsigned byte;
    const char *bad = check_text((const unsigned char *)line, n, &col, &byte);
    if (bad)
        return fail(p, p->line, "%s 0x%02x at byte %zu; expected printable UTF-8 text", bad, byte,
                    col);
    memcpy(p->buf, line, n);
    p->buf[n] = '\0';
    split_words(p);
    if (p->nwords == 0)
        return true;
    const char *decl = p->word[0];
    if (strcmp(decl, "resolver") == 0)
        return parse_resolver(p);
    if (strcmp(decl, "host") == 0)
        return parse_host(p);
    if (strcmp(decl, "edge") == 0)
        return parse_edge(p);
    return fail(p, p->line, "unknown declaration '%s'; expected resolver, host or edge",
                shown(p, decl));
}

/* ---- after the last line ---- */

/* Every label a host names must have a resolver line (anywhere in the
 * file); the earliest offending line is reported. */
static bool check_labels(struct parser *p)
{
    const struct es_labspec *spec = p->spec;
    const struct es_lab_host *bad_host = NULL;
    const struct es_lab_answer *bad = NULL;
    for (size_t i = 0; i < spec->nhosts; i++) {
        const struct es_lab_host *h = &spec->hosts[i];
        for (size_t j = 0; j < h->nanswers; j++) {
            const struct es_lab_answer *a = &h->answers[j];
            if (!a->label || (bad && bad->line <= a->line))
                continue;
            if (table_get(&p->res_labels, hash_str(a->label), eq_res_label, spec, a->label) ==
                SIZE_MAX) {
                bad = a;
                bad_host = h;
            }
        }
    }
    if (!bad)
        return true;
    return fail(p, bad->line,
                "host '%s' has a rule for resolver '%s', but no resolver line declares that "
                "label; expected a 'resolver %s ADDR[:PORT]' line",
                bad_host->name, bad->label, bad->label);
}

static bool eq_ipref(const void *ctx, size_t idx, const void *key)
{
    const struct ipref *refs = ctx;
    return es_ip_equal(&refs[idx].ip, key);
}

/* Gives every edge without cert= a name: the first host (in spec order) whose
 * answers include the edge's IP, else DEFAULT_CERT_NAME. */
static void default_cert_names(struct es_labspec *spec)
{
    bool need = false;
    for (size_t i = 0; i < spec->nedges; i++)
        need |= spec->edges[i].cert_name == NULL;
    if (!need)
        return;
    struct table t = {0};
    struct ipref *refs = NULL;
    size_t nrefs = 0, cap = 0;
    for (size_t i = 0; i < spec->nhosts; i++) {
        const struct es_lab_host *h = &spec->hosts[i];
        for (size_t j = 0; j < h->nanswers; j++) {
            for (size_t k = 0; k < h->answers[j].nips; k++) {
                const struct es_ip *ip = &h->answers[j].ips[k];
                uint64_t hash = hash_ip(ip, 0, 0);
                if (table_get(&t, hash, eq_ipref, refs, ip) != SIZE_MAX)
                    continue;
                refs = es_xgrow(refs, &cap, nrefs + 1, sizeof *refs);
                refs[nrefs] = (struct ipref){.ip = *ip, .host = i};
                table_add(&t, hash, nrefs++);
            }
        }
    }
    for (size_t i = 0; i < spec->nedges; i++) {
        struct es_lab_edge *e = &spec->edges[i];
        if (e->cert_name)
            continue;
        size_t r = table_get(&t, hash_ip(&e->addr.ip, 0, 0), eq_ipref, refs, &e->addr.ip);
        e->cert_name =
            es_xstrdup(r == SIZE_MAX ? DEFAULT_CERT_NAME : spec->hosts[refs[r].host].name);
    }
    free(refs);
    table_free(&t);
}

static void parser_free(struct parser *p)
{
    table_free(&p->hosts);
    table_free(&p->edges);
    table_free(&p->res_labels);
    table_free(&p->res_addrs);
    table_free(&p->answers);
    free(p->refs);
    free(p);
}

struct es_labspec *es_labspec_parse(const char *text, size_t len, const char *name, char *err,
                                    size_t errlen)
{
    struct parser *p = es_xcalloc(1, sizeof *p);
    struct es_labspec *spec = es_xcalloc(1, sizeof *spec);
    p->spec = spec;
    p->name = name ? name : "spec";
    p->err = err;
    p->errlen = errlen;
    spec->path = es_xstrdup(p->name);
    if (err && errlen)
        err[0] = '\0';

    size_t off = 0;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        off = 3; /* a UTF-8 byte order mark, as some editors write */
    bool ok = true;
    while (ok && off < len) {
        if (p->line == UINT_MAX) {
            ok = fail(p, p->line, "too many lines; expected fewer than %u", UINT_MAX);
            break;
        }
        p->line++;
        const char *start = text + off;
        const char *nl = memchr(start, '\n', len - off);
        size_t n = nl ? (size_t)(nl - start) : len - off;
        off += n + (nl != NULL);
        if (n && start[n - 1] == '\r')
            n--; /* CRLF line ends */
        ok = parse_line(p, start, n);
    }
    if (ok)
        ok = check_labels(p);
    if (ok && spec->nresolvers == 0 && spec->nedges == 0)
        ok = fail(p, p->line ? p->line : 1,
                  "the spec declares no resolver and no edge; expected at least one 'resolver' "
                  "or 'edge' line");
    if (!ok) {
        parser_free(p);
        es_labspec_free(spec);
        return NULL;
    }
    default_cert_names(spec);
    /* The host table becomes the lookup index of es_labspec_answer. */
    struct table *index = es_xmalloc(sizeof *index);
    *index = p->hosts;
    p->hosts = (struct table){0};
    spec->_index = index;
    parser_free(p);
    return spec;
}

struct es_labspec *es_labspec_parse_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot open the lab spec: %s", path, strerror(errno));
        return NULL;
    }
    size_t n = 0, cap = 0;
    char *buf = NULL;
    for (;;) {
        if (n == cap)
            buf = es_xgrow(buf, &cap, n + 65536, 1);
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            if (err && errlen)
                snprintf(err, errlen, "%s: cannot read the lab spec: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > FILE_MAX_BYTES) {
            if (err && errlen)
                snprintf(err, errlen, "%s: the file is larger than %u MiB; expected a lab spec",
                         path, FILE_MAX_BYTES >> 20);
            goto fail;
        }
    }
    close(fd);
    struct es_labspec *spec = es_labspec_parse(buf, n, path, err, errlen);
    free(buf);
    return spec;
fail:
    close(fd);
    free(buf);
    return NULL;
}

void es_labspec_free(struct es_labspec *spec)
{
    if (!spec)
        return;
    for (size_t i = 0; i < spec->nresolvers; i++)
        free(spec->resolvers[i].label);
    for (size_t i = 0; i < spec->nhosts; i++) {
        struct es_lab_host *h = &spec->hosts[i];
        for (size_t j = 0; j < h->nanswers; j++) {
            free(h->answers[j].label);
            free(h->answers[j].ips);
        }
        free(h->answers);
        free(h->name);
    }
    for (size_t i = 0; i < spec->nedges; i++)
        edge_clear(&spec->edges[i]);
    if (spec->_index) {
        table_free(spec->_index);
        free(spec->_index);
    }
    free(spec->resolvers);
    free(spec->hosts);
    free(spec->edges);
    free(spec->path);
    free(spec);
}

static const struct es_lab_host *find_exact(const struct es_labspec *spec, const char *key)
{
    if (spec->_index) {
        size_t i = table_get(spec->_index, hash_str(key), eq_host, spec, key);
        return i == SIZE_MAX ? NULL : &spec->hosts[i];
    }
    for (size_t i = 0; i < spec->nhosts; i++) /* a spec built by hand */
        if (strcmp(spec->hosts[i].name, key) == 0)
            return &spec->hosts[i];
    return NULL;
}

/* The host named `name` (any case, trailing dot or not), else the closest
 * wildcard host that covers it, or NULL. */
static const struct es_lab_host *find_host(const struct es_labspec *spec, const char *name)
{
    char key[DNS_NAME_MAX + 2];
    size_t n = strlen(name);
    if (n && name[n - 1] == '.')
        n--;
    if (n > DNS_NAME_MAX)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        key[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    key[n] = '\0';
    const struct es_lab_host *h = find_exact(spec, key);
    /* No such host: the closest wildcard "*.SUFFIX" above it, as a DNS
     * wildcard covers names that do not exist (RFC 4592). */
    for (size_t i = 1; !h && i < n; i++) {
        if (key[i] != '.')
            continue;
        key[i - 1] = '*';
        h = find_exact(spec, key + i - 1);
    }
    return h;
}

const struct es_lab_answer *es_labspec_answer(const struct es_labspec *spec, const char *label,
                                              const char *name, const struct es_ip *ecs,
                                              unsigned ecs_prefix, unsigned *scope)
{
    if (scope)
        *scope = 0;
    if (!spec || !name)
        return NULL;
    const struct es_lab_host *h = find_host(spec, name);
    if (!h)
        return NULL;
    const struct es_lab_answer *best = NULL, *by_label = NULL;
    for (size_t i = 0; i < h->nanswers; i++) {
        const struct es_lab_answer *a = &h->answers[i];
        if (a->label) {
            if (label && strcmp(a->label, label) == 0)
                by_label = a;
        } else if (ecs && ecs_prefix >= a->ecs_prefix &&
                   es_ip_in_prefix(ecs, &a->ecs, a->ecs_prefix) &&
                   (!best || a->ecs_prefix > best->ecs_prefix)) {
            best = a;
        }
    }
    if (best) {
        if (scope)
            *scope = best->ecs_prefix;
        return best;
    }
    return by_label;
}
