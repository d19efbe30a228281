/* outputs/json_write against jansson's own dumper, which it replaces on the
 * capture path: the two must agree byte for byte on reals (the fast decimal
 * path and the snprintf one), integers, escapes, non-ASCII and nesting, and
 * on every event siptapd writes for the bundled demo capture. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_text.h"
#include "outputs/json_write.h"
#include "outputs/sink.h"
#include "tests/support/event_capture.h"
#include "tests/support/event_schema.h"

/* The daemon's flags; ENCODE_ANY lets jansson dump the bare values tested. */
#define DUMP_FLAGS                                                                                 \
    (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(10) |            \
     JSON_ENCODE_ANY)

static void assert_same(const json_t *v, const char *what)
{
    char ours[8192], theirs[8192];
    size_t n = json_write(v, ours, sizeof(ours));
    size_t m = json_dumpb(v, theirs, sizeof(theirs) - 1, DUMP_FLAGS);
    cr_assert_gt(m, 0, "%s: jansson could not dump it", what);
    theirs[m] = '\0';
    cr_assert_eq(n, m, "%s: length %zu, jansson %zu (%s vs %s)", what, n, m, ours, theirs);
    cr_assert_str_eq(ours, theirs, "%s", what);
}

static void assert_real(double d)
{
    json_t *v = json_real(d);
    cr_assert_not_null(v);
    char what[64];
    snprintf(what, sizeof(what), "real %.17g", d);
    assert_same(v, what);
    json_decref(v);
}

Test(json_write, reals_at_the_edges)
{
    const double cases[] = {0.0,
                            -0.0,
                            1.0,
                            -1.0,
                            20.0,
                            4.36,
                            90.8,
                            0.001,
                            -0.001,
                            0.0005,
                            0.0009999,
                            1e7,
                            -1e7,
                            9999999.999,
                            9999999.99,
                            1e-5,
                            1.5e-7,
                            123456789.123,
                            1e20,
                            -1e-300,
                            1e300,
                            0.1,
                            0.1 + 0.2,
                            2.675,
                            1.0 / 3.0,
                            4.3599999,
                            99.9995,
                            0.0015,
                            1234567.891,
                            5e-324,
                            1.7976931348623157e308};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_real(cases[i]);
}

Test(json_write, reals_random)
{
    /* Decimals of up to three places (the fast path), then arbitrary bit
     * patterns (mostly the snprintf path). */
    uint64_t x = 0x243F6A8885A308D3ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        long long k = (long long)(x % 20000000000ULL) - 10000000000LL;
        int scale = (int)(x >> 60) % 4;
        assert_real((double)k / (scale == 0   ? 1.0
                                 : scale == 1 ? 10.0
                                 : scale == 2 ? 100.0
                                              : 1000.0));
        double d;
        memcpy(&d, &x, sizeof(d));
        if (isfinite(d))
            assert_real(d);
    }
}

Test(json_write, integers)
{
    const json_int_t cases[] = {0,         1,         -1,           9, 10, 99, 100, 1234567890123LL,
                                INT64_MAX, INT64_MIN, INT64_MIN + 1};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *v = json_integer(cases[i]);
        assert_same(v, "integer");
        json_decref(v);
    }
}

Test(json_write, strings_escapes_and_unicode)
{
    char all_controls[40];
    for (int c = 1; c < 0x20; c++)
        all_controls[c - 1] = (char)c;
    memcpy(all_controls + 31, "\"\\/\x7f", 5);
    const char *cases[] = {"",
                           "plain ascii",
                           all_controls,
                           "Caf\xc3\xa9 \xe2\x82\xac \xe4\xb8\xad",  /* 2- and 3-byte */
                           "astral \xf0\x9f\x93\x9e end",            /* U+1F4DE: a pair */
                           "\xef\xbf\xbf max BMP, \xf4\x8f\xbf\xbf", /* U+FFFF, U+10FFFF */
                           "sip:+15551234567@203.0.113.1;user=phone"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *v = json_string(cases[i]);
        cr_assert_not_null(v, "case %zu", i);
        assert_same(v, cases[i]);
        json_decref(v);
    }
    /* An embedded NUL is written as \u0000 by both. */
    json_t *nul = json_stringn("a\0b", 3);
    assert_same(nul, "embedded NUL");
    json_decref(nul);
}

