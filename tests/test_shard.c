/* test_shard.c - --shard I/N parsing, --shards N from the environment, and
 * the shard function: disjoint shards that cover every host. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "edgeshake/shard.h"

struct parse_case {
    const char *spec;
    bool ok;
    unsigned i, n;
    const char *err; /* exact message when !ok */
};

#define JUNK(s) "--shard " s ": expected I/N, two whole numbers with 0 <= I < N (e.g. 0/4)"

static const struct parse_case parse_cases[] = {
    {"0/1", true, 0, 1, NULL},
    {"3/7", true, 3, 7, NULL},
    {"6/7", true, 6, 7, NULL},
    {"00/02", true, 0, 2, NULL},
    {"999999/1000000", true, 999999, 1000000, NULL},
    {"3/3", false, 0, 0, "--shard 3/3: I must be below N"},
    {"7/3", false, 0, 0, "--shard 7/3: I must be below N"},
    {"0/0", false, 0, 0, "--shard 0/0: N must be at least 1"},
    {"1/1000001", false, 0, 0, "--shard 1/1000001: N must be at most 1000000"},
    {"1/2x", false, 0, 0, JUNK("1/2x")},
    {"-1/2", false, 0, 0, JUNK("-1/2")},
    {"+1/2", false, 0, 0, JUNK("+1/2")},
    {" 1/2", false, 0, 0, JUNK(" 1/2")},
    {"1/ 2", false, 0, 0, JUNK("1/ 2")},
    {"1//2", false, 0, 0, JUNK("1//2")},
    {"1/2/3", false, 0, 0, JUNK("1/2/3")},
    {"12", false, 0, 0, JUNK("12")},
    {"/2", false, 0, 0, JUNK("/2")},
    {"1/", false, 0, 0, JUNK("1/")},
    {"", false, 0, 0, JUNK("")},
    {"0x1/2", false, 0, 0, JUNK("0x1/2")},
    {"1.0/2", false, 0, 0, JUNK("1.0/2")},
    {"4294967296/4294967297", false, 0, 0, JUNK("4294967296/4294967297")},
};

START_TEST(test_parse)
{
    const struct parse_case *c = &parse_cases[_i];
    unsigned i = 12345, n = 12345;
    char err[256] = "";
    bool ok = es_shard_parse(c->spec, &i, &n, err, sizeof err);
    ck_assert_msg(ok == c->ok, "'%s': ok=%d, err=%s", c->spec, ok, err);
    if (ok) {
        ck_assert_uint_eq(i, c->i);
        ck_assert_uint_eq(n, c->n);
    } else {
        ck_assert_str_eq(err, c->err);
        ck_assert_uint_eq(i, 12345); /* untouched on error */
        ck_assert_uint_eq(n, 12345);
    }
}
END_TEST

struct env_case {
    const char *job, *slurm; /* NULL = unset */
    uint64_t shards;
    bool ok;
    unsigned i;
    const char *err;
};

#define NEITHER(n)                                                                                 \
    "--shards " n ": neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor "                   \
    "SLURM_ARRAY_TASK_ID (Slurm array) is set; use --shard I/N"

static const struct env_case env_cases[] = {
    {"3", NULL, 7, true, 3, NULL},
    {NULL, "5", 7, true, 5, NULL},
    {"0", "6", 7, true, 0, NULL}, /* the Kubernetes index wins */
    {"", "2", 7, true, 2, NULL},  /* empty = unset */
    {"0", NULL, 1, true, 0, NULL},
    {NULL, NULL, 7, false, 0, NEITHER("7")},
    {"", "", 7, false, 0, NEITHER("7")},
    {"7", NULL, 7, false, 0, "--shards 7: JOB_COMPLETION_INDEX=7 must be below 7"},
    {NULL, "7", 7, false, 0,
     "--shards 7: SLURM_ARRAY_TASK_ID=7 must be below 7 (number the Slurm array from 0: "
     "--array=0-6)"},
    {"abc", "1", 7, false, 0, "--shards 7: JOB_COMPLETION_INDEX='abc' is not a whole number"},
    {NULL, "-1", 7, false, 0, "--shards 7: SLURM_ARRAY_TASK_ID='-1' is not a whole number"},
    {"2 ", NULL, 7, false, 0, "--shards 7: JOB_COMPLETION_INDEX='2 ' is not a whole number"},
    {"99999999999999999999999", NULL, 7, false, 0,
     "--shards 7: JOB_COMPLETION_INDEX='99999999999999999999999' is not a whole number"},
    {"0", NULL, 0, false, 0, "--shards 0: N must be from 1 to 1000000"},
};

