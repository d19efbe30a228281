/* core/json_writer: structure written member by member, compared byte for
 * byte with jansson's own compact dump of the same tree. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/json_writer.h"

#define DUMP_FLAGS                                                                                 \
    (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(10))

static void assert_text_is(const char *ours, size_t n, json_t *tree)
{
    char *theirs = json_dumps(tree, DUMP_FLAGS);
    cr_assert_not_null(theirs);
    cr_assert_eq(n, strlen(theirs), "length %zu, jansson's %zu:\n%s\n%s", n, strlen(theirs), ours,
                 theirs);
    cr_assert_str_eq(ours, theirs);
    free(theirs);
    json_decref(tree);
}

Test(core_json_writer, commas_nesting_and_empty_containers)
{
    char buf[512];
    struct json_writer t;
    json_writer_init(&t, buf, sizeof(buf));
    json_writer_object_begin(&t);
    json_writer_member_key(&t, "a");
    json_writer_integer(&t, -42);
    json_writer_member_key(&t, "empty_o");
    json_writer_object_begin(&t);
    json_writer_object_end(&t);
    json_writer_member_key(&t, "empty_a");
    json_writer_array_begin(&t);
    json_writer_array_end(&t);
    json_writer_member_key(&t, "list");
    json_writer_array_begin(&t);
    json_writer_integer(&t, 1);
    json_writer_object_begin(&t);
    json_writer_member_key(&t, "x");
    json_writer_null(&t);
    json_writer_member_key(&t, "y");
    json_writer_bool(&t, true);
    json_writer_object_end(&t);
    json_writer_array_begin(&t);
    json_writer_array_end(&t);
    json_writer_real(&t, 4.36);
    json_writer_string(&t, "q\"\n\xc3\xa9", 5);
    json_writer_array_end(&t);
    json_writer_member_key(&t, "f");
    json_writer_bool(&t, false);
    json_writer_member_key(&t, "big");
    json_writer_real(&t, 1.5e300);
    json_writer_object_end(&t);
    size_t n = json_writer_finish(&t);
    cr_assert_gt(n, 0);

    json_t *tree =
        json_pack("{s:i, s:{}, s:[], s:[i, {s:n, s:b}, [], f, s], s:b, s:f}", "a", -42, "empty_o",
                  "empty_a", "list", 1, "x", "y", 1, 4.36, "q\"\n\xc3\xa9", "f", 0, "big", 1.5e300);
    cr_assert_not_null(tree);
    assert_text_is(buf, n, tree);
}

Test(core_json_writer, top_level_values_and_arrays_of_objects)
{
    char buf[128];
    struct json_writer t;
    json_writer_init(&t, buf, sizeof(buf));
    json_writer_array_begin(&t);
    for (int i = 0; i < 3; i++) {
        json_writer_object_begin(&t);
        json_writer_member_key(&t, "i");
        json_writer_integer(&t, i);
        json_writer_object_end(&t);
    }
    json_writer_array_end(&t);
    size_t n = json_writer_finish(&t);
    assert_text_is(buf, n, json_pack("[{s:i},{s:i},{s:i}]", "i", 0, "i", 1, "i", 2));

    json_writer_init(&t, buf, sizeof(buf));
    json_writer_string(&t, "alone", 5);
    cr_assert_eq(json_writer_finish(&t), 7);
    cr_assert_str_eq(buf, "\"alone\"");
}

/* The text the next test writes into buffers of every size. */
static size_t write_sample(char *buf, size_t cap)
{
    struct json_writer t;
    json_writer_init(&t, buf, cap);
    json_writer_object_begin(&t);
    json_writer_member_key(&t, "name");
    json_writer_string(&t, "caf\xc3\xa9\t", 6);
    json_writer_member_key(&t, "n");
    json_writer_real(&t, 0.125);
    json_writer_object_end(&t);
    return json_writer_finish(&t);
}

/* Every length of buffer short of the text fails without writing past it;
 * the exact length plus its NUL succeeds. */
Test(core_json_writer, short_buffers_fail_and_stay_inside)
{
    char want[256];
    size_t len = write_sample(want, sizeof(want));
    cr_assert_gt(len, 0);
    for (size_t cap = 1; cap <= len + 1; cap++) {
        char buf[300];
        memset(buf, 'Z', sizeof(buf));
        size_t n = write_sample(buf, cap);
        if (cap <= len) {
            cr_assert_eq(n, 0, "cap %zu must fail", cap);
        } else {
            cr_assert_eq(n, len);
            cr_assert_str_eq(buf, want);
        }
        for (size_t i = cap; i < sizeof(buf); i++)
            cr_assert_eq(buf[i], 'Z', "cap %zu: byte %zu written", cap, i);
    }
}

