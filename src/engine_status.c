/* engine_status.c - the engine's status line (engine.h: es_status_line).
 *
 * The main thread's monitor (engine.c) samples the workers' counters once a
 * second, smooths the rate, and prints this line: on a terminal once a
 * second, rewritten in place and cut to the terminal's width (a line that
 * wraps scrolls a new line every second); elsewhere (--progress into a file
 * or a pipe) as a plain line every 10 s. The line drops details, least
 * useful first, until it fits. */
#include "edgeshake/engine.h"

#include <stdio.h>
#include <string.h>

#include "edgeshake/util.h"

static void fmt_rate(char *out, size_t len, double rate)
{
    snprintf(out, len, rate >= 10 || rate == 0 ? "%.0f" : "%.1f", rate);
}

static void fmt_eta(char *out, size_t len, const struct es_status *s)
{
    if (!s->planned_final || s->rate <= 0 || s->done >= s->planned) {
        snprintf(out, len, "-");
        return;
    }
    uint64_t secs = (uint64_t)((double)(s->planned - s->done) / s->rate + 0.5);
    snprintf(out, len, "%llu:%02llu:%02llu", (unsigned long long)(secs / 3600),
             (unsigned long long)(secs / 60 % 60), (unsigned long long)(secs % 60));
}

size_t es_status_line(char *buf, size_t len, const struct es_status *s, unsigned width)
{
    char rate[32], eta[32];
    fmt_rate(rate, sizeof rate, s->rate);
    fmt_eta(eta, sizeof eta, s);
    unsigned long long done = s->done, planned = s->planned, ok = s->ok, failed = s->failed,
                       inflight = s->inflight;
    const char *plus = s->planned_final ? "" : "+"; /* more probes may come */
    char cand[5][256];
    snprintf(cand[0], sizeof cand[0],
             "%s: %llu/%llu%s probes (%llu ok, %llu failed), %s/s, %llu in flight, ETA %s",
             es_progname, done, planned, plus, ok, failed, rate, inflight, eta);
    snprintf(cand[1], sizeof cand[1],
             "%llu/%llu%s probes (%llu ok, %llu failed), %s/s, %llu in flight, ETA %s", done,
             planned, plus, ok, failed, rate, inflight, eta);
    snprintf(cand[2], sizeof cand[2], "%llu/%llu%s probes, %llu failed, %s/s, ETA %s", done,
             planned, plus, failed, rate, eta);
    snprintf(cand[3], sizeof cand[3], "%llu/%llu%s, %s/s, ETA %s", done, planned, plus, rate, eta);
    snprintf(cand[4], sizeof cand[4], "%llu/%llu%s", done, planned, plus);
    /* The last column stays free: a terminal wraps a line that fills it. */
    size_t fit = width ? width - 1 : SIZE_MAX;
    size_t k = 0;
    while (k + 1 < ES_ARRAY_LEN(cand) && strlen(cand[k]) > fit)
        k++;
    size_t n = strlen(cand[k]);
    if (n > fit)
        n = fit;
    if (len == 0)
        return 0;
    if (n >= len)
        n = len - 1;
    memcpy(buf, cand[k], n);
    buf[n] = '\0';
    return n;
}
