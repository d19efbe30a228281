/*
 * json_schema: the validator of json_schema.h. One recursive function walks
 * a schema and an instance side by side, keyword by keyword, keeping the
 * JSON pointer of the instance it is at for the message; the first keyword
 * that fails writes "pointer: what" and the failure propagates up. The
 * combinators (anyOf, oneOf, not, if) try their branches and keep the
 * message of the first branch that failed, so a refusal still says where.
 * Compiled patterns are cached by schema node: the schema lives as long as
 * the process (the tests load it once).
 */
#include "tests/support/json_schema.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 512
#define MAX_DEPTH    64
#define PATTERNS_MAX 64
#define MESSAGE_LEN  1024

struct walk {
    const json_t *root;
    char path[PATH_MAX_LEN];
    size_t path_len;
    int depth;
    char message[MESSAGE_LEN];
};

/* ---- patterns ---- */

struct compiled_pattern {
    const json_t *node;
    regex_t re;
};

static struct compiled_pattern patterns[PATTERNS_MAX];
static size_t pattern_count;

/* The compiled form of the pattern string node; NULL if it does not compile
 * (or the cache is full). */
static const regex_t *pattern_get(const json_t *node)
{
    for (size_t i = 0; i < pattern_count; i++)
        if (patterns[i].node == node)
            return &patterns[i].re;
    if (pattern_count == PATTERNS_MAX)
        return NULL;
    struct compiled_pattern *p = &patterns[pattern_count];
    if (regcomp(&p->re, json_string_value(node), REG_EXTENDED | REG_NOSUB) != 0)
        return NULL;
    p->node = node;
    pattern_count++;
    return &p->re;
}

/* ---- helpers ---- */

