/*
 * netaddr: conversions and classification of IP addresses and endpoints.
 * Text conversion goes through inet_pton/inet_ntop; everything else is byte
 * arithmetic so it can run per packet without allocation.
 */
#include "core/netaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "core/json_writer.h"

bool net_addr_equal(const struct net_addr *a, const struct net_addr *b)
{
    return a->family == b->family && memcmp(a->bytes, b->bytes, 16) == 0;
}

bool net_addr_parse(struct net_addr *a, const char *text)
{
    uint8_t buf[16];
    if (inet_pton(AF_INET, text, buf) == 1) {
        net_addr_set_v4(a, buf);
        return true;
    }
    if (inet_pton(AF_INET6, text, buf) == 1) {
        net_addr_set_v6(a, buf);
        return true;
    }
    return false;
}

/* Writes v in decimal at p, returns the end. */
static char *put_decimal(char *p, unsigned v)
{
    char tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* Dotted quad by hand: every streams entry of every call_end formats two
 * endpoints, and inet_ntop + snprintf showed in the per-call profile. */
static char *put_ipv4(char *p, const uint8_t b[4])
{
    for (int i = 0; i < 4; i++) {
        if (i)
            *p++ = '.';
        p = put_decimal(p, b[i]);
    }
    return p;
}

char *net_addr_format(const struct net_addr *a, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    buf[0] = '\0';
    if (a->family == 4 && len >= 16)
        *put_ipv4(buf, a->bytes) = '\0';
    else if (a->family == 4)
        inet_ntop(AF_INET, a->bytes, buf, (socklen_t)len);
    else if (a->family == 6)
        inet_ntop(AF_INET6, a->bytes, buf, (socklen_t)len);
    return buf;
}

char *endpoint_format(const struct endpoint *e, char *buf, size_t len)
{
    if (e->addr.family == 4 && len >= sizeof("255.255.255.255:65535")) {
        char *p = put_ipv4(buf, e->addr.bytes);
        *p++ = ':';
        *put_decimal(p, e->port) = '\0';
        return buf;
    }
    char addr[NETADDR_STRLEN];
    net_addr_format(&e->addr, addr, sizeof(addr));
    if (e->addr.family == 6)
        snprintf(buf, len, "[%s]:%u", addr, (unsigned)e->port);
    else
        snprintf(buf, len, "%s:%u", addr, (unsigned)e->port);
    return buf;
}

bool endpoint_equal(const struct endpoint *a, const struct endpoint *b)
{
    return a->port == b->port && net_addr_equal(&a->addr, &b->addr);
}

bool net_addr_is_private(const struct net_addr *a)
{
    const uint8_t *b = a->bytes;
    if (a->family == 4) {
        return b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168) ||
               (b[0] == 100 && (b[1] & 0xc0) == 64) || (b[0] == 169 && b[1] == 254) || b[0] == 127;
    }
    if (a->family == 6)
        return (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
    return false;
}

bool net_prefix_parse(struct net_prefix *p, const char *text)
{
    char buf[64];
    size_t n = strlen(text);
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, text, n + 1);
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash) {
        char *end;
        *slash = '\0';
        bits = strtol(slash + 1, &end, 10);
        if (*end != '\0' || slash[1] == '\0')
            return false;
    }
    if (!net_addr_parse(&p->addr, buf))
        return false;
    long max = p->addr.family == 4 ? 32 : 128;
    if (bits < 0)
        bits = max;
    if (bits > max)
        return false;
    p->bits = (uint8_t)bits;
    return true;
}

bool net_prefix_contains(const struct net_prefix *p, const struct net_addr *a)
{
    if (p->addr.family != a->family)
        return false;
    unsigned full = p->bits / 8, rest = p->bits % 8;
    if (memcmp(p->addr.bytes, a->bytes, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (p->addr.bytes[full] & mask) == (a->bytes[full] & mask);
}

void endpoint_member(struct json_writer *t, const char *key, const struct endpoint *e)
{
    char buf[ENDPOINT_STRLEN];
    json_writer_member_string(t, key, endpoint_format(e, buf, sizeof(buf)));
}
