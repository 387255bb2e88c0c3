/* target.c - see include/edgeshake/target.h
 *
 * Three parts: a line reader with a fixed buffer (shared by targets and
 * edges), the target parser with its deduplicating reader (a fixed window of
 * recent targets), and the --edges
 * loader with its lazy CIDR iterator. */
#include "edgeshake/target.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "edgeshake/net.h"
#include "edgeshake/util.h"

/* ---- small text helpers ---- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **s, size_t *len)
{
    while (*len && is_blank((*s)[0])) {
        (*s)++;
        (*len)--;
    }
    while (*len && is_blank((*s)[*len - 1]))
        (*len)--;
}

/* Writes s[0..len) for a message: at most 48 bytes, anything outside
 * printable ASCII as \xNN, "..." when cut. Returns buf. */
static const char *show(const char *s, size_t len, char *buf, size_t buflen)
{
    size_t o = 0, i;
    for (i = 0; i < len && i < 48 && o + 5 < buflen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f)
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x", c);
    }
    if (i < len && o + 4 <= buflen) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o < buflen ? o : buflen - 1] = '\0';
    return buf;
}

/* ---- line reader: a fixed buffer, lines up to ES_TARGET_LINE_MAX ---- */

#define LR_BUFSIZE 65536

struct linereader {
    int fd;
    bool own_fd;
    char *name; /* for messages: the path, or "<stdin>" */
    char *buf;
    size_t start, end; /* unread bytes are buf[start..end) */
    bool eof;
    bool skipping; /* inside a line that was too long: drop up to its '\n' */
    uint64_t lineno;
    int read_errno;
};

enum lr_result { LR_LINE, LR_EOF, LR_TOOLONG, LR_IOERR };

static bool lr_open(struct linereader *lr, const char *path, char *err, size_t errlen)
{
    memset(lr, 0, sizeof *lr);
    if (strcmp(path, "-") == 0) {
        lr->fd = STDIN_FILENO;
        lr->name = es_xstrdup("<stdin>");
    } else {
        lr->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (lr->fd < 0) {
            snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
            return false;
        }
        lr->own_fd = true;
        lr->name = es_xstrdup(path);
    }
    lr->buf = es_xmalloc(LR_BUFSIZE);
    return true;
}

static void lr_close(struct linereader *lr)
{
    if (lr->own_fd)
        close(lr->fd);
    free(lr->name);
    free(lr->buf);
    memset(lr, 0, sizeof *lr);
}

/* Reads more bytes after compacting the buffer. False on a read error. */
static bool lr_fill(struct linereader *lr)
{
    if (lr->start > 0) {
        memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
        lr->end -= lr->start;
        lr->start = 0;
    }
    for (;;) {
        ssize_t n = read(lr->fd, lr->buf + lr->end, LR_BUFSIZE - lr->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            lr->read_errno = errno;
            return false;
        }
        if (n == 0)
            lr->eof = true;
        lr->end += (size_t)n;
        return true;
    }
}

/* The content length of a line of len bytes: without a trailing '\r'. */
static size_t content_len(const char *line, size_t len)
{
    return len && line[len - 1] == '\r' ? len - 1 : len;
}

/* Next line (without the newline) in *line and *len, valid until the next call. A line
 * longer than ES_TARGET_LINE_MAX gives LR_TOOLONG (lineno is its number) and
 * is skipped without being buffered whole. */
