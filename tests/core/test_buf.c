/* Tests of core/buf: growth, the hard cap, consume. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/buf.h"

Test(buf, append_consume_and_cap)
{
    struct buf b;
    buf_init(&b, 1000);
    char chunk[300];
    memset(chunk, 'x', sizeof(chunk));
    cr_assert(buf_append(&b, chunk, 300));
    cr_assert(buf_append(&b, chunk, 300));
    cr_assert(buf_append(&b, chunk, 300));
    cr_assert_not(buf_append(&b, chunk, 300), "past the cap must fail");
    cr_assert_eq(b.len, 900);
    cr_assert(buf_append(&b, "abc", 3));
    buf_consume(&b, 900);
    cr_assert_eq(b.len, 3);
    cr_assert_eq(memcmp(b.data, "abc", 3), 0);
    buf_consume(&b, 10);
    cr_assert_eq(b.len, 0);
    buf_free(&b);
}
