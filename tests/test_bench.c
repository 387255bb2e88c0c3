/* test_bench.c - `edgeshake bench`: the latency histogram, and end-to-end runs
 * against bench's own lab (started in a separate process) and against a port
 * where nothing listens. Uses only 127.30.0.0/16. Never asserts on speed. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeshake/bench.h"
#include "testlib.h"

/* ---- histogram ------------------------------------------------------------ */

struct bucket_case {
    uint64_t us;
    unsigned bucket;
    uint64_t low;
};

static const struct bucket_case bucket_cases[] = {
    {0, 0, 0},
    {1, 1, 1},
    {31, 31, 31},
    {32, 32, 32}, /* 2^5: 16 buckets of width 2 */
    {33, 32, 32},
    {34, 33, 34},
    {63, 47, 62},
    {64, 48, 64},     /* 2^6: width 4 */
    {1000, 111, 992}, /* 2^9: width 32 */
    {1u << 20, 272, 1u << 20},
    {(1ull << 41) - 1, ES_HIST_BUCKETS - 1, (31ull << 36)},
    {1ull << 41, ES_HIST_BUCKETS - 1, (31ull << 36)},
    {UINT64_MAX, ES_HIST_BUCKETS - 1, (31ull << 36)},
};

START_TEST(test_hist_bucket)
{
    const struct bucket_case *c = &bucket_cases[_i];
    ck_assert_uint_eq(es_hist_bucket(c->us), c->bucket);
    ck_assert_uint_eq(es_hist_bucket_low(c->bucket), c->low);
}
END_TEST

START_TEST(test_hist_bucket_bounds)
{
    /* Every value lies in [low(b), low(b + 1)), and buckets grow with values. */
    unsigned prev = 0;
    for (uint64_t v = 0; v < 200000; v += 1 + v / 50) {
        unsigned b = es_hist_bucket(v);
        ck_assert_uint_ge(b, prev);
        ck_assert_uint_le(es_hist_bucket_low(b), v);
        ck_assert_uint_gt(es_hist_bucket_low(b + 1), v);
        /* Relative width under 1/16 above the exact range. */
        if (v >= 32)
            ck_assert_uint_le((es_hist_bucket_low(b + 1) - es_hist_bucket_low(b)) * 16, v);
        prev = b;
    }
}
END_TEST

START_TEST(test_hist_quantiles)
{
    struct es_hist h;
    es_hist_init(&h);
    ck_assert_uint_eq(es_hist_quantile(&h, 0.5), 0);
    for (uint64_t v = 1; v <= 1000; v++)
        es_hist_add(&h, v);
    ck_assert_uint_eq(h.count, 1000);
    ck_assert_uint_eq(h.min_us, 1);
    ck_assert_uint_eq(h.max_us, 1000);
    /* rank 500 is 500, in bucket [496, 512): the middle is 504. */
    ck_assert_uint_eq(es_hist_quantile(&h, 0.5), 504);
    /* rank 900 in [896, 928): 912; rank 990 in [960, 992): 976. */
    ck_assert_uint_eq(es_hist_quantile(&h, 0.9), 912);
    ck_assert_uint_eq(es_hist_quantile(&h, 0.99), 976);
    /* rank 1000 in [992, 1024): the middle 1008 is clamped to the maximum. */
    ck_assert_uint_eq(es_hist_quantile(&h, 1.0), 1000);
    /* rank 1 is the exact value 1. */
    ck_assert_uint_eq(es_hist_quantile(&h, 0.0001), 1);
}
END_TEST

START_TEST(test_hist_merge)
{
    struct es_hist a, b, all;
    es_hist_init(&a);
    es_hist_init(&b);
    es_hist_init(&all);
    for (uint64_t v = 0; v < 5000; v++) {
        uint64_t us = v * 37 % 10007;
        es_hist_add(v % 2 ? &a : &b, us);
        es_hist_add(&all, us);
    }
    es_hist_merge(&a, &b);
    ck_assert_uint_eq(a.count, all.count);
    ck_assert_uint_eq(a.min_us, all.min_us);
    ck_assert_uint_eq(a.max_us, all.max_us);
    ck_assert_int_eq(memcmp(a.bucket, all.bucket, sizeof a.bucket), 0);
    /* Merging an empty histogram changes nothing. */
    struct es_hist e;
    es_hist_init(&e);
    es_hist_merge(&a, &e);
    ck_assert_uint_eq(a.min_us, all.min_us);
    ck_assert_uint_eq(es_hist_quantile(&a, 0.5), es_hist_quantile(&all, 0.5));
}
END_TEST

/* ---- end to end ----------------------------------------------------------- */

/* The number after "\"key\":" in json, searching from `from`; fails the test
 * when the key is missing or not followed by a number. */
static double json_num(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    ck_assert_msg(p != NULL, "no %s in %s", key, json);
    char *end;
    double v = strtod(p + strlen(pat), &end);
    ck_assert_msg(end != p + strlen(pat), "%s is not a number in %s", key, json);
    return v;
}

