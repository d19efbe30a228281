/*
 * json_writer: see json_writer.h. The rules reproduced are jansson 2.14's
 * dump.c and strconv.c.
 */
#include "core/json_writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/words.h"

/* Room for n more bytes (and the NUL) when there is not: a growing text
 * moves to a buffer twice as large (at most its limit), any other fails.
 * Out of line: the writers below inline only the test. */
__attribute__((noinline)) static bool grow(struct json_writer *o, size_t n)
{
    size_t used = (size_t)(o->p - o->start), cap = (size_t)(o->end - o->start) + 1;
    if (o->failed || o->limit == 0 || used + n + 1 > o->limit) {
        o->failed = true;
        return false;
    }
    size_t want = cap * 2;
    while (want < used + n + 1)
        want *= 2;
    if (want > o->limit)
        want = o->limit;
    char *bigger = o->on_heap ? realloc(o->start, want) : malloc(want);
    if (!bigger) {
        o->failed = true;
        return false;
    }
    if (!o->on_heap)
        memcpy(bigger, o->start, used);
    o->start = bigger;
    o->p = bigger + used;
    o->end = bigger + want - 1;
    o->on_heap = true;
    return true;
}

static inline bool room(struct json_writer *o, size_t n)
{
    return (size_t)(o->end - o->p) >= n || grow(o, n);
}

static inline void put(struct json_writer *o, const char *s, size_t n)
{
    if (!room(o, n))
        return;
    memcpy(o->p, s, n);
    o->p += n;
}

static inline void put_char(struct json_writer *o, char c)
{
    if (!room(o, 1))
        return;
    *o->p++ = c;
}

static void put_u4(struct json_writer *o, unsigned cp)
{
    static const char hex[] = "0123456789ABCDEF";
    char seq[6] = {'\\',        'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
                   hex[cp & 15]};
    put(o, seq, sizeof(seq));
}

/* One UTF-8 sequence at s (n > 0 bytes left): its length and code point, or
 * 0 when it is malformed, overlong, a surrogate or past U+10FFFF. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* Bytes a JSON string holds as they are: printable ASCII but '"' and '\\'
 * (one load a byte, where the tests below are several). */
