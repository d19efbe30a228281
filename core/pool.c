/*
 * pool: slabs of aligned fixed-size items with a free list (see pool.h).
 */
#include "core/pool.h"

#include <stdlib.h>
#include <string.h>

/* Under AddressSanitizer an item is poisoned while it is free, so a use
 * after pool_put is reported as it would be after free(). */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_ASAN 1
#endif
#endif
#ifdef POOL_ASAN
#include <sanitizer/asan_interface.h>
#define poison(a, n)   ASAN_POISON_MEMORY_REGION((a), (n))
#define unpoison(a, n) ASAN_UNPOISON_MEMORY_REGION((a), (n))
#else
#define poison(a, n)   ((void)(a), (void)(n))
#define unpoison(a, n) ((void)(a), (void)(n))
#endif

void pool_init(struct pool *p, size_t size, size_t align, size_t slab_bytes)
{
    memset(p, 0, sizeof(*p));
    if (align < sizeof(void *))
        align = sizeof(void *);
    p->align = align;
    p->item_size = (size + align - 1) & ~(align - 1);
    p->items_per_slab = slab_bytes / p->item_size;
    if (p->items_per_slab == 0)
        p->items_per_slab = 1;
}

void pool_destroy(struct pool *p)
{
    for (size_t i = 0; i < p->slab_count; i++)
        free(p->slabs[i]);
    free(p->slabs);
    memset(p, 0, sizeof(*p));
}

static bool new_slab(struct pool *p)
{
    if (p->slab_count == p->slab_capacity) {
        size_t cap = p->slab_capacity ? p->slab_capacity * 2 : 16;
        void **slabs = realloc(p->slabs, cap * sizeof(*slabs));
        if (!slabs)
            return false;
        p->slabs = slabs;
        p->slab_capacity = cap;
    }
    size_t bytes = p->items_per_slab * p->item_size;
    char *slab = aligned_alloc(p->align, bytes);
    if (!slab)
        return false;
    poison(slab, bytes);
    p->slabs[p->slab_count++] = slab;
    p->fresh = slab;
    p->fresh_end = slab + bytes;
    return true;
}

void *pool_get(struct pool *p)
{
    void *item = p->free_list;
    if (item) {
        unpoison(item, p->item_size);
        memcpy(&p->free_list, item, sizeof(void *));
    } else {
        if (p->fresh == p->fresh_end && !new_slab(p))
            return NULL;
        item = p->fresh;
        p->fresh += p->item_size;
        unpoison(item, p->item_size);
    }
    memset(item, 0, p->item_size);
    p->in_use++;
    return item;
}

void pool_put(struct pool *p, void *item)
{
    if (!item)
        return;
    memcpy(item, &p->free_list, sizeof(void *));
    poison(item, p->item_size);
    p->free_list = item;
    p->in_use--;
}

size_t pool_bytes(const struct pool *p)
{
    return p->slab_count * p->items_per_slab * p->item_size;
}