static bool fail(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(struct walk *w, const char *fmt, ...)
{
    int n = snprintf(w->message, sizeof(w->message), "%s: ", w->path_len ? w->path : "(root)");
    if (n < 0 || (size_t)n >= sizeof(w->message))
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->message + n, sizeof(w->message) - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

/* Appends "/token" (escaped as RFC 6901 says) to the path; returns the old
 * length for path_pop. */
static size_t path_push(struct walk *w, const char *token)
{
    size_t old = w->path_len;
    if (w->path_len + 1 < sizeof(w->path))
        w->path[w->path_len++] = '/';
    for (const char *p = token; *p && w->path_len + 2 < sizeof(w->path); p++) {
        if (*p == '~' || *p == '/') {
            w->path[w->path_len++] = '~';
            w->path[w->path_len++] = *p == '~' ? '0' : '1';
        } else {
            w->path[w->path_len++] = *p;
        }
    }
    w->path[w->path_len] = '\0';
    return old;
}

static size_t path_push_index(struct walk *w, size_t i)
{
    char token[24];
    snprintf(token, sizeof(token), "%zu", i);
    return path_push(w, token);
}

static void path_pop(struct walk *w, size_t old)
{
    w->path_len = old;
    w->path[old] = '\0';
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

/* JSON Schema's type names: an integral real is an integer too. */
static bool is_type(const json_t *v, const char *name)
{
    if (!strcmp(name, "integer")) {
        if (json_is_integer(v))
            return true;
        double d = json_is_real(v) ? json_real_value(v) : NAN;
        return isfinite(d) && floor(d) == d;
    }
    if (!strcmp(name, "number"))
        return json_is_number(v);
    if (!strcmp(name, "boolean"))
        return json_is_boolean(v);
    return !strcmp(name, type_name(v));
}

/* JSON Schema's equality: numbers by value (1 equals 1.0), never a boolean
 * equal to a number, objects and arrays member by member. */
static bool schema_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!schema_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        for (void *it = json_object_iter((json_t *)a); it;
             it = json_object_iter_next((json_t *)a, it)) {
            const json_t *o = json_object_get(b, json_object_iter_key(it));
            if (!o || !schema_equal(json_object_iter_value(it), o))
                return false;
        }
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

/* A short rendering of a value for messages. */
static void describe(const json_t *v, char *out, size_t len)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(out, len, "%s", text ? text : "?");
    if (text && strlen(text) >= len && len > 4)
        memcpy(out + len - 4, "...", 4);
    free(text);
}

/* Code points of a UTF-8 string (jansson holds only valid UTF-8). */
static size_t utf8_length(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* The node "#/a/b" names in root; NULL if none. */
static const json_t *resolve_ref(const json_t *root, const char *ref)
{
    if (ref[0] != '#')
        return NULL;
    const json_t *node = root;
    const char *p = ref + 1;
    while (*p == '/') {
        p++;
        char token[256];
        size_t n = 0;
        while (*p && *p != '/' && n + 1 < sizeof(token)) {
            if (p[0] == '~' && (p[1] == '0' || p[1] == '1')) {
                token[n++] = p[1] == '0' ? '~' : '/';
                p += 2;
            } else {
                token[n++] = *p++;
            }
        }
        token[n] = '\0';
        if (json_is_object(node)) {
            node = json_object_get(node, token);
        } else if (json_is_array(node)) {
            char *end;
            unsigned long i = strtoul(token, &end, 10);
            node = *end ? NULL : json_array_get(node, i);
        } else {
            node = NULL;
        }
        if (!node)
            return NULL;
    }
    return *p ? NULL : node;
}

/* ---- validation ---- */

static bool validate(struct walk *w, const json_t *schema, const json_t *inst);

static bool check_type(struct walk *w, const json_t *type, const json_t *inst)
{
    if (json_is_string(type)) {
        if (is_type(inst, json_string_value(type)))
            return true;
        return fail(w, "is %s, want %s", type_name(inst), json_string_value(type));
    }
    for (size_t i = 0; i < json_array_size(type); i++)
        if (is_type(inst, json_string_value(json_array_get(type, i))))
            return true;
    char want[128];
    describe(type, want, sizeof(want));
    return fail(w, "is %s, want one of %s", type_name(inst), want);
}

static bool check_enum(struct walk *w, const json_t *values, const json_t *inst)
{
    for (size_t i = 0; i < json_array_size(values); i++)
        if (schema_equal(json_array_get(values, i), inst))
            return true;
    char got[128], want[512];
    describe(inst, got, sizeof(got));
    describe(values, want, sizeof(want));
    return fail(w, "%s is not one of %s", got, want);
}

static bool check_object(struct walk *w, const json_t *schema, const json_t *inst)
{
    const json_t *required = json_object_get(schema, "required");
    for (size_t i = 0; i < json_array_size(required); i++) {
        const char *name = json_string_value(json_array_get(required, i));
        if (!json_object_get(inst, name))
            return fail(w, "required field \"%s\" is missing", name);
    }

    const json_t *props = json_object_get(schema, "properties");
    const json_t *additional = json_object_get(schema, "additionalProperties");
    for (void *it = json_object_iter((json_t *)inst); it;
         it = json_object_iter_next((json_t *)inst, it)) {
        const char *key = json_object_iter_key(it);
        const json_t *value = json_object_iter_value(it);
        const json_t *sub = json_object_get(props, key);
        if (!sub && !additional)
            continue;
        size_t old = path_push(w, key);
        bool ok;
        if (!sub && json_is_false(additional))
            ok = fail(w, "field not in the schema");
        else
            ok = validate(w, sub ? sub : additional, value);
        path_pop(w, old);
        if (!ok)
            return false;
    }
    return true;
}

static bool check_array(struct walk *w, const json_t *schema, const json_t *inst)
{
    size_t n = json_array_size(inst);
    const json_t *min = json_object_get(schema, "minItems");
    const json_t *max = json_object_get(schema, "maxItems");
    if (min && (json_int_t)n < json_integer_value(min))
        return fail(w, "%zu items, want at least %lld", n, (long long)json_integer_value(min));
    if (max && (json_int_t)n > json_integer_value(max))
        return fail(w, "%zu items, want at most %lld", n, (long long)json_integer_value(max));
    const json_t *items = json_object_get(schema, "items");
    if (!items)
        return true;
    for (size_t i = 0; i < n; i++) {
        size_t old = path_push_index(w, i);
        bool ok = validate(w, items, json_array_get(inst, i));
        path_pop(w, old);
        if (!ok)
            return false;
    }
    return true;
}

static bool check_number(struct walk *w, const json_t *schema, const json_t *inst)
{
    double v = json_number_value(inst);
    const json_t *min = json_object_get(schema, "minimum");
    const json_t *max = json_object_get(schema, "maximum");
    if (min && v < json_number_value(min))
        return fail(w, "%.10g is below the minimum %.10g", v, json_number_value(min));
    if (max && v > json_number_value(max))
        return fail(w, "%.10g is above the maximum %.10g", v, json_number_value(max));
    return true;
}

static bool check_string(struct walk *w, const json_t *schema, const json_t *inst)
{
    const char *s = json_string_value(inst);
    size_t len = utf8_length(s, json_string_length(inst));
    const json_t *min = json_object_get(schema, "minLength");
    const json_t *max = json_object_get(schema, "maxLength");
    if (min && (json_int_t)len < json_integer_value(min))
        return fail(w, "%zu characters, want at least %lld", len,
                    (long long)json_integer_value(min));
    if (max && (json_int_t)len > json_integer_value(max))
        return fail(w, "%zu characters, want at most %lld", len,
                    (long long)json_integer_value(max));
    const json_t *pattern = json_object_get(schema, "pattern");
    if (pattern) {
        const regex_t *re = pattern_get(pattern);
        if (!re)
            return fail(w, "pattern %s does not compile", json_string_value(pattern));
        if (regexec(re, s, 0, NULL, 0) != 0) {
            char got[128];
            describe(inst, got, sizeof(got));
            return fail(w, "%s does not match %s", got, json_string_value(pattern));
        }
    }
    return true;
}

/* Does inst match sub? Nothing of a failure is kept but the message, in msg. */
static bool try_branch(struct walk *w, const json_t *sub, const json_t *inst, char *msg, size_t len)
{
    size_t old = w->path_len;
    bool ok = validate(w, sub, inst);
    path_pop(w, old);
    if (!ok && msg)
        snprintf(msg, len, "%s", w->message);
    return ok;
}

static bool check_combinators(struct walk *w, const json_t *schema, const json_t *inst)
{
    char first[MESSAGE_LEN];
    const json_t *all = json_object_get(schema, "allOf");
    for (size_t i = 0; i < json_array_size(all); i++)
        if (!validate(w, json_array_get(all, i), inst))
            return false;

    const json_t *any = json_object_get(schema, "anyOf");
    if (any) {
        bool matched = false;
        first[0] = '\0';
        for (size_t i = 0; i < json_array_size(any); i++) {
            const json_t *sub = json_array_get(any, i);
            if (try_branch(w, sub, inst, first[0] ? NULL : first, sizeof(first))) {
                matched = true;
                break;
            }
        }
        if (!matched)
            return fail(w, "matches none of anyOf (the first says: %s)", first);
    }

    const json_t *one = json_object_get(schema, "oneOf");
    if (one) {
        size_t matches = 0;
        first[0] = '\0';
        for (size_t i = 0; i < json_array_size(one); i++)
            matches +=
                try_branch(w, json_array_get(one, i), inst, first[0] ? NULL : first, sizeof(first));
        if (matches == 0)
            return fail(w, "matches none of oneOf (the first says: %s)", first);
        if (matches > 1)
            return fail(w, "matches %zu branches of oneOf, want exactly one", matches);
    }

    const json_t *negated = json_object_get(schema, "not");
    if (negated && try_branch(w, negated, inst, NULL, 0)) {
        char what[256];
        describe(negated, what, sizeof(what));
        return fail(w, "must not match %s", what);
    }

    const json_t *cond = json_object_get(schema, "if");
    if (cond) {
        const json_t *branch =
            json_object_get(schema, try_branch(w, cond, inst, NULL, 0) ? "then" : "else");
        if (branch && !validate(w, branch, inst))
            return false;
    }
    return true;
}

static bool validate(struct walk *w, const json_t *schema, const json_t *inst)
{
    if (json_is_true(schema))
        return true;
    if (json_is_false(schema))
        return fail(w, "no value is allowed here");
    if (++w->depth > MAX_DEPTH) {
        w->depth--;
        return fail(w, "schema nested deeper than %d (a $ref cycle?)", MAX_DEPTH);
    }
    bool ok = true;
    const json_t *ref = json_object_get(schema, "$ref");
    const json_t *v;
    if (ref) {
        const json_t *target = resolve_ref(w->root, json_string_value(ref));
        ok = target ? validate(w, target, inst)
                    : fail(w, "$ref %s names nothing", json_string_value(ref));
    }
    if (ok && (v = json_object_get(schema, "type")))
        ok = check_type(w, v, inst);
    if (ok && (v = json_object_get(schema, "const")) && !schema_equal(v, inst)) {
        char got[128], want[128];
        describe(inst, got, sizeof(got));
        describe(v, want, sizeof(want));
        ok = fail(w, "%s is not %s", got, want);
    }
    if (ok && (v = json_object_get(schema, "enum")))
        ok = check_enum(w, v, inst);
    if (ok && json_is_object(inst))
        ok = check_object(w, schema, inst);
    if (ok && json_is_array(inst))
        ok = check_array(w, schema, inst);
    if (ok && json_is_number(inst))
        ok = check_number(w, schema, inst);
    if (ok && json_is_string(inst))
        ok = check_string(w, schema, inst);
    if (ok)
        ok = check_combinators(w, schema, inst);
    w->depth--;
    return ok;
}

bool json_schema_validate(const json_t *root, const json_t *schema, const json_t *instance,
                          char *err, size_t errlen)
{
    struct walk w = {.root = root};
    bool ok = validate(&w, schema, instance);
    if (!ok && err && errlen)
        snprintf(err, errlen, "%s", w.message);
    return ok;
}

/* ---- what the validator knows ---- */

static const char *const annotations[] = {"$schema", "$id",         "$defs",    "$comment",
                                          "title",   "description", "examples", "default"};
static const char *const keywords_schema[] = {
    "additionalProperties", "items", "not", "if", "then", "else"};
static const char *const keywords_schemas[] = {"allOf", "anyOf", "oneOf"};
static const char *const keywords_plain[] = {
    "type",    "const",     "enum",      "required", "minItems", "maxItems",  "minimum",
    "maximum", "minLength", "maxLength", "pattern",  "$ref",     "properties"};

static bool in_list(const char *key, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(key, list[i]))
            return true;
    return false;
}

#define IN(key, list) in_list(key, list, sizeof(list) / sizeof(list[0]))

static bool supported(const json_t *root, const json_t *schema, struct walk *w);

static bool supported_member(const json_t *root, const char *key, const json_t *sub, struct walk *w)
{
    size_t old = path_push(w, key);
    bool ok = supported(root, sub, w);
    path_pop(w, old);
    return ok;
}

static bool supported_keyword(const json_t *root, const char *key, const json_t *v, struct walk *w)
{
    if (IN(key, keywords_schema))
        return supported_member(root, key, v, w);
    if (IN(key, keywords_schemas)) {
        if (!json_is_array(v) || json_array_size(v) == 0)
            return fail(w, "%s must be a non-empty array", key);
        size_t old = path_push(w, key);
        for (size_t i = 0; i < json_array_size(v); i++) {
            size_t o2 = path_push_index(w, i);
            bool ok = supported(root, json_array_get(v, i), w);
            path_pop(w, o2);
            if (!ok)
                return false;
        }
        path_pop(w, old);
        return true;
    }
    if (!strcmp(key, "properties") || !strcmp(key, "$defs")) {
        if (!json_is_object(v))
            return fail(w, "%s must be an object", key);
        size_t old = path_push(w, key);
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it))
            if (!supported_member(root, json_object_iter_key(it), json_object_iter_value(it), w))
                return false;
        path_pop(w, old);
        return true;
    }
    if (!strcmp(key, "$ref") &&
        !resolve_ref(root, json_string_value(v) ? json_string_value(v) : ""))
        return fail(w, "$ref %s names nothing in the document", json_string_value(v));
    if (!strcmp(key, "pattern") && (!json_is_string(v) || !pattern_get(v)))
        return fail(w, "pattern does not compile as a POSIX extended regular expression");
    if (IN(key, keywords_plain) || IN(key, annotations))
        return true;
    return fail(w, "keyword \"%s\" is not one the validator knows", key);
}

static bool supported(const json_t *root, const json_t *schema, struct walk *w)
{
    if (json_is_boolean(schema))
        return true;
    if (!json_is_object(schema))
        return fail(w, "a schema must be an object or a boolean");
    for (void *it = json_object_iter((json_t *)schema); it;
         it = json_object_iter_next((json_t *)schema, it))
        if (!supported_keyword(root, json_object_iter_key(it), json_object_iter_value(it), w))
            return false;
    return true;
}

bool json_schema_check_supported(const json_t *root, char *err, size_t errlen)
{
    struct walk w = {.root = root};
    bool ok = supported(root, root, &w);
    if (!ok && err && errlen)
        snprintf(err, errlen, "schema %s", w.message);
    return ok;
}
