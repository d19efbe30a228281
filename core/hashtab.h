/*
 * hashtab: the project's one hash table.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), storing pointers to caller-owned items. The key lives inside
 * the item at a fixed offset: either a fixed-size byte key (flow tuples) or,
 * with key_len 0, a `char *` pointing at a NUL-terminated string (Call-IDs).
 * The table never holds more than max_items; an insert past that fails and
 * the caller decides what to evict (and counts it). Lookups allocate nothing.
 */
#ifndef SIPTAP_CORE_HASHTAB_H
#define SIPTAP_CORE_HASHTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hashtab_slot {
    uint64_t hash;
    void *item; /* NULL = empty */
};

struct hashtab {
    struct hashtab_slot *slots;
    size_t mask; /* capacity - 1 */
    size_t count;
    size_t max_items;
    size_t key_offset;
    size_t key_len; /* 0: key is a `char *` string at key_offset */
};

/* Returns false if allocation fails. */
bool hashtab_init(struct hashtab *t, size_t key_offset, size_t key_len, size_t max_items);
void hashtab_destroy(struct hashtab *t);
uint64_t hashtab_hash_bytes(const void *data, size_t len);
/* key: pointer to key bytes, or the string itself when key_len is 0. */
void *hashtab_find(const struct hashtab *t, const void *key);
/* false when the table is full (count == max_items) or on allocation failure.
 * The caller must not insert an item whose key is already present. */
bool hashtab_insert(struct hashtab *t, void *item);
/* Removes exactly this item; returns false if it was not in the table. */
bool hashtab_remove(struct hashtab *t, void *item);
static inline size_t hashtab_count(const struct hashtab *t)
{
    return t->count;
}
/* Calls fn for each item; fn may not modify the table. */
void hashtab_foreach(const struct hashtab *t, void (*fn)(void *item, void *arg), void *arg);
/* Removes every item for which fn returns true (fn may free the item). */
void hashtab_remove_if(struct hashtab *t, bool (*fn)(void *item, void *arg), void *arg);

#endif
