/*
 * words: whether any of eight bytes is of a class, tested on the whole
 * 64-bit word at once (the classic word-at-a-time tricks), for scans that
 * skip plain runs of text eight bytes a step and look bytewise only at the
 * word that holds something else.
 *
 * Each test answers exactly whether some byte of the word is of the class
 * (nonzero or 0); which byte it is must be found bytewise, as borrows and
 * carries may mark bytes next to a true one. Byte order does not matter.
 */
#ifndef SIPTAP_CORE_WORDS_H
#define SIPTAP_CORE_WORDS_H

#include <stdint.h>
#include <string.h>

#define WORD_ONES  0x0101010101010101ULL
#define WORD_HIGHS 0x8080808080808080ULL

static inline uint64_t word_load(const void *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* Some byte is below n (1 <= n <= 0x80). With no byte below n no byte
 * borrows, so nothing is marked; bytes from 0x80 up are masked by ~w. */
static inline uint64_t word_has_below(uint64_t w, unsigned n)
{
    return (w - WORD_ONES * n) & ~w & WORD_HIGHS;
}

/* Some byte is n or above (1 <= n <= 0x80). With every byte below n, adding
 * 0x80 - n to each carries nowhere and sets no high bit. */
static inline uint64_t word_has_from(uint64_t w, unsigned n)
{
    return ((w + WORD_ONES * (0x80 - n)) | w) & WORD_HIGHS;
}

/* Some byte equals c: a zero byte of w ^ c in each byte. */
static inline uint64_t word_has(uint64_t w, unsigned char c)
{
    return word_has_below(w ^ (WORD_ONES * c), 1);
}

#endif