static enum lr_result lr_next(struct linereader *lr, const char **line, size_t *len)
{
    for (;;) {
        char *p = lr->buf + lr->start;
        size_t avail = lr->end - lr->start;
        char *nl = memchr(p, '\n', avail);
        if (lr->skipping) {
            if (nl) {
                lr->start += (size_t)(nl - p) + 1;
                lr->skipping = false;
                continue;
            }
            lr->start = lr->end = 0;
            if (lr->eof)
                return LR_EOF;
            if (!lr_fill(lr))
                return LR_IOERR;
            continue;
        }
        if (nl) {
            size_t n = (size_t)(nl - p);
            lr->lineno++;
            lr->start += n + 1;
            if (content_len(p, n) > ES_TARGET_LINE_MAX)
                return LR_TOOLONG;
            *line = p;
            *len = n;
            return LR_LINE;
        }
        /* No '\n' yet. One more byte may be a '\r' that does not count. */
        if (avail > ES_TARGET_LINE_MAX + 1) {
            lr->lineno++;
            lr->start = lr->end = 0;
            lr->skipping = true;
            return LR_TOOLONG;
        }
        if (lr->eof) {
            if (avail == 0)
                return LR_EOF;
            lr->lineno++;
            lr->start = lr->end;
            if (content_len(p, avail) > ES_TARGET_LINE_MAX)
                return LR_TOOLONG;
            *line = p;
            *len = avail;
            return LR_LINE;
        }
        if (!lr_fill(lr))
            return LR_IOERR;
    }
}

/* Turns a non-LR_LINE result into "PLACE: what is wrong". */
static void lr_error(const struct linereader *lr, enum lr_result res, char *err, size_t errlen)
{
    if (res == LR_TOOLONG)
        snprintf(err, errlen, "%s:%llu: line longer than %d bytes", lr->name,
                 (unsigned long long)lr->lineno, ES_TARGET_LINE_MAX);
    else
        snprintf(err, errlen, "%s: read error: %s", lr->name, strerror(lr->read_errno));
}

/* Prepares a file line: checks for NUL bytes, drops a UTF-8 byte order mark
 * on line 1, cuts a '#' comment and trims. False (with err) on a NUL byte. */
static bool lr_clean(const struct linereader *lr, const char **line, size_t *len, char *err,
                     size_t errlen)
{
    if (memchr(*line, '\0', *len)) {
        snprintf(err, errlen, "%s:%llu: NUL byte in line", lr->name,
                 (unsigned long long)lr->lineno);
        return false;
    }
    if (lr->lineno == 1 && *len >= 3 && memcmp(*line, "\xef\xbb\xbf", 3) == 0) {
        *line += 3;
        *len -= 3;
    }
    const char *hash = memchr(*line, '#', *len);
    if (hash)
        *len = (size_t)(hash - *line);
    trim(line, len);
    return true;
}

/* ---- host names and targets ---- */

static bool is_host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

bool es_host_name_check(const char *name, size_t len, char *canon, char *err, size_t errlen)
{
    char shown[256];
    if (len && name[len - 1] == '.')
        len--;
    if (len == 0) {
        snprintf(err, errlen, "empty host name");
        return false;
    }
    bool numeric = true;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 0x80) {
            snprintf(err, errlen, "non-ASCII host name; use its punycode (xn--) form");
            return false;
        }
        if (c != '.' && (c < '0' || c > '9'))
            numeric = false;
    }
    if (len > ES_HOST_MAX) {
        snprintf(err, errlen, "host name longer than %d bytes", ES_HOST_MAX);
        return false;
    }
    if (numeric) {
        /* "999.1.1.1", "1.2.3": no TLD is all digits, so this is a broken IPv4. */
        snprintf(err, errlen, "bad IPv4 address '%s'", show(name, len, shown, sizeof shown));
        return false;
    }
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            if (label == 0) {
                snprintf(err, errlen, "empty label in host name");
                return false;
            }
            label = 0;
            continue;
        }
        if (!is_host_char(c)) {
            snprintf(err, errlen, "bad character '%s' in host name",
                     show(name + i, 1, shown, sizeof shown));
            return false;
        }
        if (++label > ES_LABEL_MAX) {
            snprintf(err, errlen, "label longer than %d bytes", ES_LABEL_MAX);
            return false;
        }
    }
    if (label == 0) {
        snprintf(err, errlen, "empty label in host name");
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        canon[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    canon[len] = '\0';
    return true;
}

static bool parse_port(const char *s, uint16_t *port, char *err, size_t errlen)
{
    char shown[256];
    uint64_t v;
    if (!*s) {
        snprintf(err, errlen, "missing port after ':'");
        return false;
    }
    if (!es_parse_u64(s, 1, 65535, &v)) {
        snprintf(err, errlen, "bad port '%s'; expected a number from 1 to 65535",
                 show(s, strlen(s), shown, sizeof shown));
        return false;
    }
    *port = (uint16_t)v;
    return true;
}

/* The canonical text of an IP target. */
static void set_ip_target(struct es_target *t, const struct es_ip *ip)
{
    t->host_is_ip = true;
    t->has_ip = true;
    t->ip = *ip;
    es_ip_str(ip, t->host, sizeof t->host);
}

/* True (and err set) when s is "IP/N": a CIDR block, which belongs in --edges. */
static bool is_cidr(const char *s, char *err, size_t errlen)
{
    char shown[256], addr[ES_IP_TEXT + 2];
    const char *slash = strchr(s, '/');
    struct es_ip ip;
    if (!slash || (size_t)(slash - s) >= sizeof addr)
        return false;
    size_t n = (size_t)(slash - s);
    memcpy(addr, s, n);
    addr[n] = '\0';
    if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
        memmove(addr, addr + 1, n - 2);
        addr[n - 2] = '\0';
    }
    if (!es_ip_parse(addr, &ip))
        return false;
    snprintf(err, errlen, "'%s' is a CIDR block; put IPs and CIDRs in an --edges file",
             show(s, strlen(s), shown, sizeof shown));
    return true;
}

