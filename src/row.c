/* row.c - see include/edgeshake/row.h */
#include "edgeshake/row.h"

#include <sys/socket.h>

#include "edgeshake/hello.h"
#include "edgeshake/net.h"
#include "edgeshake/util.h"
#include "edgeshake/writer.h"

const char *es_probe_sni(const struct es_variant *v, const struct es_edge *e)
{
    switch (v->sni_mode) {
    case ES_SNI_HOST: return e->host_is_ip ? NULL : e->host;
    case ES_SNI_NONE: return NULL;
    case ES_SNI_NAME: return v->sni_name;
    }
    return NULL;
}

void es_row_plan(struct es_row *row, const char *vantage, const struct es_edge *e,
                 const struct es_variant *v, uint32_t attempt, char *ipbuf)
{
    es_row_init(row);
    const char *sni = es_probe_sni(v, e);
    row->dns_ms = e->dns_ms;
    row->time_ms = es_wall_ms();
    row->vantage = vantage;
    row->host = e->host;
    row->port = e->port;
    row->ip = es_ip_str(&e->ip, ipbuf, ES_IP_TEXT);
    row->family = e->ip.family == AF_INET6 ? 6 : 4;
    row->resolver = e->resolver;
    row->ecs = e->ecs;
    row->resolver_addr = e->resolver_addr;
    row->sni = sni ? sni : "none";
    row->variant = v->name;
    row->tls_offered = v->tls_offered;
    row->alpn_offered = v->alpn_offered;
    row->ciphers_offered = v->ciphers_offered;
    row->groups_offered = v->groups_offered;
    row->attempt = (int)attempt;
    row->hello = es_hello_name(v->hello);
}