/* The latency object "key":{...} as its own string (malloc'd). */
static char *json_obj(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":{", key);
    const char *p = strstr(json, pat);
    ck_assert_msg(p != NULL, "no %s object in %s", key, json);
    const char *end = strchr(p, '}');
    ck_assert_ptr_nonnull(end);
    return strndup(p, (size_t)(end - p + 1));
}

static void check_latency(const char *json, const char *key)
{
    char *o = json_obj(json, key);
    double p50 = json_num(o, "p50"), p90 = json_num(o, "p90"), p99 = json_num(o, "p99"),
           max = json_num(o, "max");
    ck_assert_msg(p50 >= 0 && p50 <= p90 && p90 <= p99 && p99 <= max, "%s not ordered: %s", key, o);
    free(o);
}

static int run(const char *const argv[], char **out, char **err)
{
    return tl_run(argv, NULL, out, err, 50000);
}

START_TEST(test_lab_json)
{
    const char *argv[] = {"bench", "-n", "200", "-c", "8", "-t", "1", "--format", "json", NULL};
    char *out, *err;
    int st = run(argv, &out, &err);
    ck_assert_msg(st == 0, "status %d: %s", st, err);
    /* One JSON object on one line. */
    ck_assert_msg(out[0] == '{' && strchr(out, '\n') == out + strlen(out) - 1, "%s", out);
    ck_assert_double_eq(json_num(out, "handshakes"), 200);
    ck_assert_double_eq(json_num(out, "attempts"), 200);
    ck_assert_double_eq(json_num(out, "threads"), 1);
    ck_assert_double_eq(json_num(out, "inflight"), 8);
    ck_assert_ptr_nonnull(strstr(out, "\"lab\":true"));
    ck_assert_ptr_nonnull(strstr(out, "\"tls\":\"1.3\""));
    /* Verified against the lab's CA, for the lab certificate's name. */
    ck_assert_msg(strstr(out, "\"errors\":{},\"verify\":{\"ok\":200}}"), "%s", out);
    check_latency(out, "connect_ms");
    check_latency(out, "handshake_ms");
    ck_assert(json_num(out, "seconds") > 0);
    ck_assert(json_num(out, "hs_per_s") > 0);
    ck_assert(json_num(out, "cpu_us_per_hs") > 0);
    ck_assert(json_num(out, "peak_rss_kb") >= json_num(out, "rss_before_kb"));
    ck_assert(json_num(out, "rss_per_inflight_kb") >= 0);
    free(out);
    free(err);
}
END_TEST

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

START_TEST(test_lab_csv)
{
    const char *argv[] = {"bench", "-n",  "50",          "-c",       "4",   "-t", "2",
                          "--tls", "1.2", "--no-verify", "--format", "csv", NULL};
    char *out, *err;
    int st = run(argv, &out, &err);
    ck_assert_msg(st == 0, "status %d: %s", st, err);
    const char *header =
        "target,tls,verify,threads,inflight,attempts,handshakes,seconds,hs_per_s,cpu_us_per_hs,"
        "connect_p50_ms,connect_p90_ms,connect_p99_ms,connect_max_ms,handshake_p50_ms,"
        "handshake_p90_ms,handshake_p99_ms,handshake_max_ms,peak_rss_kb,rss_before_kb,"
        "rss_per_inflight_kb,errors,verify\n";
    ck_assert_msg(strncmp(out, header, strlen(header)) == 0, "%s", out);
    const char *row = out + strlen(header);
    ck_assert_uint_eq(count_char(row, '\n'), 1);
    ck_assert_uint_eq(count_char(row, ','), count_char(header, ','));
    /* target (bench.test:8443@127.30.X.Y), tls, verify, threads, inflight, attempts, handshakes */
    ck_assert_msg(strncmp(row, "bench.test:8443@127.30.", 23) == 0, "%s", row);
    const char *f = strchr(row, ',');
    ck_assert_msg(strncmp(f, ",1.2,off,2,4,50,50,", 19) == 0, "%s", row);
    /* No errors (an empty cell), and every handshake unverified. */
    ck_assert_msg(strstr(row, ",,off=50\n") != NULL, "%s", row);
    free(out);
    free(err);
}
END_TEST

START_TEST(test_lab_text)
{
    const char *argv[] = {"bench", "-n", "30", "-c", "3", "-t", "1", "--no-verify", NULL};
    char *out, *err;
    int st = run(argv, &out, &err);
    ck_assert_msg(st == 0, "status %d: %s", st, err);
    ck_assert_msg(strstr(out, "handshakes           30 of 30 attempts\n"), "%s", out);
    ck_assert_msg(strstr(out, "tls                  1.3, verify off, 1 threads, 3 in flight\n"),
                  "%s", out);
    ck_assert_msg(strstr(out, "errors               none\n"), "%s", out);
    ck_assert_msg(strstr(out, "(lab edge, separate process)"), "%s", out);
    ck_assert_msg(strstr(out, "verify               off 30\n"), "%s", out);
    /* bench writes no rows: scan's accounting line is not repeated on stderr */
    ck_assert_msg(!strstr(err, "rows written") && !strstr(err, "planned"), "%s", err);
    free(out);
    free(err);
}
END_TEST

