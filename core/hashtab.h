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
#include <string.h>

/* A slot is one word: the item's address in the low 48 bits (where every
 * heap address of Linux x86-64 and arm64 user space lies) and the top 16
 * bits of its hash above them; 0 is empty. Half the 16 bytes of a hash and
 * a pointer: the slot arrays were a tenth of an active call's memory
 * (docs/benchmarks.md, memory). The tag still skips a wrong item without
 * reading it but one time in 65,536; where an item's home is needed
 * (deletion, growth), its hash is computed again from its key. */
typedef uint64_t hashtab_slot;
#define HASHTAB_ADDR_BITS 48
#define HASHTAB_ADDR_MASK ((UINT64_C(1) << HASHTAB_ADDR_BITS) - 1)

static inline void *hashtab_slot_item(hashtab_slot s)
{
    return (void *)(uintptr_t)(s & HASHTAB_ADDR_MASK);
}
/* Does slot s (not empty) hold an item with this hash's tag? */
static inline bool hashtab_slot_tagged(hashtab_slot s, uint64_t hash)
{
    return ((s ^ hash) & ~HASHTAB_ADDR_MASK) == 0;
}

struct hashtab {
    hashtab_slot *slots;
    size_t mask; /* capacity - 1 */
    size_t count;
    size_t max_items;
    size_t key_offset;
    size_t key_len; /* 0: key is a `char *` string at key_offset */
    /* Set by hashtab_init_hashed: the caller hashes its own keys. */
    uint64_t (*item_hash)(const void *item);
};

/* Returns false if allocation fails. */
bool hashtab_init(struct hashtab *t, size_t key_offset, size_t key_len, size_t max_items);
/* A table whose keys the caller hashes and compares itself (a key whose
 * fields it can hash straight from where they are, without first building a
 * byte image of it): item_hash gives an item's hash, which must equal the
 * hash passed to hashtab_find_hashed for its key. hashtab_find does not apply
 * to such a table. */
bool hashtab_init_hashed(struct hashtab *t, uint64_t (*item_hash)(const void *item),
                         size_t max_items);
void hashtab_destroy(struct hashtab *t);
/* key: pointer to key bytes, or the string itself when key_len is 0. */
void *hashtab_find(const struct hashtab *t, const void *key);
/* false when the table is full (count == max_items), on allocation failure,
 * or for an item whose address does not fit a slot (above 2^48, which
 * Linux gives only to an mmap that asks for it).
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

/* ---- inline: the hash, and a lookup for hot fixed-size keys ----
 * Flow keys are hashed and compared once per RTP packet; inline, with the
 * key length a constant at the call, the compiler unrolls both. */

static inline uint64_t hashtab_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* 64x64->128 multiply folded to 64 bits (the wyhash primitive): one
 * instruction that mixes every input bit into the result. */
