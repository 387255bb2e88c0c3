/* resolver.c - see include/edgeshake/resolver.h
 *
 * A -r value is read left to right with plain string scanning (no sscanf):
 * LABEL '=' ADDR [':' PORT] { ',' KEY '=' VALUE }, where ADDR is a dotted IPv4
 * or a bracketed IPv6 address, so the first ',' always ends the address. */
#include "edgeshake/resolver.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeshake/net.h"
#include "edgeshake/util.h"

/* Writes "-r 'VALUE': WHAT; expected ..." into err and returns false. */
static bool __attribute__((format(printf, 4, 5)))
fail(char *err, size_t errlen, const char *value, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "-r '%s': %s; " ES_RESOLVER_EXPECTED, value, what);
    return false;
}

static bool label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static bool parse_label(const char *value, const char *s, size_t len, struct es_resolver_spec *out,
                        char *err, size_t errlen)
{
    if (len == 0)
        return fail(err, errlen, value, "empty label before '='");
    if (len > ES_RESOLVER_LABEL_MAX)
        return fail(err, errlen, value, "label is %zu characters long, the limit is %d", len,
                    ES_RESOLVER_LABEL_MAX);
    for (size_t i = 0; i < len; i++)
        if (!label_char(s[i]))
            return fail(err, errlen, value,
                        "label '%.*s' may only hold letters, digits, '_' and '-'", (int)len, s);
    if (len == strlen(ES_RESOLVER_SYSTEM) && memcmp(s, ES_RESOLVER_SYSTEM, len) == 0)
        return fail(err, errlen, value,
                    "label 'system' is reserved for the /etc/resolv.conf resolver (-r system)");
    memcpy(out->label, s, len);
    out->label[len] = '\0';
    return true;
}

static bool parse_port(const char *value, const char *s, size_t len, uint16_t *port, char *err,
                       size_t errlen)
{
    char buf[16];
    uint64_t p;
    if (len == 0)
        return fail(err, errlen, value, "empty port after ':'");
    if (len >= sizeof buf)
        return fail(err, errlen, value, "port '%.*s' is not a number from 1 to 65535", (int)len, s);
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (!es_parse_u64(buf, 1, 65535, &p))
        return fail(err, errlen, value, "port '%s' is not a number from 1 to 65535", buf);
    *port = (uint16_t)p;
    return true;
}

/* ADDR[:PORT] in s[0..len). */
static bool parse_addr(const char *value, const char *s, size_t len, struct es_endpoint *ep,
                       char *err, size_t errlen)
{
    char host[ES_IP_TEXT];
    const char *port = NULL;
    size_t hlen, plen = 0;
    int family;
    if (len == 0)
        return fail(err, errlen, value, "missing address after '='");
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return fail(err, errlen, value, "missing ']' after the IPv6 address");
        hlen = (size_t)(close - s - 1);
        size_t rest = len - (size_t)(close - s) - 1;
        if (rest) {
            if (close[1] != ':')
                return fail(err, errlen, value, "unexpected '%.*s' after ']'", (int)rest,
                            close + 1);
            port = close + 2;
            plen = rest - 1;
        }
        s++;
        family = AF_INET6;
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon && memchr(colon + 1, ':', len - (size_t)(colon - s) - 1))
            return fail(err, errlen, value,
                        "an IPv6 address needs brackets, as in [2001:db8::53]:53");
        hlen = colon ? (size_t)(colon - s) : len;
        if (colon) {
            port = colon + 1;
            plen = len - hlen - 1;
        }
        family = AF_INET;
    }
    if (hlen == 0)
        return fail(err, errlen, value, "missing address after '='");
    memset(ep, 0, sizeof *ep);
    bool ok = hlen < sizeof host;
    if (ok) {
        memcpy(host, s, hlen);
        host[hlen] = '\0';
        ok = inet_pton(family, host, ep->ip.bytes) == 1;
    }
    if (!ok && family == AF_INET6)
        return fail(err, errlen, value, "'%.*s' is not an IPv6 address", (int)hlen, s);
    if (!ok)
        return fail(err, errlen, value, "'%.*s' is not an IPv4 address or a bracketed IPv6 address",
                    (int)hlen, s);
    ep->ip.family = family;
    ep->port = ES_RESOLVER_PORT;
    return !port || parse_port(value, port, plen, &ep->port, err, errlen);
}

