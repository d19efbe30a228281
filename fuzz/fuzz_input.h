/*
 * fuzz_input: reading a libFuzzer input as a run of fields, for the fuzz
 * targets. Each read takes what is left when the input runs short (a
 * length larger than the rest is cut to it), so every input is valid and
 * the fuzzer never wastes a run on a framing error.
 */
#ifndef SIPTAP_FUZZ_FUZZ_INPUT_H
#define SIPTAP_FUZZ_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fuzz_input {
    const uint8_t *p;
    size_t n;
};

static inline bool fuzz_more(const struct fuzz_input *in)
{
    return in->n > 0;
}

static inline uint8_t fuzz_u8(struct fuzz_input *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_input *in)
{
    uint16_t hi = fuzz_u8(in);
    return (uint16_t)(hi << 8 | fuzz_u8(in));
}

/* Up to len bytes; *got says how many. */
static inline const uint8_t *fuzz_bytes(struct fuzz_input *in, size_t len, size_t *got)
{
    const uint8_t *p = in->p;
    *got = len < in->n ? len : in->n;
    in->p += *got;
    in->n -= *got;
    return p;
}

/* A capture-time step: below 0x8000 in units of 100 us (up to 3.3 s, for
 * jitter), from 0x8000 in units of 10 ms (up to 327 s, past every
 * detector's window). */
static inline uint64_t fuzz_time_step_us(uint16_t v)
{
    return v & 0x8000 ? (uint64_t)(v & 0x7fff) * 10000u : (uint64_t)v * 100u;
}

#endif