static inline uint64_t hashtab_fold_mul(uint64_t a, uint64_t b)
{
    __extension__ typedef unsigned __int128 u128;
    u128 r = (u128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t hashtab_load64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* The last 0..7 bytes, without a variable-length memcpy (a libc call). */
static inline uint64_t hashtab_load_tail(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Words are taken in pairs whose multiplies are independent and overlap in
 * the pipeline, rather than chained through a full mix per word. */
static inline uint64_t hashtab_hash_bytes(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;
    while (len >= 16) {
        h ^= hashtab_fold_mul(hashtab_load64(p) ^ 0xa0761d6478bd642fULL,
                              hashtab_load64(p + 8) ^ 0xe7037ed1a0b428dbULL);
        h = (h << 23 | h >> 41) + 0x8ebc6af09c88c6e3ULL;
        p += 16;
        len -= 16;
    }
    uint64_t a, b = 0;
    if (len >= 8) {
        a = hashtab_load64(p);
        b = hashtab_load_tail(p + 8, len - 8);
    } else {
        a = hashtab_load_tail(p, len);
    }
    h ^= hashtab_fold_mul(a ^ 0x589965cc75374cc3ULL, b ^ 0x1d8e4e27c47d124fULL);
    return hashtab_mix64(h);
}

/* Fixed-size keys compared a word at a time, without a memcmp call. */
static inline bool hashtab_key_equal(const void *a, const void *b, size_t len)
{
    const uint8_t *x = a, *y = b;
    uint64_t diff = 0;
    for (; len >= 8; len -= 8, x += 8, y += 8)
        diff |= hashtab_load64(x) ^ hashtab_load64(y);
    return diff == 0 && (len == 0 || memcmp(x, y, len) == 0);
}

/* hashtab_find for a table of fixed-size keys, key_len being the table's
 * (pass it as a constant). */
static inline void *hashtab_find_fixed(const struct hashtab *t, const void *key, size_t key_len)
{
    uint64_t h = hashtab_hash_bytes(key, key_len);
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        hashtab_slot s = t->slots[i];
        if (!s)
            return NULL;
        if (hashtab_slot_tagged(s, h) &&
            hashtab_key_equal((const char *)hashtab_slot_item(s) + t->key_offset, key, key_len))
            return hashtab_slot_item(s);
    }
}

/* Lookup in a hashtab_init_hashed table: the first item with this hash for
 * which match(item, key) holds. Inline, so a constant match is inlined too. */
static inline void *hashtab_find_hashed(const struct hashtab *t, uint64_t hash,
                                        bool (*match)(const void *item, const void *key),
                                        const void *key)
{
    for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
        hashtab_slot s = t->slots[i];
        if (!s)
            return NULL;
        if (hashtab_slot_tagged(s, hash) && match(hashtab_slot_item(s), key))
            return hashtab_slot_item(s);
    }
}

/* ---- warming: the lookups of a batch overlapped ----
 * A lookup that finds its slot and then its item cold costs two dependent
 * cache misses, and between one packet's lookup and the next there is too
 * much work for the processor to overlap them by itself. Whoever knows the
 * next few keys can start them together: hashtab_prefetch_slot() for each
 * key's hash, then hashtab_warm_item() for each. Warming reads a byte of
 * each line with a real load: on the benchmark machine (an EPYC VM) software
 * prefetches of the items changed nothing measurable, while loads, being
 * independent of each other, overlap in the out-of-order window and cut the
 * time of the later lookups by a third. That is for lookups that follow the
 * warming at once (a batch); lookups that come many packets after it (a
 * pipeline) want hashtab_prefetch_item, whose prefetches do not stall in the
 * meantime (docs/benchmarks.md, the memory floor). None of them changes
 * anything; a stale or wrong hash merely warms the wrong line. */

static inline void hashtab_prefetch_slot(const struct hashtab *t, uint64_t hash)
{
    __builtin_prefetch(&t->slots[hash & t->mask]);
}

/* The item the probe for hash meets first among the next four slots: NULL
 * when an empty slot or four others come first (a hint need go no further). */
static inline const char *hashtab_hinted_item(const struct hashtab *t, uint64_t hash)
{
    for (size_t i = hash & t->mask, n = 0; n < 4; i = (i + 1) & t->mask, n++) {
        hashtab_slot s = t->slots[i];
        if (!s)
            return NULL;
        if (hashtab_slot_tagged(s, hash))
            return hashtab_slot_item(s);
    }
    return NULL;
}

/* Loads one byte of each 64-byte line of the first `bytes` (at most 256) of
 * the item hashtab_hinted_item finds. */
static inline void hashtab_warm_item(const struct hashtab *t, uint64_t hash, size_t bytes)
{
    const volatile char *item = hashtab_hinted_item(t, hash);
    for (size_t off = 0; item && off < bytes && off < 256; off += 64)
        (void)item[off];
}

/* The same lines prefetched (for writing) rather than loaded. */
static inline void hashtab_prefetch_item(const struct hashtab *t, uint64_t hash, size_t bytes)
{
    const char *item = hashtab_hinted_item(t, hash);
    for (size_t off = 0; item && off < bytes && off < 256; off += 64)
        __builtin_prefetch(item + off, 1);
}

#endif
