/* Tests of core/pool: items aligned and zeroed, freed items reused before
 * a new slab, slabs taken only as items are needed, the count in use. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "core/pool.h"

Test(pool, items_are_aligned_zeroed_and_reused)
{
    struct pool p;
    pool_init(&p, 320, 64, 4096); /* 12 items a slab */
    cr_assert_eq(p.items_per_slab, 12);
    cr_assert_eq(pool_bytes(&p), 0, "no slab before the first item");
    void *items[30];
    for (int i = 0; i < 30; i++) {
        items[i] = pool_get(&p);
        cr_assert_not_null(items[i]);
        cr_assert_eq((uintptr_t)items[i] % 64, 0, "item %d not line-aligned", i);
        const unsigned char *b = items[i];
        for (size_t k = 0; k < 320; k++)
            cr_assert_eq(b[k], 0);
        memset(items[i], 0xab, 320);
    }
    cr_assert_eq(pool_in_use(&p), 30);
    cr_assert_eq(pool_bytes(&p), 3 * 12 * 320, "three slabs for 30 items");
    pool_put(&p, items[7]);
    pool_put(&p, items[19]);
    cr_assert_eq(pool_in_use(&p), 28);
    /* The last freed first, zeroed again, and no new slab. */
    void *again = pool_get(&p);
    cr_assert_eq(again, items[19]);
    cr_assert_eq(((unsigned char *)again)[100], 0);
    cr_assert_eq(pool_get(&p), items[7]);
    cr_assert_eq(pool_bytes(&p), 3 * 12 * 320);
    /* Distinct items never overlap. */
    for (int i = 0; i < 30; i++)
        for (int j = i + 1; j < 30; j++)
            cr_assert(items[i] != items[j]);
    pool_destroy(&p);
    cr_assert_eq(pool_bytes(&p), 0);
}

Test(pool, sizes_round_up_to_the_alignment)
{
    struct pool p;
    pool_init(&p, 10, 16, 100);
    cr_assert_eq(p.item_size, 16);
    cr_assert_eq(p.items_per_slab, 6);
    void *a = pool_get(&p), *b = pool_get(&p);
    cr_assert_eq((char *)b - (char *)a, 16);
    pool_destroy(&p);
}
