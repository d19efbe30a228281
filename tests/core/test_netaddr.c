/* Tests of core/netaddr: parsing, formatting, private ranges, prefixes. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "core/netaddr.h"

Test(netaddr, format_endpoints)
{
    struct endpoint e = {.port = 5060};
    char buf[ENDPOINT_STRLEN];
    cr_assert(net_addr_parse(&e.addr, "203.0.113.10"));
    cr_assert_str_eq(endpoint_format(&e, buf, sizeof(buf)), "203.0.113.10:5060");
    cr_assert(net_addr_parse(&e.addr, "2001:db8::1"));
    cr_assert_str_eq(endpoint_format(&e, buf, sizeof(buf)), "[2001:db8::1]:5060");
    cr_assert_not(net_addr_parse(&e.addr, "300.1.1.1"));
    /* The hand-written IPv4 path against inet_ntop, digit counts and ports
     * at their edges; an unset address formats as ":port" as before. */
    const char *v4[] = {"0.0.0.0", "255.255.255.255", "1.22.100.9", "10.0.0.1", "192.168.100.200"};
    const unsigned ports[] = {0, 9, 10, 5060, 65535};
    for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
        cr_assert(net_addr_parse(&e.addr, v4[i]));
        e.port = (uint16_t)ports[i];
        char want[ENDPOINT_STRLEN], a[NETADDR_STRLEN];
        snprintf(want, sizeof(want), "%s:%u", v4[i], ports[i]);
        cr_assert_str_eq(endpoint_format(&e, buf, sizeof(buf)), want);
        cr_assert_str_eq(net_addr_format(&e.addr, a, sizeof(a)), v4[i]);
        char small[8];
        cr_assert_eq(strlen(net_addr_format(&e.addr, small, sizeof(small))) < sizeof(small), 1);
    }
    struct endpoint unset = {.port = 7};
    cr_assert_str_eq(endpoint_format(&unset, buf, sizeof(buf)), ":7");
}

Test(netaddr, private_ranges)
{
    const char *priv[] = {"10.1.2.3",   "172.16.0.1",      "172.31.255.255", "192.168.1.1",
                          "100.64.0.1", "100.127.255.254", "fd00::1",        "fe80::1"};
    const char *pub[] = {"172.32.0.1", "100.128.0.1", "8.8.8.8", "203.0.113.10", "2001:db8::1"};
    struct net_addr a;
    for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++) {
        cr_assert(net_addr_parse(&a, priv[i]));
        cr_assert(net_addr_is_private(&a), "%s should be private", priv[i]);
    }
    for (size_t i = 0; i < sizeof(pub) / sizeof(pub[0]); i++) {
        cr_assert(net_addr_parse(&a, pub[i]));
        cr_assert_not(net_addr_is_private(&a), "%s should be public", pub[i]);
    }
}

Test(netaddr, prefixes)
{
    struct net_prefix p;
    struct net_addr a;
    cr_assert(net_prefix_parse(&p, "198.51.100.0/22"));
    cr_assert(net_addr_parse(&a, "198.51.103.200"));
    cr_assert(net_prefix_contains(&p, &a));
    cr_assert(net_addr_parse(&a, "198.51.104.1"));
    cr_assert_not(net_prefix_contains(&p, &a));
    cr_assert(net_prefix_parse(&p, "203.0.113.10"));
    cr_assert_eq(p.bits, 32);
    cr_assert_not(net_prefix_parse(&p, "203.0.113.10/33"));
    cr_assert_not(net_prefix_parse(&p, "203.0.113.10/"));
    cr_assert(net_prefix_parse(&p, "2001:db8::/32"));
    cr_assert(net_addr_parse(&a, "2001:db8:ffff::1"));
    cr_assert(net_prefix_contains(&p, &a));
}
