/* shard.h - splitting a scan by host across machines (DESIGN §6, issue 4 item 6).
 *
 * Shard I of N keeps the hosts with XXH3_64bits(host) % N == I, so shards
 * 0..N-1 are disjoint and together cover every host. The host is the
 * canonical name of es_target (lower case, no trailing dot; the IP text for
 * IP targets), so the same host always lands in the same shard.
 *
 * Errors: functions write one line (no newline) into err[errlen] and return
 * false; they never print or exit. The caller prints it and exits 2. */
#ifndef EDGESHAKE_SHARD_H
#define EDGESHAKE_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest shard count, the same bound as --shards. */
#define ES_SHARDS_MAX 1000000u

/* Parses "--shard I/N": two whole decimal numbers, 0 <= I < N <= ES_SHARDS_MAX,
 * nothing else (no signs, spaces or suffixes). e.g. "--shard 3/3: I must be
 * below N". */
bool es_shard_parse(const char *spec, unsigned *i, unsigned *n, char *err, size_t errlen);

/* Picks I for "--shards N" from the environment: JOB_COMPLETION_INDEX
 * (Kubernetes Indexed Job) when set and non-empty, else SLURM_ARRAY_TASK_ID.
 * Fails when neither is set, when the value is not a whole number, or when it
 * is not below shards. */
bool es_shard_from_env(uint64_t shards, unsigned *i, char *err, size_t errlen);

/* True when host[0..len) belongs to shard i of n. n = 0 is taken as 1. */
bool es_shard_keep(const char *host, size_t len, unsigned i, unsigned n);

#endif