Test(json_write, every_ascii_byte_at_every_place_of_a_word)
{
    /* Plain runs are found eight bytes at a time: each byte that needs an
     * escape (and each that does not) must be found wherever it falls in or
     * across a word, with plain bytes of every value around it. */
    for (int c = 0; c < 0x80; c++) {
        for (size_t at = 0; at < 19; at++) {
            char text[19];
            for (size_t i = 0; i < sizeof(text); i++)
                text[i] = (char)(0x20 + (i * 7 + (size_t)c) % 0x60); /* all plain but 0x7f */
            text[at] = (char)c;
            json_t *v = json_stringn(text, sizeof(text));
            cr_assert_not_null(v);
            char what[48];
            snprintf(what, sizeof(what), "byte 0x%02x at %zu", c, at);
            assert_same(v, what);
            json_decref(v);
        }
    }
}

Test(json_write, invalid_utf8_is_refused_like_jansson)
{
    const char *bad[] = {"\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff", "a\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *v = json_stringn_nocheck(bad[i], strlen(bad[i]));
        char buf[64];
        cr_assert_eq(json_write(v, buf, sizeof(buf)), 0, "case %zu must be refused", i);
        cr_assert_eq(json_dumpb(v, buf, sizeof(buf), DUMP_FLAGS), 0, "jansson refuses case %zu", i);
        json_decref(v);
    }
}

Test(json_write, nesting_order_and_overflow)
{
    json_t *ev = json_pack("{s:i, s:s, s:[], s:{}, s:[{s:f, s:n, s:b}, [i, f, s]], s:o}", "v", 1,
                           "type", "call_end", "empty_a", "empty_o", "streams", "mos", 4.36, "none",
                           "ok", 1, 1, 2.5, "x", "z", json_false());
    cr_assert_not_null(ev);
    /* Keys added later come later, whatever their hash. */
    for (int i = 0; i < 40; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%02d", 39 - i);
        json_object_set_new(ev, key, json_integer(i));
    }
    assert_same(ev, "nested event");
    char small[16];
    cr_assert_eq(json_write(ev, small, sizeof(small)), 0, "a buffer too small is refused");
    json_decref(ev);
}

Test(json_write, every_event_of_the_demo_capture)
{
    const char *siptapd = getenv("SIPTAPD"), *root = getenv("SIPTAP_SOURCE_ROOT");
    cr_assert(siptapd && root, "run through meson test");
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "%s -c %s/samples/demo.conf -r %s/samples/demo.pcap -o - -n t",
             siptapd, root, root);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char *line = NULL;
    size_t cap = 0;
    int events = 0;
    while (getline(&line, &cap, p) > 0) {
        json_error_t err;
        json_t *ev = json_loads(line, 0, &err);
        cr_assert_not_null(ev, "siptapd wrote a line that is not JSON: %s", line);
        event_schema_check(ev);
        assert_same(ev, line);
        json_decref(ev);
        events++;
    }
    free(line);
    cr_assert_eq(pclose(p), 0);
    cr_assert_gt(events, 10, "the demo capture gives events (%d)", events);
}

static void add_path(void *user, const struct event_info *info, struct event_extra *extra)
{
    int *calls = user;
    (*calls)++;
    if (info->severity >= SEVERITY_WARNING && info->call_id)
        cr_assert(event_extra_add(extra, "capture_path", "/var/lib/siptap/x.pcap"));
}

/* An event written as text has the same stamped members, in the same order,
 * as one built with event_new, then the producer's members, then what the
 * pre-publish hook added; its record parses back on demand. */