static void set_or_unset(const char *name, const char *value)
{
    if (value)
        ck_assert_int_eq(setenv(name, value, 1), 0);
    else
        ck_assert_int_eq(unsetenv(name), 0);
}

START_TEST(test_env)
{
    const struct env_case *c = &env_cases[_i];
    set_or_unset("JOB_COMPLETION_INDEX", c->job);
    set_or_unset("SLURM_ARRAY_TASK_ID", c->slurm);
    unsigned i = 12345;
    char err[256] = "";
    bool ok = es_shard_from_env(c->shards, &i, err, sizeof err);
    ck_assert_msg(ok == c->ok, "case %d: ok=%d, err=%s", _i, ok, err);
    if (ok)
        ck_assert_uint_eq(i, c->i);
    else
        ck_assert_str_eq(err, c->err);
}
END_TEST

/* Shards 0..6 of 7 over 10,000 host names: each host in exactly one shard,
 * every shard used, and the shard is XXH3_64bits(host) % N. */
START_TEST(test_keep_partition)
{
    enum { HOSTS = 10000, N = 7 };
    unsigned per_shard[N] = {0};
    char host[64];
    for (unsigned h = 0; h < HOSTS; h++) {
        int len = snprintf(host, sizeof host, "host%05u.shard.example", h);
        unsigned owners = 0, owner = N;
        for (unsigned i = 0; i < N; i++) {
            if (es_shard_keep(host, (size_t)len, i, N)) {
                owners++;
                owner = i;
            }
        }
        ck_assert_msg(owners == 1, "%s is kept by %u shards", host, owners);
        ck_assert_uint_eq(owner, XXH3_64bits(host, (size_t)len) % N);
        per_shard[owner]++;
    }
    unsigned total = 0;
    for (unsigned i = 0; i < N; i++) {
        /* 10,000 / 7 = 1428 on average; a hash this good stays well within +-20%. */
        ck_assert_msg(per_shard[i] > 1142 && per_shard[i] < 1714, "shard %u has %u hosts", i,
                      per_shard[i]);
        total += per_shard[i];
    }
    ck_assert_uint_eq(total, HOSTS);
}
END_TEST

START_TEST(test_keep_fixed)
{
    /* The shard function is a contract between runs and versions: pin it. */
    ck_assert_uint_eq(XXH3_64bits("example.com", 11), 0x8B66107E8045BB73ULL);
    ck_assert(es_shard_keep("example.com", 11, 6, 7)); /* 0x8B66107E8045BB73 % 7 == 6 */
    ck_assert(!es_shard_keep("example.com", 11, 5, 7));
    /* N = 1 keeps everything in shard 0; N = 0 is taken as 1. */
    ck_assert(es_shard_keep("example.com", 11, 0, 1));
    ck_assert(!es_shard_keep("example.com", 11, 1, 1));
    ck_assert(es_shard_keep("example.com", 11, 0, 0));
    /* Only len bytes count. */
    ck_assert(es_shard_keep("example.comXYZ", 11, 6, 7));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shard");
    TCase *tc = tcase_create("parse");
    tcase_add_loop_test(tc, test_parse, 0, (int)(sizeof parse_cases / sizeof parse_cases[0]));
    suite_add_tcase(s, tc);
    tc = tcase_create("env");
    tcase_add_loop_test(tc, test_env, 0, (int)(sizeof env_cases / sizeof env_cases[0]));
    suite_add_tcase(s, tc);
    tc = tcase_create("keep");
    tcase_add_test(tc, test_keep_partition);
    tcase_add_test(tc, test_keep_fixed);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
