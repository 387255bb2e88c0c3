/* net-t.h - IP addresses and endpoints as plain values. */
#ifndef EDGESHAKE_NET_T_H
#define EDGESHAKE_NET_T_H

#include <netinet/in.h>
#include <stdint.h>

/* An IPv4 or IPv6 address. family is AF_INET or AF_INET6; for AF_INET only
 * the first 4 bytes of `bytes` are used and the rest are zero, so two es_ip
 * values can be compared with memcmp. */
struct es_ip {
    int family;
    union {
        struct in_addr v4;
        struct in6_addr v6;
        uint8_t bytes[16];
    };
};

struct es_endpoint {
    struct es_ip ip;
    uint16_t port; /* host byte order */
};

/* Longest text of an IP ("ffff:...") and of "[ip]:port", with the NUL. */
#define ES_IP_TEXT 46
#define ES_ENDPOINT_TEXT 56

#endif
