/* shard.c - see include/edgeshake/shard.h */
#include "edgeshake/shard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "edgeshake/util.h"

/* Parses the decimal digits s[0..len) into *out (<= max). */
static bool parse_num(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    char buf[24];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return es_parse_u64(buf, 0, max, out);
}

bool es_shard_parse(const char *spec, unsigned *i, unsigned *n, char *err, size_t errlen)
{
    const char *slash = strchr(spec, '/');
    uint64_t vi, vn;
    if (!slash || !parse_num(spec, (size_t)(slash - spec), UINT32_MAX, &vi) ||
        !parse_num(slash + 1, strlen(slash + 1), UINT32_MAX, &vn)) {
        snprintf(err, errlen,
                 "--shard %s: expected I/N, two whole numbers with 0 <= I < N (e.g. 0/4)", spec);
        return false;
    }
    if (vn < 1) {
        snprintf(err, errlen, "--shard %s: N must be at least 1", spec);
        return false;
    }
    if (vn > ES_SHARDS_MAX) {
        snprintf(err, errlen, "--shard %s: N must be at most %u", spec, ES_SHARDS_MAX);
        return false;
    }
    if (vi >= vn) {
        snprintf(err, errlen, "--shard %s: I must be below N", spec);
        return false;
    }
    *i = (unsigned)vi;
    *n = (unsigned)vn;
    return true;
}

bool es_shard_from_env(uint64_t shards, unsigned *i, char *err, size_t errlen)
{
    static const char *const vars[] = {"JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"};
    if (shards < 1 || shards > ES_SHARDS_MAX) {
        snprintf(err, errlen, "--shards %llu: N must be from 1 to %u", (unsigned long long)shards,
                 ES_SHARDS_MAX);
        return false;
    }
    for (size_t k = 0; k < ES_ARRAY_LEN(vars); k++) {
        const char *v = getenv(vars[k]);
        uint64_t val;
        if (!v || !*v)
            continue;
        if (!parse_num(v, strlen(v), UINT64_MAX, &val)) {
            snprintf(err, errlen, "--shards %llu: %s='%.40s' is not a whole number",
                     (unsigned long long)shards, vars[k], v);
            return false;
        }
        if (val >= shards) {
            char hint[64] = "";
            if (k == 1) /* Slurm arrays are often numbered from 1 */
                snprintf(hint, sizeof hint, " (number the Slurm array from 0: --array=0-%llu)",
                         (unsigned long long)shards - 1);
            snprintf(err, errlen, "--shards %llu: %s=%llu must be below %llu%s",
                     (unsigned long long)shards, vars[k], (unsigned long long)val,
                     (unsigned long long)shards, hint);
            return false;
        }
        *i = (unsigned)val;
        return true;
    }
    snprintf(err, errlen,
             "--shards %llu: neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor "
             "SLURM_ARRAY_TASK_ID (Slurm array) is set; use --shard I/N",
             (unsigned long long)shards);
    return false;
}

bool es_shard_keep(const char *host, size_t len, unsigned i, unsigned n)
{
    if (n <= 1)
        return i == 0;
    return XXH3_64bits(host, len) % n == i;
}
