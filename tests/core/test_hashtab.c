/* Tests of core/hashtab: fixed and string keys, removal with backward
 * shifting under collisions, the item cap, remove_if. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hashtab.h"

struct item {
    uint32_t key;
    char *name;
    int value;
};

Test(hashtab, insert_find_remove_many)
{
    struct hashtab t;
    cr_assert(hashtab_init(&t, offsetof(struct item, key), sizeof(uint32_t), 100000));
    enum { N = 20000 };
    struct item *items = calloc(N, sizeof(*items));
    for (uint32_t i = 0; i < N; i++) {
        items[i].key = i * 7919u;
        items[i].value = (int)i;
        cr_assert(hashtab_insert(&t, &items[i]));
    }
    cr_assert_eq(hashtab_count(&t), N);
    for (uint32_t i = 0; i < N; i += 2)
        cr_assert(hashtab_remove(&t, &items[i]));
    for (uint32_t i = 0; i < N; i++) {
        uint32_t k = i * 7919u;
        struct item *found = hashtab_find(&t, &k);
        if (i % 2)
            cr_assert_eq(found, &items[i], "key %u lost after removals", k);
        else
            cr_assert_null(found);
    }
    cr_assert_not(hashtab_remove(&t, &items[0]), "removing twice must fail");
    hashtab_destroy(&t);
    free(items);
}

Test(hashtab, cap_is_enforced)
{
    struct hashtab t;
    struct item items[4] = {{.key = 1}, {.key = 2}, {.key = 3}, {.key = 4}};
    cr_assert(hashtab_init(&t, offsetof(struct item, key), sizeof(uint32_t), 3));
    for (int i = 0; i < 3; i++)
        cr_assert(hashtab_insert(&t, &items[i]));
    cr_assert_not(hashtab_insert(&t, &items[3]));
    cr_assert(hashtab_remove(&t, &items[0]));
    cr_assert(hashtab_insert(&t, &items[3]));
    hashtab_destroy(&t);
}

Test(hashtab, string_keys)
{
    struct hashtab t;
    cr_assert(hashtab_init(&t, offsetof(struct item, name), 0, 1000));
    struct item a = {.name = strdup("a84b4c76e66710@pc33.atlanta.com")};
    struct item b = {.name = strdup("other-call")};
    cr_assert(hashtab_insert(&t, &a));
    cr_assert(hashtab_insert(&t, &b));
    char probe[64];
    snprintf(probe, sizeof(probe), "%s", "a84b4c76e66710@pc33.atlanta.com");
    cr_assert_eq(hashtab_find(&t, probe), &a);
    cr_assert_null(hashtab_find(&t, "missing"));
    hashtab_destroy(&t);
    free(a.name);
    free(b.name);
}

static bool drop_even(void *item, void *arg)
{
    int *removed = arg;
    struct item *it = item;
    if (it->value % 2 == 0) {
        (*removed)++;
        return true;
    }
    return false;
}

Test(hashtab, remove_if)
{
    struct hashtab t;
    struct item items[100];
    cr_assert(hashtab_init(&t, offsetof(struct item, key), sizeof(uint32_t), 1000));
    for (int i = 0; i < 100; i++) {
        items[i] = (struct item){.key = (uint32_t)i, .value = i};
        hashtab_insert(&t, &items[i]);
    }
    int removed = 0;
    hashtab_remove_if(&t, drop_even, &removed);
    cr_assert_eq(removed, 50);
    cr_assert_eq(hashtab_count(&t), 50);
    uint32_t k = 3;
    cr_assert_eq(hashtab_find(&t, &k), &items[3]);
    k = 4;
    cr_assert_null(hashtab_find(&t, &k));
    hashtab_destroy(&t);
}

/* A caller-hashed table: a deliberately weak hash (key / 4) makes runs of
 * colliding items, so finds, removals with backward shifting and growth all
 * go through the caller's hash and match; warming any hash changes nothing. */
static uint64_t weak_item_hash(const void *item)
{
    return ((const struct item *)item)->key / 4;
}

static bool item_key_matches(const void *item, const void *key)
{
    return ((const struct item *)item)->key == *(const uint32_t *)key;
}

static struct item *find_hashed(const struct hashtab *t, uint32_t key)
{
    return hashtab_find_hashed(t, key / 4, item_key_matches, &key);
}

Test(hashtab, caller_hashed_table)
{
    struct hashtab t;
    cr_assert(hashtab_init_hashed(&t, weak_item_hash, 10000));
    enum { N = 3000 };
    struct item *items = calloc(N, sizeof(*items));
    for (uint32_t i = 0; i < N; i++) {
        items[i].key = i;
        cr_assert(hashtab_insert(&t, &items[i]));
        hashtab_prefetch_slot(&t, i / 4);
        hashtab_warm_item(&t, i / 4, sizeof(struct item));
        hashtab_prefetch_item(&t, i / 4, sizeof(struct item));
    }
    for (uint32_t i = 0; i < N; i += 3)
        cr_assert(hashtab_remove(&t, &items[i]));
    for (uint32_t i = 0; i < N; i++) {
        struct item *found = find_hashed(&t, i);
        if (i % 3)
            cr_assert_eq(found, &items[i], "key %u lost", i);
        else
            cr_assert_null(found, "key %u still found after removal", i);
    }
    cr_assert_null(find_hashed(&t, N + 5));
    /* hashtab_find has no key to hash in such a table. */
    uint32_t k = 1;
    cr_assert_null(hashtab_find(&t, &k));
    hashtab_destroy(&t);
    free(items);
}

/* Hashes that differ only in the top 16 bits (the tag a slot keeps) all
 * start at one home: finds must step over items by their tags, and
 * removal must take each moved item's home from its key, not its slot. */
static uint64_t tag_only_hash(const void *item)
{
    return (uint64_t)((const struct item *)item)->key << 48 | 5;
}

static bool tag_only_matches(const void *item, const void *key)
{
    return ((const struct item *)item)->key == *(const uint32_t *)key;
}

Test(hashtab, one_word_slots_keep_a_tag_of_the_hash)
{
    cr_assert_eq(sizeof(hashtab_slot), 8);
    struct hashtab t;
    cr_assert(hashtab_init_hashed(&t, tag_only_hash, 100));
    struct item items[9] = {{0}};
    for (uint32_t i = 0; i < 9; i++) {
        items[i].key = i + 1;
        cr_assert(hashtab_insert(&t, &items[i]));
    }
    cr_assert(hashtab_remove(&t, &items[2]));
    cr_assert(hashtab_remove(&t, &items[6]));
    for (uint32_t i = 0; i < 9; i++) {
        uint32_t k = i + 1;
        void *found = hashtab_find_hashed(&t, (uint64_t)k << 48 | 5, tag_only_matches, &k);
        cr_assert_eq(found, (i == 2 || i == 6) ? NULL : &items[i], "key %u", k);
    }
    /* A hash whose tag no item has finds nothing, whatever match says. */
    uint32_t none = 77;
    cr_assert_null(hashtab_find_hashed(&t, (uint64_t)none << 48 | 5, tag_only_matches, &none));
    hashtab_destroy(&t);
}
