/* labspec.c - placeholder until the spec parser lands. */
#include "edgeshake/labspec.h"

#include <stdio.h>

struct es_labspec *es_labspec_parse(const char *text, size_t len, const char *name, char *err,
                                    size_t errlen)
{
    (void)text;
    (void)len;
    snprintf(err, errlen, "%s: the spec parser is not built yet", name);
    return NULL;
}

struct es_labspec *es_labspec_parse_file(const char *path, char *err, size_t errlen)
{
    return es_labspec_parse("", 0, path, err, errlen);
}

void es_labspec_free(struct es_labspec *spec)
{
    (void)spec;
}

const struct es_lab_answer *es_labspec_answer(const struct es_labspec *spec, const char *label,
                                              const char *name, const struct es_ip *ecs,
                                              unsigned ecs_prefix, unsigned *scope)
{
    (void)spec;
    (void)label;
    (void)name;
    (void)ecs;
    (void)ecs_prefix;
    (void)scope;
    return NULL;
}
