/* labcert.c - placeholder until the lab CA lands. */
#include "edgeshake/labcert.h"

#include "edgeshake/util.h"

struct es_labcerts *es_labcerts_new(void)
{
    es_die(ES_EXIT_RUNTIME, "lab certificates are not built yet");
}

void es_labcerts_free(struct es_labcerts *c)
{
    (void)c;
}

struct es_lableaf es_labcerts_leaf(struct es_labcerts *c, const char *name,
                                   enum es_lab_certkind kind, enum es_lab_keykind key)
{
    (void)c;
    (void)name;
    (void)kind;
    (void)key;
    struct es_lableaf l = {0};
    return l;
}

int es_labcerts_write_ca(const struct es_labcerts *c, const char *path)
{
    (void)c;
    (void)path;
    return -1;
}

X509 *es_labcerts_ca(const struct es_labcerts *c)
{
    (void)c;
    return NULL;
}