Test(event_bus, members_written_as_text)
{
    struct event_bus bus;
    event_bus_init(&bus, "tap\"1");
    int hook_calls = 0;
    event_bus_set_prepublish(&bus, add_path, &hook_calls);
    struct event_capture *cap = event_capture_attach(&bus);
    event_capture_skip_schema(cap); /* made-up events: a call_start of two members */

    char buf[512];
    struct json_text t;
    json_text_init(&t, buf, sizeof(buf));
    json_text_member_string(&t, "from", "alice");
    json_text_member_wire_string(&t, "bad", "cut\xc3"); /* not UTF-8: U+FFFD for the byte */
    json_text_member_integer(&t, "setup_ms", 1500);
    struct event_head head = {"call_start", SEVERITY_INFO, 1700000000123456ull, "c\"1", NULL};
    event_bus_publish_members(&bus, &head, buf, json_text_finish(&t));
    struct event_head alert = {"one_way_audio", SEVERITY_WARNING, 1700000000123456ull, "c2",
                               "carrier"};
    event_bus_publish_members(&bus, &alert, "", 0);
    cr_assert_eq(hook_calls, 2);
    cr_assert_eq(event_capture_count(cap), 2);

    json_t *ev = event_new("call_start", SEVERITY_INFO, 1700000000123456ull, "c\"1", NULL);
    json_object_set_new(ev, "seq", json_integer(1));
    json_object_set_new(ev, "tap", json_string("tap\"1"));
    json_object_set_new(ev, "from", json_string("alice"));
    json_object_set_new(ev, "bad", json_string("cut\xef\xbf\xbd"));
    json_object_set_new(ev, "setup_ms", json_integer(1500));
    char *want = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    char *got = json_dumps(event_capture_get(cap, 0),
                           JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    cr_assert_str_eq(got, want);
    free(want);
    free(got);
    json_decref(ev);

    json_t *a = event_capture_get(cap, 1);
    cr_assert_str_eq(json_string_value(json_object_get(a, "trunk")), "carrier");
    cr_assert_str_eq(json_string_value(json_object_get(a, "capture_path")),
                     "/var/lib/siptap/x.pcap");
    cr_assert_eq(json_integer_value(json_object_get(a, "seq")), 2);
    event_bus_destroy(&bus);
}

/* A sink that keeps what it is given queued. */
static int hold_start(struct sink *s, struct ev_loop *loop)
{
    (void)s;
    (void)loop;
    return 0;
}
static void hold_wake(struct sink *s)
{
    (void)s;
}
static void hold_drain(struct sink *s, double timeout_s)
{
    (void)s;
    (void)timeout_s;
}
static void hold_destroy(struct sink *s)
{
    sink_base_destroy(s);
    free(s);
}
static const struct sink_ops hold_ops = {
    .kind = "hold",
    .start = hold_start,
    .wake = hold_wake,
    .drain = hold_drain,
    .destroy = hold_destroy,
};

/* bus, initialised with one sink that holds what it is given: returned. */
static struct sink *bus_with_holding_sink(struct event_bus *bus)
{
    event_bus_init(bus, "t");
    struct sink *s = calloc(1, sizeof(*s));
    cr_assert(sink_base_init(s, &hold_ops, "hold", 8));
    event_bus_add_sink(bus, s);
    return s;
}

/* The record of a text event: type, severity and key for the sinks, and a
 * jansson object only when a sink asks for one. */
Test(event_bus, record_of_a_text_event)
{
    struct event_bus bus;
    struct sink *s = bus_with_holding_sink(&bus);
    struct event_head head = {"call_answer", SEVERITY_NOTICE, 1, "cid", "trunk1"};
    event_bus_publish_members(&bus, &head, "\"x\":1", 5);
    struct event_record *r = sink_queue_peek(s, 0);
    cr_assert_not_null(r);
    cr_assert_str_eq(r->type, "call_answer");
    cr_assert_eq(r->severity, SEVERITY_NOTICE);
    cr_assert_str_eq(r->key, "cid");
    cr_assert_null(r->obj);
    json_t *o = event_record_obj(r);
    cr_assert_eq(json_integer_value(json_object_get(o, "x")), 1);
    cr_assert_eq(event_record_obj(r), o, "parsed once");
    cr_assert_eq(strlen(r->text), r->len);
    event_bus_destroy(&bus);
}

/* A producer whose text failed publishes nothing, and it is counted: an
 * event without its own members would break the contract silently. */
Test(event_bus, failed_members_are_counted_not_published)
{
    struct event_bus bus;
    struct sink *s = bus_with_holding_sink(&bus);
    struct event_head head = {"call_end", SEVERITY_INFO, 1, "cid", NULL};
    cr_assert_eq(event_bus_publish_members(&bus, &head, NULL, 0), 1);
    cr_assert_null(sink_queue_peek(s, 0));
    cr_assert_eq(bus.serialise_failures, 1);
    cr_assert_eq(bus.published, 0);
    event_bus_publish_members(&bus, &head, "", 0);
    cr_assert_not_null(sink_queue_peek(s, 0), "no members of its own is still an event");
    event_bus_destroy(&bus);
}

Test(event_bus, extra_members_are_capped)
{
    struct event_extra x = {0};
    for (int i = 0; i < EVENT_EXTRA_MAX; i++)
        cr_assert(event_extra_add(&x, "k", "v"));
    cr_assert_not(event_extra_add(&x, "k", "v"));
    cr_assert_eq(x.count, EVENT_EXTRA_MAX);
}
