/*
 * pcapgen_int: what the generator's own files share and nothing else sees:
 * the generator struct, a printf into the project's struct buf, and the
 * deterministic hash and PRNG every derived identifier comes from.
 */
#ifndef SIPTAP_TOOLS_PCAPGEN_INT_H
#define SIPTAP_TOOLS_PCAPGEN_INT_H

#include "core/buf.h"
#include "tools/pcapgen/pcapgen.h"

#define PCAPGEN_TEXT_MAX (1u << 24)

struct pcapgen_frame {
    uint64_t t_us;
    uint64_t order; /* insertion order, makes the sort stable */
    uint8_t *data;
    uint32_t len;
};

struct pcapgen {
    int linktype;
    uint64_t base_us;
    struct pcapgen_encap encap;
    uint16_t next_ip_id;
    uint32_t next_ip6_frag_id;
    struct pcapgen_frame *frames;
    size_t n_frames, cap_frames;
};

/* Appends printf output; aborts on allocation failure (a test tool). */
void pcapgen_buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NUL-terminates and hands the bytes over (caller frees). */
char *pcapgen_buf_take(struct buf *b, size_t *len_out);
void *pcapgen_xmalloc(size_t n);

uint64_t pcapgen_hash(const char *s);
uint64_t pcapgen_splitmix(uint64_t *state);

#endif