/* The IP after '@': IPv4, IPv6 or [IPv6]. */
static bool parse_at_ip(const char *s, struct es_ip *ip, char *err, size_t errlen)
{
    char shown[256], addr[ES_IP_TEXT + 2];
    size_t n = strlen(s);
    if (n == 0) {
        snprintf(err, errlen, "missing IP address after '@'");
        return false;
    }
    if (is_cidr(s, err, errlen))
        return false;
    const char *a = s;
    if (s[0] == '[' && s[n - 1] == ']') {
        a = s + 1;
        n -= 2;
    }
    bool ok = n < sizeof addr;
    if (ok) {
        memcpy(addr, a, n);
        addr[n] = '\0';
        ok = es_ip_parse(addr, ip) && (a == s || ip->family == AF_INET6);
    }
    if (ok)
        return true;
    /* "1.2.3.4:443" or "[::1]:443": the port goes on the host. */
    bool has_port = strstr(s, "]:") || (strchr(s, ':') && strchr(s, '.') && !strchr(s, '['));
    snprintf(err, errlen, "bad IP address after '@': '%s'%s",
             show(s, strlen(s), shown, sizeof shown),
             has_port ? " (put the port before '@': HOST:PORT@IP)" : "");
    return false;
}

/* "HOST[:PORT]@IP" with the '@' already split off. */
static bool parse_host_at(char *left, const char *right, uint16_t default_port, struct es_target *t,
                          char *err, size_t errlen)
{
    struct es_ip ip;
    char *colon = strchr(left, ':');
    bool is_ip = left[0] == '[' || es_ip_parse(left, &ip);
    if (!is_ip && colon) {
        *colon = '\0';
        is_ip = es_ip_parse(left, &ip);
    }
    if (is_ip) {
        snprintf(err, errlen, "expected a host name before '@', not an IP address");
        return false;
    }
    t->port = default_port;
    if (!es_host_name_check(left, strlen(left), t->host, err, errlen))
        return false;
    if (colon && !parse_port(colon + 1, &t->port, err, errlen))
        return false;
    if (!parse_at_ip(right, &t->ip, err, errlen))
        return false;
    t->has_ip = true;
    return true;
}

/* "[IPv6]" or "[IPv6]:PORT". */
static bool parse_bracketed(char *s, uint16_t default_port, struct es_target *t, char *err,
                            size_t errlen)
{
    char shown[256];
    char *close = strchr(s, ']');
    struct es_ip ip;
    if (!close) {
        snprintf(err, errlen, "missing ']' after IPv6 address");
        return false;
    }
    if (is_cidr(s, err, errlen))
        return false;
    *close = '\0';
    if (!es_ip_parse(s + 1, &ip) || ip.family != AF_INET6) {
        snprintf(err, errlen, "bad IPv6 address '[%s]'",
                 show(s + 1, strlen(s + 1), shown, sizeof shown));
        return false;
    }
    const char *after = close + 1;
    t->port = default_port;
    if (after[0] == ':') {
        if (!parse_port(after + 1, &t->port, err, errlen))
            return false;
    } else if (after[0]) {
        snprintf(err, errlen, "unexpected '%s' after ']'; expected ':PORT'",
                 show(after, strlen(after), shown, sizeof shown));
        return false;
    }
    set_ip_target(t, &ip);
    return true;
}

