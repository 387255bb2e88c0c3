/* intern.c - see include/edgeshake/intern.h. Open addressing on xxh3. */
#include "edgeshake/intern.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "edgeshake/util.h"

enum { BLOCK = 64 * 1024 };

struct block {
    struct block *next;
    size_t used, cap;
    char data[];
};

struct entry {
    uint64_t hash;
    const char *s;
    size_t len;
};

struct es_intern {
    struct entry *slots; /* power-of-two table, s == NULL = empty */
    size_t mask, count;
    struct block *blocks;
};

struct es_intern *es_intern_new(void)
{
    struct es_intern *p = es_xcalloc(1, sizeof *p);
    p->mask = 1023;
    p->slots = es_xcalloc(p->mask + 1, sizeof *p->slots);
    return p;
}

void es_intern_free(struct es_intern *p)
{
    if (!p)
        return;
    for (struct block *b = p->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(p->slots);
    free(p);
}

static char *arena_copy(struct es_intern *p, const char *s, size_t len)
{
    struct block *b = p->blocks;
    if (!b || b->cap - b->used < len + 1) {
        size_t cap = len + 1 > BLOCK ? len + 1 : BLOCK;
        b = es_xmalloc(sizeof *b + cap);
        b->used = 0;
        b->cap = cap;
        b->next = p->blocks;
        p->blocks = b;
    }
    char *d = b->data + b->used;
    memcpy(d, s, len);
    d[len] = '\0';
    b->used += len + 1;
    return d;
}

static void grow(struct es_intern *p)
{
    size_t nmask = p->mask * 2 + 1;
    struct entry *n = es_xcalloc(nmask + 1, sizeof *n);
    for (size_t i = 0; i <= p->mask; i++) {
        if (!p->slots[i].s)
            continue;
        size_t j = p->slots[i].hash & nmask;
        while (n[j].s)
            j = (j + 1) & nmask;
        n[j] = p->slots[i];
    }
    free(p->slots);
    p->slots = n;
    p->mask = nmask;
}

const char *es_intern_n(struct es_intern *p, const char *s, size_t len)
{
    uint64_t h = XXH3_64bits(s, len);
    size_t i = h & p->mask;
    for (; p->slots[i].s; i = (i + 1) & p->mask) {
        struct entry *e = &p->slots[i];
        if (e->hash == h && e->len == len && memcmp(e->s, s, len) == 0)
            return e->s;
    }
    struct entry *e = &p->slots[i];
    e->hash = h;
    e->len = len;
    e->s = arena_copy(p, s, len);
    const char *r = e->s;
    if (++p->count * 4 > (p->mask + 1) * 3)
        grow(p);
    return r;
}

const char *es_intern(struct es_intern *p, const char *s)
{
    return es_intern_n(p, s, strlen(s));
}

size_t es_intern_count(const struct es_intern *p)
{
    return p->count;
}
