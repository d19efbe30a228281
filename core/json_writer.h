/*
 * json_writer: JSON written straight into a caller's buffer, value by value,
 * byte for byte as jansson's json_dumpb(JSON_COMPACT | JSON_ENSURE_ASCII |
 * JSON_REAL_PRECISION(10)) writes the same tree (jansson 2.14's dump.c and
 * strconv.c: escapes, "\u%04X" in upper case, surrogate pairs, "%.10g" with
 * ".0" appended to integral reals and the exponent's '+' and leading zeros
 * removed).
 *
 * Every event is written with it (outputs/event.h): no tree is built, as a
 * tree costs an allocation per member to build and another to free, which
 * made most of a call's cost. Writing the bytes jansson writes keeps the
 * events what they were when they were trees, and lets jansson be the
 * oracle (tests/core/test_json_writer.c).
 *
 * Members and elements are separated by the writer: a value written right
 * after a key follows it, any other value or key after the first of its
 * object or array is preceded by a comma. Nothing checks that keys and
 * values alternate; the caller's code is the grammar.
 *
 * Failure is sticky and never writes past the buffer: a value that does not
 * fit, or a string that is not valid UTF-8 (jansson refuses those too), marks
 * the text failed and json_writer_finish returns 0.
 */
#ifndef SIPTAP_CORE_JSON_WRITER_H
#define SIPTAP_CORE_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_writer {
    char *start, *p, *end; /* end: the last byte, kept for the NUL */
    bool failed;
    bool fresh;   /* at the start of an object or array: no comma before the next item */
    bool keyed;   /* a key was just written: its value follows without a comma */
    bool on_heap; /* start was allocated by the text (json_writer_release frees it) */
    size_t limit; /* a growing text's largest size; 0: the buffer is all there is */
};

/* cap >= 1: the text and its NUL. */
void json_writer_init(struct json_writer *t, char *buf, size_t cap);
/* A text that starts in buf (cap >= 1 bytes, e.g. on the stack) and moves to
 * the heap, doubling, when it needs more, up to limit bytes: an event whose
 * size depends on the wire (a long User-Agent, many streams) is still
 * written whole. It fails only past limit or when memory is exhausted.
 * json_writer_release frees what it allocated. */
void json_writer_init_growing(struct json_writer *t, char *buf, size_t cap, size_t limit);
void json_writer_release(struct json_writer *t);
/* NUL-terminates the text and returns its length; 0 if it failed. */
size_t json_writer_finish(struct json_writer *t);

void json_writer_object_begin(struct json_writer *t);
void json_writer_object_end(struct json_writer *t);
void json_writer_array_begin(struct json_writer *t);
void json_writer_array_end(struct json_writer *t);
void json_writer_key(struct json_writer *t, const char *key, size_t len);

void json_writer_string(struct json_writer *t, const char *s, size_t len);
void json_writer_integer(struct json_writer *t, int64_t v);
/* A real that is not finite (jansson will not make one) is written null. */
void json_writer_real(struct json_writer *t, double v);
void json_writer_bool(struct json_writer *t, bool v);
void json_writer_null(struct json_writer *t);

/* Would json_writer_string accept s (is it valid UTF-8, no surrogates)? */
bool json_writer_valid_utf8(const char *s, size_t len);
/* The length of the valid UTF-8 sequence at s (n > 0 bytes left), 0 when
 * none begins there. */
size_t json_writer_utf8_length(const unsigned char *s, size_t n);

/* A JSON value written elsewhere (e.g. by jansson), copied as it is. */
void json_writer_raw_value(struct json_writer *t, const char *json, size_t len);

/* Appends members another json_writer wrote at its top level ("k":v,...,
 * without braces: a fragment), separated as one more member would be. */
void json_writer_fragment(struct json_writer *t, const char *members, size_t len);

/* The key of a member as a C string, its value written next (a container,
 * or a value of the caller's choosing). */
void json_writer_member_key(struct json_writer *t, const char *key);
/* A member whose key and value are C strings (the key plain ASCII). */
void json_writer_member_string(struct json_writer *t, const char *key, const char *value);
/* The same for a string copied from the wire: a byte that is not valid
 * UTF-8 is written as U+FFFD, so a call's Call-ID or user with a stray
 * byte still names it (never dropped, never failing the whole text). */
void json_writer_member_wire_string(struct json_writer *t, const char *key, const char *value);
void json_writer_wire_string(struct json_writer *t, const char *s, size_t len);
void json_writer_member_integer(struct json_writer *t, const char *key, int64_t value);
void json_writer_member_real(struct json_writer *t, const char *key, double value);
void json_writer_member_null(struct json_writer *t, const char *key);
void json_writer_member_bool(struct json_writer *t, const char *key, bool value);
/* value NULL: the member is null. */
void json_writer_member_string_or_null(struct json_writer *t, const char *key, const char *value);

#endif
