/* fuzz_labspec.c - the lab spec parser (labspec.h) and its answer lookup.
 *
 * Invariants: an error is one non-empty line; a parsed spec declares a
 * resolver or an edge, every edge has a certificate name, every host a
 * canonical name, every label rule names a declared resolver, and
 * es_labspec_answer finds each host's rule for each label (with no ECS). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "edgeshake/labspec.h"
#include "edgeshake/target.h"
#include "fuzzlib.h"

int es_fuzz_labspec(const uint8_t *data, size_t len);

static bool has_resolver(const struct es_labspec *spec, const char *label)
{
    for (size_t i = 0; i < spec->nresolvers; i++)
        if (strcmp(spec->resolvers[i].label, label) == 0)
            return true;
    return false;
}

static void check_host(const struct es_labspec *spec, const struct es_lab_host *h)
{
    char canon[ES_HOST_MAX + 1], err[256];
    FZ_CHECK(h->name != NULL && h->nanswers > 0);
    FZ_CHECK(es_host_name_check(h->name, strlen(h->name), canon, err, sizeof err));
    FZ_CHECK(strcmp(canon, h->name) == 0);
    for (size_t j = 0; j < h->nanswers; j++) {
        const struct es_lab_answer *a = &h->answers[j];
        FZ_CHECK(a->kind != ES_DNS_ANSWER || a->nips > 0);
        for (size_t k = 0; k < a->nips; k++)
            FZ_CHECK(a->ips[k].family == AF_INET || a->ips[k].family == AF_INET6);
        if (!a->label) {
            FZ_CHECK(a->ecs_prefix <= (a->ecs.family == AF_INET ? 32u : 128u));
            continue;
        }
        FZ_CHECK(has_resolver(spec, a->label));
        unsigned scope = 99;
        FZ_CHECK(es_labspec_answer(spec, a->label, h->name, NULL, 0, &scope) == a);
        FZ_CHECK(scope == 0);
    }
}

int es_fuzz_labspec(const uint8_t *data, size_t len)
{
    char err[1024] = "";
    struct es_labspec *spec =
        es_labspec_parse((const char *)data, len, "fuzz.lab", err, sizeof err);
    if (!spec) {
        FZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
        return 0;
    }
    FZ_CHECK(spec->nresolvers + spec->nedges > 0);
    for (size_t i = 0; i < spec->nresolvers; i++) {
        const struct es_lab_resolver *r = &spec->resolvers[i];
        FZ_CHECK(r->label && r->label[0] && strlen(r->label) <= 32);
        for (size_t j = 0; j < i; j++)
            FZ_CHECK(strcmp(spec->resolvers[j].label, r->label) != 0);
    }
    for (size_t i = 0; i < spec->nedges; i++) {
        const struct es_lab_edge *e = &spec->edges[i];
        FZ_CHECK(e->cert_name != NULL && e->cert_name[0] != '\0');
        FZ_CHECK(e->addr.port != 0);
        FZ_CHECK(e->flaky_pct <= 100);
        if (e->subject_o) /* percent-decoded: 1 to 64 bytes, no NUL */
            FZ_CHECK(strlen(e->subject_o) >= 1 && strlen(e->subject_o) <= 64);
    }
    bool named = false; /* a name the spec does not declare gets NXDOMAIN */
    for (size_t i = 0; i < spec->nhosts; i++) {
        check_host(spec, &spec->hosts[i]);
        named |= strcmp(spec->hosts[i].name, "no-such-host.invalid") == 0;
    }
    if (!named)
        FZ_CHECK(es_labspec_answer(spec, NULL, "no-such-host.invalid", NULL, 0, NULL) == NULL);
    es_labspec_free(spec);
    return 1;
}

#ifndef ES_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    es_fuzz_labspec(data, len);
    return 0;
}
#endif
