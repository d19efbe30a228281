/*
 * trunk: configured SIP trunks (a name and the addresses it uses, like a
 * pjsip `identify` section) and the lookup that tells which trunk an address
 * belongs to. Parsed by daemon/config.c, read by calls/ and rules/.
 */
#ifndef SIPTAP_CORE_TRUNK_H
#define SIPTAP_CORE_TRUNK_H

#include <stddef.h>

#include "core/netaddr.h"

#define TRUNK_MAX          64
#define TRUNK_MAX_PREFIXES 32

struct trunk_config {
    char name[64];
    struct net_prefix prefixes[TRUNK_MAX_PREFIXES];
    size_t prefix_count;
};

struct trunk_list {
    struct trunk_config trunks[TRUNK_MAX];
    size_t count;
};

/* The first trunk whose match list contains addr, or NULL. */
const struct trunk_config *trunk_list_find(const struct trunk_list *l, const struct net_addr *addr);

#endif
