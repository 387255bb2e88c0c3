/* intern.h - a string intern pool: equal strings become one pointer, so hot
 * paths compare and hash pointers. Strings live in arena blocks until the
 * pool is freed; nothing is freed one by one. Not thread-safe: build it in
 * the planner, then share it read-only. */
#ifndef EDGESHAKE_INTERN_H
#define EDGESHAKE_INTERN_H

#include <stddef.h>

struct es_intern;

struct es_intern *es_intern_new(void);
void es_intern_free(struct es_intern *pool);
/* Returns the pool's copy of s[0..len) (NUL-terminated); fatal on OOM. */
const char *es_intern_n(struct es_intern *pool, const char *s, size_t len);
const char *es_intern(struct es_intern *pool, const char *s);
/* Distinct strings held. */
size_t es_intern_count(const struct es_intern *pool);

#endif
