/* util.h - small helpers shared by every module: fatal allocation, messages,
 * clocks, and a bounds-checked cursor for parsing untrusted bytes. */
#ifndef EDGESHAKE_UTIL_H
#define EDGESHAKE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ES_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Exit codes of DESIGN §3.1. */
enum {
    ES_EXIT_OK = 0,
    ES_EXIT_RUNTIME = 1, /* fatal run-time error: cannot write output, cannot start */
    ES_EXIT_USAGE = 2,   /* bad command line or bad input, before any packet */
    ES_EXIT_FINDINGS = 3,
    ES_EXIT_INTERRUPTED = 130,
};

/* The program name used as a prefix on every message ("edgeshake lab"). Set once by main. */
extern const char *es_progname;

/* Allocation that cannot fail: on failure print a message and exit 1. Start-up only. */
void *es_xmalloc(size_t n);
void *es_xcalloc(size_t n, size_t size);
void *es_xrealloc(void *p, size_t n);
/* Grows an array of `size`-byte elements to at least `need` elements (doubling). Overflow-checked. */
void *es_xgrow(void *p, size_t *cap, size_t need, size_t size);
char *es_xstrdup(const char *s);
char *es_xstrndup(const char *s, size_t n);

/* "edgeshake: message\n" on stderr. */
void es_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* es_warn then exit(code). */
_Noreturn void es_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Test hooks (ES_TEST_URING_FAIL, ES_TEST_ENGINE, ES_TEST_TLS, ES_LAB_BIN):
 * the value of environment variable name in a build configured with
 * -Dtest_hooks=true (./dev test), and always NULL otherwise, so that a user's
 * build never changes behaviour because of a stray variable. */
const char *es_test_env(const char *name);
/* True when this build has the test hooks. */
bool es_test_hooks(void);

/* Monotonic clock in ms and ns; wall clock in ms since the epoch. */
uint64_t es_now_ms(void);
uint64_t es_now_ns(void);
uint64_t es_wall_ms(void);

/* Parses a whole decimal string into [min, max]. Returns false on any junk, sign or overflow. */
bool es_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* A growable string. Zero-initialise; es_sb_take hands the string over
 * (malloc'd, "" when empty) and resets the builder. Fatal on OOM. */
struct es_sb {
    char *s;
    size_t len, cap;
};
void es_sb_addn(struct es_sb *b, const char *s, size_t n);
void es_sb_add(struct es_sb *b, const char *s);
void es_sb_vprintf(struct es_sb *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void es_sb_printf(struct es_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *es_sb_take(struct es_sb *b);
void es_sb_free(struct es_sb *b);

/* A cursor over untrusted bytes. Every getter returns false and leaves *out
 * untouched when fewer bytes remain than asked for. */
struct es_cursor {
    const uint8_t *p;
    size_t len;
    size_t off;
};

static inline size_t es_cursor_left(const struct es_cursor *c)
{
    return c->len - c->off;
}
bool es_cursor_u8(struct es_cursor *c, uint8_t *out);
bool es_cursor_u16(struct es_cursor *c, uint16_t *out); /* network byte order */
bool es_cursor_u32(struct es_cursor *c, uint32_t *out); /* network byte order */
bool es_cursor_bytes(struct es_cursor *c, size_t n, const uint8_t **out);
bool es_cursor_skip(struct es_cursor *c, size_t n);

#endif
