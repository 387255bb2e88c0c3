/* net.c - see include/edgeshake/net.h */
#include "edgeshake/net.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "edgeshake/util.h"

bool es_ip_parse(const char *s, struct es_ip *out)
{
    struct es_ip ip;
    memset(&ip, 0, sizeof ip);
    if (inet_pton(AF_INET, s, &ip.v4) == 1) {
        ip.family = AF_INET;
    } else if (inet_pton(AF_INET6, s, &ip.v6) == 1) {
        ip.family = AF_INET6;
    } else {
        return false;
    }
    *out = ip;
    return true;
}

bool es_endpoint_parse(const char *s, uint16_t default_port, struct es_endpoint *out)
{
    char host[ES_IP_TEXT];
    const char *port = NULL;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close)
            return false;
        hlen = (size_t)(close - s - 1);
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return false;
        s++;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon && strchr(s, ':') != colon)
            colon = NULL; /* a bare IPv6 address: no port */
        hlen = colon ? (size_t)(colon - s) : strlen(s);
        if (colon)
            port = colon + 1;
    }
    if (hlen == 0 || hlen >= sizeof host)
        return false;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    struct es_endpoint ep;
    if (!es_ip_parse(host, &ep.ip))
        return false;
    uint64_t p = default_port;
    if (port) {
        if (!es_parse_u64(port, 1, 65535, &p))
            return false;
    } else if (!default_port) {
        return false;
    }
    ep.port = (uint16_t)p;
    *out = ep;
    return true;
}

const char *es_ip_str(const struct es_ip *ip, char *buf, size_t len)
{
    if (!inet_ntop(ip->family, ip->bytes, buf, (socklen_t)len))
        snprintf(buf, len, "?");
    return buf;
}

const char *es_endpoint_str(const struct es_endpoint *ep, char *buf, size_t len)
{
    char ip[ES_IP_TEXT];
    es_ip_str(&ep->ip, ip, sizeof ip);
    if (ep->ip.family == AF_INET6)
        snprintf(buf, len, "[%s]:%u", ip, ep->port);
    else
        snprintf(buf, len, "%s:%u", ip, ep->port);
    return buf;
}

socklen_t es_endpoint_sockaddr(const struct es_endpoint *ep, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (ep->ip.family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(ep->port);
        s6->sin6_addr = ep->ip.v6;
        return sizeof *s6;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(ep->port);
    s4->sin_addr = ep->ip.v4;
    return sizeof *s4;
}

bool es_endpoint_from_sockaddr(const struct sockaddr *sa, struct es_endpoint *out)
{
    memset(out, 0, sizeof *out);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        out->ip.family = AF_INET;
        out->ip.v4 = s4->sin_addr;
        out->port = ntohs(s4->sin_port);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        out->ip.family = AF_INET6;
        out->ip.v6 = s6->sin6_addr;
        out->port = ntohs(s6->sin6_port);
        return true;
    }
    return false;
}

bool es_ip_in_prefix(const struct es_ip *ip, const struct es_ip *prefix, unsigned bits)
{
    if (ip->family != prefix->family)
        return false;
    unsigned max = ip->family == AF_INET ? 32 : 128;
    if (bits > max)
        return false;
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(ip->bytes, prefix->bytes, full) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (ip->bytes[full] & mask) == (prefix->bytes[full] & mask);
}

bool es_ip_is_loopback(const struct es_ip *ip)
{
    if (ip->family == AF_INET)
        return ip->bytes[0] == 127;
    static const uint8_t one[16] = {[15] = 1};
    return ip->family == AF_INET6 && memcmp(ip->bytes, one, 16) == 0;
}