Test(core_json_writer, utf8_validity_matches_what_strings_accept)
{
    static const struct {
        const char *s;
        bool valid;
    } cases[] = {
        {"PCMU", true},         {"caf\xc3\xa9", true},
        {"\xe2\x82\xac", true}, {"\xf0\x9f\x8e\xb5", true},
        {"\xc3", false},        {"\xe2\x82", false},
        {"\xc0\xaf", false},    {"\xed\xa0\x80", false},
        {"\xff", false},        {"\xf4\x90\x80\x80", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].s);
        cr_assert_eq(json_writer_valid_utf8(cases[i].s, len), cases[i].valid, "case %zu", i);
        char buf[64];
        struct json_writer t;
        json_writer_init(&t, buf, sizeof(buf));
        json_writer_string(&t, cases[i].s, len);
        cr_assert_eq(json_writer_finish(&t) != 0, cases[i].valid, "case %zu", i);
        json_t *j = json_stringn(cases[i].s, len);
        cr_assert_eq(j != NULL, cases[i].valid, "case %zu: jansson agrees", i);
        json_decref(j);
    }
}

Test(core_json_writer, reals_that_are_not_finite_are_null)
{
    char buf[64];
    struct json_writer t;
    json_writer_init(&t, buf, sizeof(buf));
    json_writer_array_begin(&t);
    json_writer_real(&t, INFINITY);
    json_writer_real(&t, -INFINITY);
    json_writer_real(&t, NAN);
    json_writer_real(&t, 0.5);
    json_writer_array_end(&t);
    cr_assert_gt(json_writer_finish(&t), 0);
    cr_assert_str_eq(buf, "[null,null,null,0.5]");
}

/* Members written apart (a fragment) join an object as its own would. */
Test(core_json_writer, fragments_and_members)
{
    char frag[128];
    struct json_writer f;
    json_writer_init(&f, frag, sizeof(frag));
    json_writer_member_string(&f, "s", "x");
    json_writer_member_wire_string(&f, "cut", "ab\xc3"); /* not UTF-8: U+FFFD for the byte */
    json_writer_member_integer(&f, "i", -7);
    json_writer_member_real(&f, "r", 0.25);
    json_writer_member_null(&f, "z");
    size_t n = json_writer_finish(&f);
    cr_assert_str_eq(frag, "\"s\":\"x\",\"cut\":\"ab\\uFFFD\",\"i\":-7,\"r\":0.25,\"z\":null");

    char buf[256];
    struct json_writer t;
    json_writer_init(&t, buf, sizeof(buf));
    json_writer_object_begin(&t);
    json_writer_fragment(&t, frag, n); /* first: no comma */
    json_writer_fragment(&t, "", 0);   /* empty: nothing */
    json_writer_member_integer(&t, "after", 1);
    json_writer_fragment(&t, frag, n);
    json_writer_object_end(&t);
    cr_assert_gt(json_writer_finish(&t), 0);
    cr_assert_str_eq(buf, "{\"s\":\"x\",\"cut\":\"ab\\uFFFD\",\"i\":-7,\"r\":0.25,\"z\":null,"
                          "\"after\":1,\"s\":\"x\",\"cut\":\"ab\\uFFFD\",\"i\":-7,\"r\":0.25,"
                          "\"z\":null}");
}

/* A growing text starts in the caller's buffer, moves to the heap when it
 * needs more, writes the same bytes as a text that never had to grow, and
 * fails (without writing past anything) only past its limit. */
static void write_members(struct json_writer *t, int count)
{
    json_writer_object_begin(t);
    for (int i = 0; i < count; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        json_writer_member_string(t, key, "a value of some length");
        json_writer_member_key(t, "nested");
        json_writer_array_begin(t);
        json_writer_real(t, i / 8.0);
        json_writer_wire_string(t, "caf\xc3\xa9 \xff", 7);
        json_writer_array_end(t);
    }
    json_writer_object_end(t);
}

Test(core_json_writer, growing_texts_move_to_the_heap_and_stop_at_their_limit)
{
    static char big[1 << 16];
    struct json_writer whole;
    json_writer_init(&whole, big, sizeof(big));
    write_members(&whole, 200);
    size_t want = json_writer_finish(&whole);
    cr_assert_gt(want, 8000);

    char small[16];
    struct json_writer g;
    json_writer_init_growing(&g, small, sizeof(small), 1 << 20);
    write_members(&g, 200);
    size_t n = json_writer_finish(&g);
    cr_assert_eq(n, want);
    cr_assert(g.on_heap, "the text left the caller's buffer");
    cr_assert_str_eq(g.start, big);
    json_writer_release(&g);

    /* The limit counts the NUL: one byte short of the text fails it. */
    json_writer_init_growing(&g, small, sizeof(small), want);
    write_members(&g, 200);
    cr_assert_eq(json_writer_finish(&g), 0);
    json_writer_release(&g);
    json_writer_init_growing(&g, small, sizeof(small), want + 1);
    write_members(&g, 200);
    cr_assert_eq(json_writer_finish(&g), want);
    json_writer_release(&g);

    /* A text that fits its buffer never allocates. */
    char roomy[256];
    json_writer_init_growing(&g, roomy, sizeof(roomy), 1 << 20);
    write_members(&g, 1);
    cr_assert_gt(json_writer_finish(&g), 0);
    cr_assert_not(g.on_heap);
    json_writer_release(&g);
}
