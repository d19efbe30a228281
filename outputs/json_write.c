/*
 * json_write: a jansson tree written with core/json_text, which reproduces
 * jansson's compact, ASCII-only dump without its per-number snprintf. See
 * json_write.h for the contract.
 */
#include "outputs/json_write.h"

#include "core/json_text.h"

#define JSON_WRITE_MAX_DEPTH 64

static void put_value(struct json_text *t, const json_t *v, int depth)
{
    if (depth > JSON_WRITE_MAX_DEPTH) {
        t->failed = true;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        json_text_object_begin(t);
        for (void *it = json_object_iter((json_t *)v); it && !t->failed;
             it = json_object_iter_next((json_t *)v, it)) {
            json_text_key(t, json_object_iter_key(it), json_object_iter_key_len(it));
            put_value(t, json_object_iter_value(it), depth + 1);
        }
        json_text_object_end(t);
        break;
    case JSON_ARRAY: {
        json_text_array_begin(t);
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n && !t->failed; i++)
            put_value(t, json_array_get(v, i), depth + 1);
        json_text_array_end(t);
        break;
    }
    case JSON_STRING:
        json_text_string(t, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        json_text_integer(t, json_integer_value(v));
        break;
    case JSON_REAL:
        json_text_real(t, json_real_value(v));
        break;
    case JSON_TRUE:
        json_text_bool(t, true);
        break;
    case JSON_FALSE:
        json_text_bool(t, false);
        break;
    case JSON_NULL:
        json_text_null(t);
        break;
    }
}

size_t json_write(const json_t *v, char *buf, size_t cap)
{
    if (!v || cap == 0)
        return 0;
    struct json_text t;
    json_text_init(&t, buf, cap);
    put_value(&t, v, 0);
    return json_text_finish(&t);
}