START_TEST(test_duration)
{
    const char *argv[] = {"bench", "--duration",  "1",        "-c",   "4", "-t",
                          "1",     "--no-verify", "--format", "json", NULL};
    char *out, *err;
    int st = run(argv, &out, &err);
    ck_assert_msg(st == 0, "status %d: %s", st, err);
    double hs = json_num(out, "handshakes");
    ck_assert_msg(hs > 0, "%s", out);
    ck_assert_double_eq(json_num(out, "attempts"), hs);
    /* Started for a second at least, then stopped starting new ones. */
    ck_assert_msg(json_num(out, "seconds") >= 1.0, "%s", out);
    ck_assert_msg(json_num(out, "not_run") > 0, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "\"errors\":{},\"verify\":{\"off\":"));
    free(out);
    free(err);
}
END_TEST

START_TEST(test_refused)
{
    /* Nothing listens on 127.30.9.9:1: every attempt is connection_refused. */
    const char *argv[] = {"bench", "127.30.9.9:1", "-n",   "40", "-c", "4", "-t",
                          "1",     "--format",     "json", NULL};
    char *out, *err;
    int st = run(argv, &out, &err);
    ck_assert_msg(st == 0, "status %d: %s", st, err);
    ck_assert_ptr_nonnull(strstr(out, "\"target\":\"127.30.9.9:1\""));
    ck_assert_ptr_nonnull(strstr(out, "\"lab\":false"));
    ck_assert_double_eq(json_num(out, "handshakes"), 0);
    ck_assert_double_eq(json_num(out, "attempts"), 40);
    ck_assert_ptr_nonnull(strstr(out, "\"cpu_us_per_hs\":null"));
    ck_assert_ptr_nonnull(strstr(out, "\"handshake_ms\":{\"p50\":null,\"p90\":null,"
                                      "\"p99\":null,\"max\":null}"));
    ck_assert_msg(strstr(out, "\"errors\":{\"connection_refused\":40},\"verify\":{}}"), "%s", out);
    free(out);
    free(err);
}
END_TEST

START_TEST(test_refused_text)
{
    const char *argv[] = {"bench", "127.30.9.9:1", "-n", "5", "-c", "1", "-t", "1", NULL};
    char *out, *err;
    int st = run(argv, &out, &err);
    ck_assert_msg(st == 0, "status %d: %s", st, err);
    ck_assert_msg(strstr(out, "errors               connection_refused 5\n"), "%s", out);
    ck_assert_msg(strstr(out, "cpu_us_per_hs        -  (no handshake completed)\n"), "%s", out);
    free(out);
    free(err);
}
END_TEST

struct usage_case {
    const char *argv[8];
    const char *err;
};

static const struct usage_case usage_cases[] = {
    {{"bench", "-n", "0"}, "--handshakes: expected N, a whole number from 1"},
    {{"bench", "--duration", "0"}, "--duration: expected S"},
    {{"bench", "--tls", "1.1"}, "--tls: expected one of 1.2|1.3, got '1.1'"},
    {{"bench", "--format", "jsonl"}, "--format: expected one of text|csv|json"},
    {{"bench", "127.30.9.9:1", "127.30.9.10:1"}, "too many arguments ('127.30.9.10:1')"},
    {{"bench", "127.30.9.9:99999"}, "bad target '127.30.9.9:99999'"},
    {{"bench", "--no-verify", "--ca-file", "x.crt"}, "--ca-file and --no-verify exclude"},
    {{"bench", "--per-ip", "5"}, "'--per-ip' is not an option of bench"},
};

START_TEST(test_usage)
{
    const struct usage_case *c = &usage_cases[_i];
    char *out, *err;
    int st = run(c->argv, &out, &err);
    ck_assert_msg(st == 2, "case %d: status %d: %s", _i, st, err);
    ck_assert_str_eq(out, "");
    ck_assert_msg(strstr(err, c->err), "case %d: stderr lacks '%s': %s", _i, c->err, err);
    free(out);
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bench");
    TCase *th = tcase_create("histogram");
    tcase_add_loop_test(th, test_hist_bucket, 0,
                        (int)(sizeof bucket_cases / sizeof bucket_cases[0]));
    tcase_add_test(th, test_hist_bucket_bounds);
    tcase_add_test(th, test_hist_quantiles);
    tcase_add_test(th, test_hist_merge);
    suite_add_tcase(s, th);
    TCase *te = tcase_create("run");
    tcase_add_test(te, test_lab_json);
    tcase_add_test(te, test_lab_csv);
    tcase_add_test(te, test_lab_text);
    tcase_add_test(te, test_duration);
    tcase_add_test(te, test_refused);
    tcase_add_test(te, test_refused_text);
    tcase_add_loop_test(te, test_usage, 0, (int)(sizeof usage_cases / sizeof usage_cases[0]));
    suite_add_tcase(s, te);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
