/* net.h - parsing and printing addresses (no DNS: names are not addresses). */
#ifndef EDGESHAKE_NET_H
#define EDGESHAKE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "edgeshake/net-t.h"

/* Parses a literal IPv4 or IPv6 address (no brackets, no port). */
bool es_ip_parse(const char *s, struct es_ip *out);
/* Parses "IPv4:PORT" or "[IPv6]:PORT"; without ":PORT", uses default_port
 * (0 = a port is required). Returns false on any malformed input. */
bool es_endpoint_parse(const char *s, uint16_t default_port, struct es_endpoint *out);
/* Writes the address as text ("127.0.0.1", "::1"). Returns buf. */
const char *es_ip_str(const struct es_ip *ip, char *buf, size_t len);
/* "127.0.0.1:443" or "[::1]:443". Returns buf. */
const char *es_endpoint_str(const struct es_endpoint *ep, char *buf, size_t len);
/* Fills a sockaddr for connect/bind; returns its length. */
socklen_t es_endpoint_sockaddr(const struct es_endpoint *ep, struct sockaddr_storage *ss);
/* Reads an address and port back from a sockaddr (AF_INET or AF_INET6). */
bool es_endpoint_from_sockaddr(const struct sockaddr *sa, struct es_endpoint *out);
/* True when ip lies in prefix/bits of the same family. */
bool es_ip_in_prefix(const struct es_ip *ip, const struct es_ip *prefix, unsigned bits);
/* True when ip is loopback (127.0.0.0/8 or ::1). */
bool es_ip_is_loopback(const struct es_ip *ip);
static inline bool es_ip_equal(const struct es_ip *a, const struct es_ip *b)
{
    return a->family == b->family && __builtin_memcmp(a->bytes, b->bytes, 16) == 0;
}

#endif