/* SUBNET/LEN in s[0..len). */
static bool parse_ecs(const char *value, const char *s, size_t len, struct es_resolver_spec *out,
                      char *err, size_t errlen)
{
    char buf[ES_IP_TEXT + 8];
    if (len == 0)
        return fail(err, errlen, value, "empty ecs subnet");
    if (len >= sizeof buf)
        return fail(err, errlen, value, "ecs subnet '%.*s' is not an IP address/LEN", (int)len, s);
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    if (!slash)
        return fail(err, errlen, value,
                    "ecs subnet '%s' needs a prefix length, as in 198.51.100.0/24", buf);
    *slash = '\0';
    struct es_ip ip;
    if (!es_ip_parse(buf, &ip))
        return fail(err, errlen, value, "ecs subnet '%s' is not an IP address", buf);
    unsigned max = ip.family == AF_INET ? 32 : 128;
    uint64_t prefix;
    if (!es_parse_u64(slash + 1, 0, max, &prefix))
        return fail(err, errlen, value, "ecs prefix length '%s' is not a number from 0 to %u",
                    slash + 1, max);
    /* Clear the bits past the prefix: they are never sent (RFC 7871 §6). */
    for (unsigned bit = (unsigned)prefix; bit < max; bit++)
        ip.bytes[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
    out->has_ecs = true;
    out->ecs = ip;
    out->ecs_prefix = (unsigned)prefix;
    char text[ES_IP_TEXT];
    snprintf(out->ecs_text, sizeof out->ecs_text, "%s/%u", es_ip_str(&ip, text, sizeof text),
             out->ecs_prefix);
    return true;
}

/* The ",KEY=VALUE" options in s (NUL-terminated, starting at a ','). */
static bool parse_options(const char *value, const char *s, struct es_resolver_spec *out, char *err,
                          size_t errlen)
{
    while (*s == ',') {
        s++;
        size_t len = strcspn(s, ",");
        if (len == 0)
            return fail(err, errlen, value, "empty option after ','");
        if (len > 4 && memcmp(s, "ecs=", 4) == 0) {
            if (out->has_ecs)
                return fail(err, errlen, value, "ecs given twice");
            if (!parse_ecs(value, s + 4, len - 4, out, err, errlen))
                return false;
        } else if (len == 4 && memcmp(s, "ecs=", 4) == 0) {
            return fail(err, errlen, value, "empty ecs subnet");
        } else if (len == 3 && memcmp(s, "ecs", 3) == 0) {
            return fail(err, errlen, value, "ecs needs a subnet, as in ecs=198.51.100.0/24");
        } else {
            size_t klen = strcspn(s, ",=");
            return fail(err, errlen, value, "unknown option '%.*s'; the only option is ecs=SUBNET",
                        (int)klen, s);
        }
        s += len;
    }
    return true;
}

bool es_resolver_parse(const char *value, struct es_resolver_spec *out, char *err, size_t errlen)
{
    struct es_resolver_spec r;
    memset(&r, 0, sizeof r);
    if (!*value)
        return fail(err, errlen, value, "empty value");
    if (strcmp(value, ES_RESOLVER_SYSTEM) == 0) {
        memcpy(r.label, ES_RESOLVER_SYSTEM, sizeof ES_RESOLVER_SYSTEM);
        r.system = true;
        *out = r;
        return true;
    }
    const char *eq = strchr(value, '=');
    if (!eq)
        return fail(err, errlen, value, "missing '=' between LABEL and ADDR");
    if (!parse_label(value, value, (size_t)(eq - value), &r, err, errlen))
        return false;
    const char *addr = eq + 1;
    size_t alen = strcspn(addr, ",");
    if (!parse_addr(value, addr, alen, &r.addr, err, errlen) ||
        !parse_options(value, addr + alen, &r, err, errlen))
        return false;
    *out = r;
    return true;
}

struct es_resolver_spec *es_resolvers_parse(const char *const *values, size_t n, size_t *nout,
                                            char *err, size_t errlen)
{
    struct es_resolver_spec *v = es_xcalloc(n ? n : 1, sizeof *v);
    if (n == 0) {
        es_resolver_parse(ES_RESOLVER_SYSTEM, &v[0], err, errlen);
        *nout = 1;
        return v;
    }
    for (size_t i = 0; i < n; i++) {
        if (!es_resolver_parse(values[i], &v[i], err, errlen))
            goto fail;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(v[j].label, v[i].label) == 0) {
                fail(err, errlen, values[i], "duplicate label '%s' (also in -r '%s')", v[i].label,
                     values[j]);
                goto fail;
            }
        }
    }
    *nout = n;
    return v;
fail:
    free(v);
    return NULL;
}