/* HOST, HOST:PORT, IPv4, IPv4:PORT or a bare IPv6. */
static bool parse_plain(char *s, uint16_t default_port, struct es_target *t, char *err,
                        size_t errlen)
{
    char shown[256];
    struct es_ip ip;
    if (is_cidr(s, err, errlen))
        return false;
    char *colon = strchr(s, ':');
    /* Two colons: an IPv6 address, unless it reads as NAME:PORT with junk. */
    bool v6 = colon && strchr(colon + 1, ':') &&
              (strstr(s, "::") || strspn(s, "0123456789abcdefABCDEF") == (size_t)(colon - s));
    if (v6) {
        if (!es_ip_parse(s, &ip) || ip.family != AF_INET6) {
            snprintf(err, errlen, "bad IPv6 address '%s'", show(s, strlen(s), shown, sizeof shown));
            return false;
        }
        t->port = default_port;
        set_ip_target(t, &ip);
        return true;
    }
    if (colon)
        *colon = '\0';
    t->port = default_port;
    if (es_ip_parse(s, &ip) && ip.family == AF_INET)
        set_ip_target(t, &ip);
    else if (!es_host_name_check(s, strlen(s), t->host, err, errlen))
        return false;
    return !colon || parse_port(colon + 1, &t->port, err, errlen);
}

