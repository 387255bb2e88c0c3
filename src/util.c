/* util.c - see include/edgeshake/util.h */
#include "edgeshake/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *es_progname = "edgeshake";

static _Noreturn void oom(size_t n)
{
    fprintf(stderr, "%s: out of memory allocating %zu bytes\n", es_progname, n);
    exit(ES_EXIT_RUNTIME);
}

void *es_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *es_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *es_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

void *es_xgrow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            oom(SIZE_MAX);
        ncap *= 2;
    }
    if (size && ncap > SIZE_MAX / size)
        oom(SIZE_MAX);
    p = es_xrealloc(p, ncap * size);
    *cap = ncap;
    return p;
}

char *es_xstrdup(const char *s)
{
    return es_xstrndup(s, strlen(s));
}

char *es_xstrndup(const char *s, size_t n)
{
    char *d = es_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void vwarn(const char *fmt, va_list ap)
{
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    fprintf(stderr, "%s: %s\n", es_progname, buf);
}

void es_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarn(fmt, ap);
    va_end(ap);
}

void es_die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarn(fmt, ap);
    va_end(ap);
    exit(code);
}

uint64_t es_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t es_now_ms(void)
{
    return es_now_ns() / 1000000u;
}

uint64_t es_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool es_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool es_cursor_u8(struct es_cursor *c, uint8_t *out)
{
    if (es_cursor_left(c) < 1)
        return false;
    *out = c->p[c->off++];
    return true;
}

bool es_cursor_u16(struct es_cursor *c, uint16_t *out)
{
    if (es_cursor_left(c) < 2)
        return false;
    *out = (uint16_t)(c->p[c->off] << 8 | c->p[c->off + 1]);
    c->off += 2;
    return true;
}

bool es_cursor_u32(struct es_cursor *c, uint32_t *out)
{
    if (es_cursor_left(c) < 4)
        return false;
    const uint8_t *p = c->p + c->off;
    *out = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    c->off += 4;
    return true;
}

bool es_cursor_bytes(struct es_cursor *c, size_t n, const uint8_t **out)
{
    if (es_cursor_left(c) < n)
        return false;
    *out = c->p + c->off;
    c->off += n;
    return true;
}

bool es_cursor_skip(struct es_cursor *c, size_t n)
{
    if (es_cursor_left(c) < n)
        return false;
    c->off += n;
    return true;
}

void es_sb_addn(struct es_sb *b, const char *s, size_t n)
{
    b->s = es_xgrow(b->s, &b->cap, b->len + n + 1, 1);
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void es_sb_add(struct es_sb *b, const char *s)
{
    es_sb_addn(b, s, strlen(s));
}

void es_sb_vprintf(struct es_sb *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    b->s = es_xgrow(b->s, &b->cap, b->len + (size_t)n + 1, 1);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void es_sb_printf(struct es_sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    es_sb_vprintf(b, fmt, ap);
    va_end(ap);
}

char *es_sb_take(struct es_sb *b)
{
    char *s = b->s ? b->s : es_xstrdup("");
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

void es_sb_free(struct es_sb *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

const char *es_test_env(const char *name)
{
#ifdef ES_TEST_HOOKS
    return getenv(name);
#else
    (void)name;
    return NULL;
#endif
}

bool es_test_hooks(void)
{
#ifdef ES_TEST_HOOKS
    return true;
#else
    return false;
#endif
}
