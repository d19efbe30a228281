/*
 * hashtab: open addressing, linear probing, power-of-two capacity kept at or
 * below 75% load: slots carry 16 bits of the hash beside the item's address
 * (hashtab.h), so stepping past a wrong item costs one compare in the same
 * cache line. Deletion shifts following entries back into the hole, which
 * keeps lookups correct without tombstones; it and growth compute the hash
 * of the items they move from their keys.
 */
#include "core/hashtab.h"

#include <stdlib.h>
#include <string.h>

#define HASHTAB_MIN_CAPACITY 16

static const void *item_key(const struct hashtab *t, const void *item)
{
    const char *base = (const char *)item + t->key_offset;
    if (t->key_len == 0) {
        const char *s;
        memcpy(&s, base, sizeof(s));
        return s;
    }
    return base;
}

static uint64_t key_hash(const struct hashtab *t, const void *key)
{
    size_t len = t->key_len ? t->key_len : strlen(key);
    return hashtab_hash_bytes(key, len);
}

static uint64_t item_hash(const struct hashtab *t, const void *item)
{
    return t->item_hash ? t->item_hash(item) : key_hash(t, item_key(t, item));
}

bool hashtab_init(struct hashtab *t, size_t key_offset, size_t key_len, size_t max_items)
{
    memset(t, 0, sizeof(*t));
    t->key_offset = key_offset;
    t->key_len = key_len;
    t->max_items = max_items;
    t->slots = calloc(HASHTAB_MIN_CAPACITY, sizeof(*t->slots));
    if (!t->slots)
        return false;
    t->mask = HASHTAB_MIN_CAPACITY - 1;
    return true;
}

bool hashtab_init_hashed(struct hashtab *t, uint64_t (*item_hash_fn)(const void *item),
                         size_t max_items)
{
    if (!hashtab_init(t, 0, 0, max_items))
        return false;
    t->item_hash = item_hash_fn;
    return true;
}

void hashtab_destroy(struct hashtab *t)
{
    free(t->slots);
    t->slots = NULL;
    t->count = 0;
}

static void place(hashtab_slot *slots, size_t mask, uint64_t hash, void *item)
{
    size_t i = hash & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = (hash & ~HASHTAB_ADDR_MASK) | (uint64_t)(uintptr_t)item;
}

static bool grow(struct hashtab *t)
{
    size_t cap = (t->mask + 1) * 2;
    hashtab_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return false;
    for (size_t i = 0; i <= t->mask; i++)
        if (t->slots[i]) {
            void *item = hashtab_slot_item(t->slots[i]);
            place(slots, cap - 1, item_hash(t, item), item);
        }
    free(t->slots);
    t->slots = slots;
    t->mask = cap - 1;
    return true;
}

void *hashtab_find(const struct hashtab *t, const void *key)
{
    if (t->item_hash)
        return NULL; /* the caller's hash: hashtab_find_hashed */
    if (t->key_len)
        return hashtab_find_fixed(t, key, t->key_len);
    uint64_t h = key_hash(t, key);
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        hashtab_slot s = t->slots[i];
        if (!s)
            return NULL;
        if (hashtab_slot_tagged(s, h) && strcmp(item_key(t, hashtab_slot_item(s)), key) == 0)
            return hashtab_slot_item(s);
    }
}

bool hashtab_insert(struct hashtab *t, void *item)
{
    if (t->count >= t->max_items || ((uint64_t)(uintptr_t)item & ~HASHTAB_ADDR_MASK))
        return false;
    if ((t->count + 1) * 4 > (t->mask + 1) * 3 && !grow(t))
        return false;
    place(t->slots, t->mask, item_hash(t, item), item);
    t->count++;
    return true;
}

static void remove_at(struct hashtab *t, size_t hole)
{
    t->slots[hole] = 0;
    t->count--;
    for (size_t i = (hole + 1) & t->mask; t->slots[i]; i = (i + 1) & t->mask) {
        size_t home = item_hash(t, hashtab_slot_item(t->slots[i])) & t->mask;
        /* Move the entry back if the hole lies cyclically between its home and i. */
        bool movable = (hole <= i) ? (home <= hole || home > i) : (home <= hole && home > i);
        if (movable) {
            t->slots[hole] = t->slots[i];
            t->slots[i] = 0;
            hole = i;
        }
    }
}

bool hashtab_remove(struct hashtab *t, void *item)
{
    uint64_t h = item_hash(t, item);
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        if (!t->slots[i])
            return false;
        if (hashtab_slot_item(t->slots[i]) == item) {
            remove_at(t, i);
            return true;
        }
    }
}

void hashtab_foreach(const struct hashtab *t, void (*fn)(void *item, void *arg), void *arg)
{
    for (size_t i = 0; i <= t->mask; i++)
        if (t->slots[i])
            fn(hashtab_slot_item(t->slots[i]), arg);
}

void hashtab_remove_if(struct hashtab *t, bool (*fn)(void *item, void *arg), void *arg)
{
    /* Collect first: backward shifting during the scan would skip or revisit entries. */
    size_t n = 0;
    void **victims = malloc((t->count ? t->count : 1) * sizeof(*victims));
    if (!victims)
        return;
    for (size_t i = 0; i <= t->mask; i++)
        if (t->slots[i])
            victims[n++] = hashtab_slot_item(t->slots[i]);
    for (size_t i = 0; i < n; i++) {
        void *item = victims[i];
        hashtab_remove(t, item);
        if (!fn(item, arg))
            hashtab_insert(t, item);
    }
    free(victims);
}
