/*
 * netaddr: IPv4/IPv6 addresses and ip:port endpoints as fixed-size values.
 *
 * Every layer above the IP decoder names hosts with these, so flow keys can be
 * hashed and compared as plain bytes. IPv4 addresses are stored in the first
 * four bytes with the rest zeroed, so two equal addresses are equal bytewise.
 */
#ifndef SIPTAP_CORE_NETADDR_H
#define SIPTAP_CORE_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define NETADDR_STRLEN  46 /* INET6_ADDRSTRLEN */
#define ENDPOINT_STRLEN 56 /* "[v6]:65535" */

struct net_addr {
    uint8_t family; /* 4 or 6; 0 = unset */
    uint8_t bytes[16];
};

struct endpoint {
    struct net_addr addr;
    uint16_t port;
};

/* The address bytes are written as two 8-byte stores, and hot readers (flow
 * hashing) load them as the same two words: a load that spans several
 * narrower, still pending stores cannot be forwarded from them and waits. */
static inline void net_addr_set_v4(struct net_addr *a, const uint8_t bytes[4])
{
    uint64_t lo = 0, hi = 0;
    memcpy(&lo, bytes, 4); /* the first four bytes of the word, whatever the byte order */
    a->family = 4;
    memcpy(a->bytes, &lo, 8);
    memcpy(a->bytes + 8, &hi, 8);
}

static inline void net_addr_set_v6(struct net_addr *a, const uint8_t bytes[16])
{
    uint64_t lo, hi;
    memcpy(&lo, bytes, 8);
    memcpy(&hi, bytes + 8, 8);
    a->family = 6;
    memcpy(a->bytes, &lo, 8);
    memcpy(a->bytes + 8, &hi, 8);
}
bool net_addr_equal(const struct net_addr *a, const struct net_addr *b);
/* Parses dotted IPv4 or IPv6 text (no brackets). Returns false on error. */
bool net_addr_parse(struct net_addr *a, const char *text);
/* Writes the address as text; returns buf. */
char *net_addr_format(const struct net_addr *a, char *buf, size_t len);
/* "1.2.3.4:5060" or "[2001:db8::1]:5060"; returns buf. */
char *endpoint_format(const struct endpoint *e, char *buf, size_t len);
/* An event member whose value is the endpoint as "ip:port" (core/json_writer). */
struct json_writer;
void endpoint_member(struct json_writer *t, const char *key, const struct endpoint *e);
bool endpoint_equal(const struct endpoint *a, const struct endpoint *b);
/* RFC 1918, RFC 6598 (100.64/10), link-local, loopback, fc00::/7, fe80::/10. */
bool net_addr_is_private(const struct net_addr *a);

/* An address prefix such as 203.0.113.0/24, used for trunk identification. */
struct net_prefix {
    struct net_addr addr;
    uint8_t bits;
};
/* Parses "ADDR" or "ADDR/BITS". Returns false on error. */
bool net_prefix_parse(struct net_prefix *p, const char *text);
bool net_prefix_contains(const struct net_prefix *p, const struct net_addr *a);

#endif
