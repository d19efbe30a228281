/* trunk: a linear scan; trunk lists are short and lookups happen per SIP
 * dialog, not per packet. */
#include "core/trunk.h"

const struct trunk_config *trunk_list_find(const struct trunk_list *l, const struct net_addr *addr)
{
    for (size_t i = 0; i < l->count; i++)
        for (size_t j = 0; j < l->trunks[i].prefix_count; j++)
            if (net_prefix_contains(&l->trunks[i].prefixes[j], addr))
                return &l->trunks[i];
    return NULL;
}