static const unsigned char plain_bytes[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static inline bool plain_byte(unsigned char c)
{
    return plain_bytes[c];
}

/* Are all eight bytes of w plain (as plain_byte)? See core/words.h. */
static bool plain_word(uint64_t w)
{
    return !(word_has_below(w, 0x20) | word_has_from(w, 0x80) | word_has(w, '"') |
             word_has(w, '\\'));
}

/* A JSON string of str: a byte that begins no valid UTF-8 sequence fails
 * the text, or, with replace (strings from the wire), is written as U+FFFD,
 * the replacement character, as Wireshark and Python's errors="replace"
 * show it. */
/* Is the whole of s[0..len) plain (nothing to escape, ASCII)? */
static inline bool plain_run(const unsigned char *s, size_t len)
{
    const unsigned char *end = s + len;
    while (end - s >= 8) {
        if (!plain_word(word_load(s)))
            return false;
        s += 8;
    }
    while (s < end)
        if (!plain_byte(*s++))
            return false;
    return true;
}

/* The common case, a plain string: quoted and copied at once. */
static inline bool put_plain_string(struct json_writer *o, const char *str, size_t len)
{
    if (!plain_run((const unsigned char *)str, len) || !room(o, len + 2))
        return false;
    char *p = o->p;
    *p++ = '"';
    memcpy(p, str, len);
    p += len;
    *p++ = '"';
    o->p = p;
    return true;
}

static void put_string(struct json_writer *o, const char *str, size_t len, bool replace)
{
    if (put_plain_string(o, str, len))
        return;
    const unsigned char *s = (const unsigned char *)str, *end = s + len;
    put_char(o, '"');
    while (s < end && !o->failed) {
        const unsigned char *run = s;
        /* Event strings are mostly plain: eight bytes a step, then bytewise
         * up to the byte that needs escaping. */
        while (end - s >= 8 && plain_word(word_load(s)))
            s += 8;
        while (s < end && plain_byte(*s))
            s++;
        put(o, (const char *)run, (size_t)(s - run));
        if (s == end)
            break;
        uint32_t cp;
        size_t n = utf8_next(s, (size_t)(end - s), &cp);
        if (n == 0 && !replace) {
            o->failed = true;
            return;
        }
        if (n == 0) {
            n = 1;
            cp = 0xFFFD;
        }
        s += n;
        switch (cp) {
        case '"':
            put(o, "\\\"", 2);
            break;
        case '\\':
            put(o, "\\\\", 2);
            break;
        case '\b':
            put(o, "\\b", 2);
            break;
        case '\f':
            put(o, "\\f", 2);
            break;
        case '\n':
            put(o, "\\n", 2);
            break;
        case '\r':
            put(o, "\\r", 2);
            break;
        case '\t':
            put(o, "\\t", 2);
            break;
        default:
            if (cp < 0x10000) {
                put_u4(o, cp);
            } else {
                cp -= 0x10000;
                put_u4(o, 0xD800 | (cp >> 10));
                put_u4(o, 0xDC00 | (cp & 0x3FF));
            }
        }
    }
    put_char(o, '"');
}

static void put_uint(struct json_writer *o, uint64_t v)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[sizeof(digits) - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(o, digits + sizeof(digits) - n, n);
}

static void put_integer(struct json_writer *o, int64_t v)
{
    if (v < 0) {
        put_char(o, '-');
        put_uint(o, (uint64_t)0 - (uint64_t)v);
    } else {
        put_uint(o, (uint64_t)v);
    }
}

/* jansson's jsonp_dtostr with precision 10, for the reals the fast path
 * leaves: "%.10g", the locale's decimal point back to '.', ".0" when neither
 * a point nor an exponent shows, and the exponent without '+' or leading
 * zeros. */
static void put_real_slow(struct json_writer *o, double v)
{
    char buf[48];
    int n = snprintf(buf, sizeof(buf) - 3, "%.10g", v);
    if (n < 0 || (size_t)n >= sizeof(buf) - 3) {
        o->failed = true;
        return;
    }
    size_t len = (size_t)n;
    for (char *c = buf; *c; c++)
        if (*c == ',')
            *c = '.';
    if (!strchr(buf, '.') && !strchr(buf, 'e')) {
        memcpy(buf + len, ".0", 3);
        len += 2;
    }
    char *e = strchr(buf, 'e');
    if (e) {
        char *start = e + 1, *digits = start + 1;
        if (*start == '-')
            start++;
        while (*digits == '0')
            digits++;
        if (digits != start) {
            memmove(start, digits, len - (size_t)(digits - buf) + 1);
            len -= (size_t)(digits - start);
        }
    }
    put(o, buf, len);
}

/* A real that is the double nearest a decimal with at most three places and
 * ten significant digits prints under "%.10g" as exactly that decimal (its
 * error is far below the tenth digit, and 0.001 <= |v| < 1e7 keeps %g out of
 * exponent form), so its digits are written directly. */
static void put_real(struct json_writer *o, double v)
{
    double a = fabs(v);
    if (a < 1e7 && (a >= 0.001 || (v == 0.0 && !signbit(v)))) {
        long long k = llround(v * 1000.0);
        if ((double)k / 1000.0 == v) {
            uint64_t m = k < 0 ? (uint64_t)0 - (uint64_t)k : (uint64_t)k;
            if (k < 0)
                put_char(o, '-');
            put_uint(o, m / 1000);
            unsigned frac = (unsigned)(m % 1000);
            char f[4] = {'.', (char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
                         (char)('0' + frac % 10)};
            size_t n = 4;
            while (n > 2 && f[n - 1] == '0')
                n--;
            put(o, f, n);
            return;
        }
    }
    put_real_slow(o, v);
}

void json_writer_init(struct json_writer *t, char *buf, size_t cap)
{
    t->start = t->p = buf;
    t->end = buf + cap - 1;
    t->failed = false;
    t->fresh = true;
    t->keyed = false;
    t->on_heap = false;
    t->limit = 0;
}

void json_writer_init_growing(struct json_writer *t, char *buf, size_t cap, size_t limit)
{
    json_writer_init(t, buf, cap);
    t->limit = limit > cap ? limit : 0;
}

void json_writer_release(struct json_writer *t)
{
    if (t->on_heap)
        free(t->start);
    t->on_heap = false;
    t->start = t->p = t->end = NULL;
    t->failed = true;
}

size_t json_writer_finish(struct json_writer *t)
{
    if (t->failed)
        return 0;
    *t->p = '\0';
    return (size_t)(t->p - t->start);
}

/* The separator a value or key needs before it. */
static void item(struct json_writer *t)
{
    if (t->keyed)
        t->keyed = false;
    else if (!t->fresh)
        put_char(t, ',');
    t->fresh = false;
}

void json_writer_object_begin(struct json_writer *t)
{
    item(t);
    put_char(t, '{');
    t->fresh = true;
}

void json_writer_object_end(struct json_writer *t)
{
    put_char(t, '}');
    t->fresh = false;
}

void json_writer_array_begin(struct json_writer *t)
{
    item(t);
    put_char(t, '[');
    t->fresh = true;
}

void json_writer_array_end(struct json_writer *t)
{
    put_char(t, ']');
    t->fresh = false;
}

void json_writer_key(struct json_writer *t, const char *key, size_t len)
{
    item(t);
    put_string(t, key, len, false);
    put_char(t, ':');
    t->keyed = true;
}

/* A member's key: a C string from the code, plain nearly always. */
static inline void member_key(struct json_writer *t, const char *key)
{
    size_t len = strlen(key);
    if (!t->fresh && !t->keyed) {
        if (!plain_run((const unsigned char *)key, len) || !room(t, len + 4)) {
            json_writer_key(t, key, len);
            return;
        }
        char *p = t->p;
        *p++ = ',';
        *p++ = '"';
        memcpy(p, key, len);
        p += len;
        *p++ = '"';
        *p++ = ':';
        t->p = p;
        t->keyed = true;
        return;
    }
    json_writer_key(t, key, len);
}

void json_writer_string(struct json_writer *t, const char *s, size_t len)
{
    item(t);
    put_string(t, s, len, false);
}

void json_writer_wire_string(struct json_writer *t, const char *s, size_t len)
{
    item(t);
    put_string(t, s, len, true);
}

void json_writer_integer(struct json_writer *t, int64_t v)
{
    item(t);
    put_integer(t, v);
}

void json_writer_real(struct json_writer *t, double v)
{
    item(t);
    if (isfinite(v))
        put_real(t, v);
    else
        put(t, "null", 4);
}

void json_writer_bool(struct json_writer *t, bool v)
{
    item(t);
    if (v)
        put(t, "true", 4);
    else
        put(t, "false", 5);
}

void json_writer_null(struct json_writer *t)
{
    item(t);
    put(t, "null", 4);
}

size_t json_writer_utf8_length(const unsigned char *s, size_t n)
{
    uint32_t cp;
    return n ? utf8_next(s, n, &cp) : 0;
}

bool json_writer_valid_utf8(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + len;
    while (s < end) {
        uint32_t cp;
        size_t n = utf8_next(s, (size_t)(end - s), &cp);
        if (n == 0)
            return false;
        s += n;
    }
    return true;
}

void json_writer_raw_value(struct json_writer *t, const char *json, size_t len)
{
    item(t);
    put(t, json, len);
}

void json_writer_fragment(struct json_writer *t, const char *members, size_t len)
{
    if (len == 0)
        return;
    item(t);
    put(t, members, len);
}

void json_writer_member_key(struct json_writer *t, const char *key)
{
    member_key(t, key);
}

void json_writer_member_string(struct json_writer *t, const char *key, const char *value)
{
    member_key(t, key);
    json_writer_string(t, value, strlen(value));
}

void json_writer_member_wire_string(struct json_writer *t, const char *key, const char *value)
{
    member_key(t, key);
    json_writer_wire_string(t, value, strlen(value));
}

void json_writer_member_integer(struct json_writer *t, const char *key, int64_t value)
{
    member_key(t, key);
    json_writer_integer(t, value);
}

void json_writer_member_real(struct json_writer *t, const char *key, double value)
{
    member_key(t, key);
    json_writer_real(t, value);
}

void json_writer_member_null(struct json_writer *t, const char *key)
{
    member_key(t, key);
    json_writer_null(t);
}

void json_writer_member_bool(struct json_writer *t, const char *key, bool value)
{
    member_key(t, key);
    json_writer_bool(t, value);
}

void json_writer_member_string_or_null(struct json_writer *t, const char *key, const char *value)
{
    if (value)
        json_writer_member_string(t, key, value);
    else
        json_writer_member_null(t, key);
}