bool es_target_parse(const char *text, size_t len, uint16_t default_port, struct es_target *out,
                     char *err, size_t errlen)
{
    char buf[ES_TARGET_LINE_MAX + 1];
    trim(&text, &len);
    if (len == 0) {
        snprintf(err, errlen, "empty target");
        return false;
    }
    if (memchr(text, '\0', len)) {
        snprintf(err, errlen, "NUL byte in target");
        return false;
    }
    if (len > ES_TARGET_LINE_MAX) {
        snprintf(err, errlen, "target longer than %d bytes", ES_TARGET_LINE_MAX);
        return false;
    }
    if (memchr(text, ' ', len) || memchr(text, '\t', len)) {
        snprintf(err, errlen, "whitespace inside a target; one target per line");
        return false;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    memset(out, 0, sizeof *out);
    if (strstr(buf, "://")) {
        char shown[256];
        snprintf(err, errlen, "'%s' is a URL; give HOST or HOST:PORT",
                 show(buf, len, shown, sizeof shown));
        return false;
    }
    char *at = strchr(buf, '@');
    if (at) {
        *at = '\0';
        return parse_host_at(buf, at + 1, default_port, out, err, errlen);
    }
    if (buf[0] == '[')
        return parse_bracketed(buf, default_port, out, err, errlen);
    return parse_plain(buf, default_port, out, err, errlen);
}

/* ---- the recent set: the last ES_TARGET_DEDUPE_WINDOW distinct keys ----
 *
 * A ring of 128-bit xxh3 hashes in arrival order, indexed by an open-
 * addressing table (linear probing) of ring positions. When the ring is
 * full, the oldest key leaves the table (backward-shift deletion, so no
 * tombstones) before the new one goes in: memory is fixed at start.
 * Equal hashes stand for equal keys: two distinct targets share a 128-bit
 * hash with a probability far below that of a bit flip in RAM. */

enum {
    RECENT_SLOTS = 2 * ES_TARGET_DEDUPE_WINDOW, /* a power of two; load <= 1/2 */
    RECENT_EMPTY = 0,                           /* slot values are ring index + 1 */
};

struct recent {
    XXH128_hash_t *ring; /* ES_TARGET_DEDUPE_WINDOW entries */
    uint32_t *slots;     /* RECENT_SLOTS entries */
    size_t head, n;      /* next ring position to write; keys held */
};

static size_t recent_home(XXH128_hash_t h)
{
    return (size_t)h.low64 & (RECENT_SLOTS - 1);
}

static void recent_remove(struct recent *s, size_t ringpos)
{
    size_t i = recent_home(s->ring[ringpos]);
    while (s->slots[i] != ringpos + 1)
        i = (i + 1) & (RECENT_SLOTS - 1);
    /* Backward shift: pull later members of the probe run into the hole. */
    for (size_t j = (i + 1) & (RECENT_SLOTS - 1); s->slots[j] != RECENT_EMPTY;
         j = (j + 1) & (RECENT_SLOTS - 1)) {
        size_t k = recent_home(s->ring[s->slots[j] - 1]);
        bool movable = i <= j ? (k <= i || k > j) : (k <= i && k > j);
        if (movable) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    s->slots[i] = RECENT_EMPTY;
}

/* Adds key[0..len); returns false when it is among the recent keys. */
static bool recent_add(struct recent *s, const void *key, size_t len)
{
    if (!s->ring) {
        s->ring = es_xcalloc(ES_TARGET_DEDUPE_WINDOW, sizeof *s->ring);
        s->slots = es_xcalloc(RECENT_SLOTS, sizeof *s->slots);
    }
    XXH128_hash_t h = XXH3_128bits(key, len);
    size_t i = recent_home(h);
    for (; s->slots[i] != RECENT_EMPTY; i = (i + 1) & (RECENT_SLOTS - 1))
        if (XXH128_isEqual(s->ring[s->slots[i] - 1], h))
            return false;
    if (s->n == ES_TARGET_DEDUPE_WINDOW) {
        recent_remove(s, s->head); /* the oldest */
        s->n--;
        i = recent_home(h); /* the removal may have moved the run */
        while (s->slots[i] != RECENT_EMPTY)
            i = (i + 1) & (RECENT_SLOTS - 1);
    }
    s->ring[s->head] = h;
    s->slots[i] = (uint32_t)s->head + 1;
    s->head = (s->head + 1) % ES_TARGET_DEDUPE_WINDOW;
    s->n++;
    return true;
}

static void recent_free(struct recent *s)
{
    free(s->ring);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

/* The canonical key of a target: host NUL port(2) has_ip [family(1) ip(16)]. */
static size_t target_key(const struct es_target *t, uint8_t *key)
{
    size_t n = strlen(t->host);
    memcpy(key, t->host, n + 1);
    key[n + 1] = (uint8_t)(t->port >> 8);
    key[n + 2] = (uint8_t)t->port;
    key[n + 3] = t->has_ip;
    n += 4;
    if (t->has_ip) {
        key[n++] = t->ip.family == AF_INET6 ? 6 : 4;
        memcpy(key + n, t->ip.bytes, 16);
        n += 16;
    }
    return n;
}

/* ---- the target reader ---- */

struct es_target_reader {
    const char *const *words;
    size_t nwords, wordi;
    bool has_file;
    struct linereader lr;
    uint16_t default_port;
    struct recent seen;
    struct es_target_stats stats;
};

struct es_target_reader *es_target_reader_new(const char *const *words, size_t nwords,
                                              const char *path, uint16_t default_port, char *err,
                                              size_t errlen)
{
    struct es_target_reader *r = es_xcalloc(1, sizeof *r);
    r->words = words;
    r->nwords = nwords;
    r->default_port = default_port;
    if (path) {
        if (!lr_open(&r->lr, path, err, errlen)) {
            free(r);
            return NULL;
        }
        r->has_file = true;
    }
    return r;
}

/* Counts a parsed target; true when it is new. */
static bool reader_keep(struct es_target_reader *r, const struct es_target *t)
{
    uint8_t key[ES_HOST_MAX + 1 + 4 + 17];
    if (!recent_add(&r->seen, key, target_key(t, key))) {
        r->stats.duplicates++;
        return false;
    }
    r->stats.targets++;
    return true;
}

enum es_target_next es_target_reader_next(struct es_target_reader *r, struct es_target *out,
                                          char *err, size_t errlen)
{
    char what[512];
    while (r->wordi < r->nwords) {
        size_t i = r->wordi++;
        const char *w = r->words[i];
        if (!es_target_parse(w, strlen(w), r->default_port, out, what, sizeof what)) {
            snprintf(err, errlen, "argument %zu: %s", i + 1, what);
            return ES_TARGET_ERROR;
        }
        if (reader_keep(r, out))
            return ES_TARGET_OK;
    }
    while (r->has_file) {
        const char *line;
        size_t len;
        enum lr_result res = lr_next(&r->lr, &line, &len);
        if (res == LR_EOF)
            break;
        if (res == LR_TOOLONG)
            r->stats.lines++;
        if (res != LR_LINE) {
            lr_error(&r->lr, res, err, errlen);
            return ES_TARGET_ERROR;
        }
        r->stats.lines++;
        if (!lr_clean(&r->lr, &line, &len, err, errlen))
            return ES_TARGET_ERROR;
        if (len == 0)
            continue;
        if (!es_target_parse(line, len, r->default_port, out, what, sizeof what)) {
            snprintf(err, errlen, "%s:%llu: %s", r->lr.name, (unsigned long long)r->lr.lineno,
                     what);
            return ES_TARGET_ERROR;
        }
        if (reader_keep(r, out))
            return ES_TARGET_OK;
    }
    return ES_TARGET_END;
}

void es_target_reader_stats(const struct es_target_reader *r, struct es_target_stats *out)
{
    *out = r->stats;
}

void es_target_reader_free(struct es_target_reader *r)
{
    if (!r)
        return;
    if (r->has_file)
        lr_close(&r->lr);
    recent_free(&r->seen);
    free(r);
}

/* ---- --edges: prefixes, merged, expanded lazily ---- */

/* IPv4 /16 and IPv6 /112: at most 16 host bits, ES_EDGES_BLOCK_MAX addresses. */
#define EDGES_HOST_BITS_MAX 16

struct edge_block {
    struct es_ip base; /* host bits zero */
    unsigned bits;     /* prefix length */
};

struct es_edges {
    struct edge_block *b;
    size_t n, cap;
    uint64_t count;
};

static unsigned family_bits(int family)
{
    return family == AF_INET ? 32 : 128;
}

static bool host_bits_zero(const struct es_ip *ip, unsigned bits)
{
    unsigned max = family_bits(ip->family);
    for (unsigned b = bits; b < max; b++)
        if (ip->bytes[b / 8] & (0x80 >> (b % 8)))
            return false;
    return true;
}

/* One line of an edges file (trimmed, non-empty, no NUL) into *out. */
static bool edges_parse(const char *text, size_t len, struct edge_block *out, char *err,
                        size_t errlen)
{
    char buf[ES_TARGET_LINE_MAX + 1], shown[256], ipbuf[ES_IP_TEXT];
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    char *addr = buf;
    size_t alen = strlen(addr);
    if (alen >= 2 && addr[0] == '[' && addr[alen - 1] == ']') {
        addr[alen - 1] = '\0';
        addr++;
    }
    if (!es_ip_parse(addr, &out->base) || (addr != buf && out->base.family != AF_INET6)) {
        snprintf(err, errlen, "'%s' is not an IP address or CIDR block",
                 show(text, len, shown, sizeof shown));
        return false;
    }
    unsigned max = family_bits(out->base.family);
    uint64_t bits = max;
    if (slash && !es_parse_u64(slash + 1, 0, max, &bits)) {
        snprintf(err, errlen, "bad prefix length in '%s'; expected /0 to /%u",
                 show(text, len, shown, sizeof shown), max);
        return false;
    }
    out->bits = (unsigned)bits;
    unsigned host = max - out->bits;
    es_ip_str(&out->base, ipbuf, sizeof ipbuf);
    if (host > EDGES_HOST_BITS_MAX) {
        char count[32];
        if (host < 64)
            snprintf(count, sizeof count, "%llu", 1ull << host);
        else
            snprintf(count, sizeof count, "2^%u", host);
        snprintf(err, errlen, "%s/%u is %s addresses; the limit is /%u (%u)", ipbuf, out->bits,
                 count, max - EDGES_HOST_BITS_MAX, ES_EDGES_BLOCK_MAX);
        return false;
    }
    if (!host_bits_zero(&out->base, out->bits)) {
        struct es_ip net = out->base;
        for (unsigned b = out->bits; b < max; b++)
            net.bytes[b / 8] &= (uint8_t) ~(0x80 >> (b % 8));
        char netbuf[ES_IP_TEXT];
        snprintf(err, errlen, "%s/%u has host bits set; the block is %s/%u", ipbuf, out->bits,
                 es_ip_str(&net, netbuf, sizeof netbuf), out->bits);
        return false;
    }
    return true;
}

static int block_cmp(const void *a, const void *b)
{
    const struct edge_block *x = a, *y = b;
    if (x->base.family != y->base.family)
        return x->base.family == AF_INET ? -1 : 1;
    int c = memcmp(x->base.bytes, y->base.bytes, 16);
    if (c)
        return c;
    return x->bits < y->bits ? -1 : x->bits > y->bits;
}

/* Sorts the blocks and drops every block inside an earlier one. Aligned
 * blocks are either nested or disjoint, and a container sorts before what it
 * contains, so comparing with the last kept block is enough. */
static void edges_merge(struct es_edges *e)
{
    if (e->n > 1)
        qsort(e->b, e->n, sizeof *e->b, block_cmp);
    size_t kept = 0;
    for (size_t i = 0; i < e->n; i++) {
        const struct edge_block *last = kept ? &e->b[kept - 1] : NULL;
        if (last && es_ip_in_prefix(&e->b[i].base, &last->base, last->bits))
            continue;
        e->b[kept++] = e->b[i];
    }
    e->n = kept;
    e->count = 0;
    for (size_t i = 0; i < e->n; i++)
        e->count += 1ull << (family_bits(e->b[i].base.family) - e->b[i].bits);
}

bool es_edges_load(const char *path, struct es_edges **out, char *err, size_t errlen)
{
    struct linereader lr;
    char what[512];
    *out = NULL;
    if (!lr_open(&lr, path, err, errlen))
        return false;
    struct es_edges *e = es_xcalloc(1, sizeof *e);
    bool ok = false;
    for (;;) {
        const char *line;
        size_t len;
        enum lr_result res = lr_next(&lr, &line, &len);
        if (res == LR_EOF)
            break;
        if (res != LR_LINE) {
            lr_error(&lr, res, err, errlen);
            goto out;
        }
        if (!lr_clean(&lr, &line, &len, err, errlen))
            goto out;
        if (len == 0)
            continue;
        e->b = es_xgrow(e->b, &e->cap, e->n + 1, sizeof *e->b);
        if (!edges_parse(line, len, &e->b[e->n], what, sizeof what)) {
            snprintf(err, errlen, "%s:%llu: %s", lr.name, (unsigned long long)lr.lineno, what);
            goto out;
        }
        e->n++;
    }
    edges_merge(e);
    *out = e;
    e = NULL;
    ok = true;
out:
    lr_close(&lr);
    es_edges_free(e);
    return ok;
}

uint64_t es_edges_count(const struct es_edges *e)
{
    return e->count;
}

void es_edges_free(struct es_edges *e)
{
    if (!e)
        return;
    free(e->b);
    free(e);
}

void es_edges_iter_init(struct es_edges_iter *it, const struct es_edges *e)
{
    it->_edges = e;
    it->_block = 0;
    it->_next = 0;
}

bool es_edges_iter_next(struct es_edges_iter *it, struct es_ip *out)
{
    const struct es_edges *e = it->_edges;
    while (it->_block < e->n) {
        const struct edge_block *b = &e->b[it->_block];
        unsigned max = family_bits(b->base.family);
        uint32_t size = 1u << (max - b->bits);
        if (it->_next < size) {
            /* At most 16 host bits, all zero in base: OR the offset into the last two bytes. */
            uint32_t off = it->_next++;
            unsigned last = max / 8 - 1;
            *out = b->base;
            out->bytes[last] |= (uint8_t)(off & 0xff);
            out->bytes[last - 1] |= (uint8_t)(off >> 8);
            return true;
        }
        it->_block++;
        it->_next = 0;
    }
    return false;
}
