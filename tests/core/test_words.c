/* core/words.h against a bytewise reference: for every class bound and
 * every byte value at every position of a word, and for random words, the
 * word test is nonzero exactly when some byte is of the class. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/words.h"

static bool any_below(const unsigned char b[8], unsigned n)
{
    for (int i = 0; i < 8; i++)
        if (b[i] < n)
            return true;
    return false;
}

static bool any_from(const unsigned char b[8], unsigned n)
{
    for (int i = 0; i < 8; i++)
        if (b[i] >= n)
            return true;
    return false;
}

static bool any_equal(const unsigned char b[8], unsigned char c)
{
    for (int i = 0; i < 8; i++)
        if (b[i] == c)
            return true;
    return false;
}

static void assert_agrees(const unsigned char b[8], unsigned n)
{
    uint64_t w = word_load(b);
    cr_assert_eq(word_has_below(w, n) != 0, any_below(b, n), "below 0x%02x", n);
    cr_assert_eq(word_has_from(w, n) != 0, any_from(b, n), "from 0x%02x", n);
    cr_assert_eq(word_has(w, (unsigned char)n) != 0, any_equal(b, (unsigned char)n), "== 0x%02x",
                 n);
}

Test(words, every_byte_at_every_place_among_plain_neighbours)
{
    for (unsigned n = 1; n <= 0x80; n++)
        for (int v = 0; v < 256; v++)
            for (int at = 0; at < 8; at++) {
                /* Neighbours just on the other side of the bound, where a
                 * borrow or carry would show first. */
                unsigned char b[8];
                for (int i = 0; i < 8; i++)
                    b[i] = (unsigned char)(n < 0x80 ? n : 0x7f);
                b[at] = (unsigned char)v;
                assert_agrees(b, n);
            }
}

Test(words, random_words)
{
    unsigned seed = 2026;
    for (int iter = 0; iter < 200000; iter++) {
        unsigned char b[8];
        for (int i = 0; i < 8; i++)
            b[i] = (unsigned char)rand_r(&seed);
        assert_agrees(b, 1 + (unsigned)rand_r(&seed) % 0x80);
    }
}
