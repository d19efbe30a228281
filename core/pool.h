/*
 * pool: fixed-size items carved out of large aligned slabs, for structures
 * made and freed by the hundred thousand whose alignment matters (RTP flows
 * are cache-line aligned). aligned_alloc of one 320-byte flow costs glibc
 * about 70 bytes besides it (the alignment's leftovers and a header); a
 * slab's items cost nothing besides themselves (docs/benchmarks.md, memory).
 *
 * Freed items go on a free list threaded through them and are reused before
 * a new slab is taken; slabs are given back only by pool_destroy, so the
 * pool holds its peak, as malloc's arenas mostly do too. Not thread-safe.
 */
#ifndef SIPTAP_CORE_POOL_H
#define SIPTAP_CORE_POOL_H

#include <stdbool.h>
#include <stddef.h>

struct pool {
    size_t item_size; /* a multiple of the alignment */
    size_t align;     /* a power of two, at least sizeof(void *) */
    size_t items_per_slab;
    void *free_list;         /* freed items, each holding the next's address */
    char *fresh, *fresh_end; /* the newest slab's items never handed out */
    void **slabs;
    size_t slab_count, slab_capacity;
    size_t in_use;
};

/* Items of `size` bytes aligned to `align` (a power of two), taken from
 * slabs of about slab_bytes. */
void pool_init(struct pool *p, size_t size, size_t align, size_t slab_bytes);
void pool_destroy(struct pool *p);
/* A zeroed item, or NULL when no slab can be had. */
void *pool_get(struct pool *p);
/* Gives an item of this pool back. */
void pool_put(struct pool *p, void *item);
/* Items handed out and not given back. */
static inline size_t pool_in_use(const struct pool *p)
{
    return p->in_use;
}
/* Bytes of slabs held. */
size_t pool_bytes(const struct pool *p);

#endif
