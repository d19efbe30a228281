/*
 * dashboard_util: see dashboard_util.h. A recursive walk of the JSON for
 * "expr" keys (panels and rows nest to any depth) and of templating.list
 * for the variables' queries; a one-pass scanner for the names.
 */
#include "dashboard_util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *dashboard_load(char *err, size_t errlen)
{
    const char *root = getenv("SIPTAP_SOURCE_ROOT");
    char path[1024];
    snprintf(path, sizeof(path), "%s/docs/grafana/siptap-trunks.json", root ? root : ".");
    json_error_t jerr;
    json_t *d = json_load_file(path, 0, &jerr);
    if (!d)
        snprintf(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
    return d;
}

static void add(struct dashboard_exprs *out, const char *expr, size_t len, const char *where)
{
    if (out->count == DASHBOARD_MAX_EXPRS)
        return;
    out->expr[out->count] = strndup(expr, len);
    out->where[out->count] = strdup(where ? where : "?");
    out->count++;
}

static void walk(const json_t *node, const char *title, struct dashboard_exprs *out)
{
    if (json_is_array(node)) {
        size_t i;
        const json_t *v;
        json_array_foreach(node, i, v) walk(v, title, out);
        return;
    }
    if (!json_is_object(node))
        return;
    const json_t *t = json_object_get(node, "title");
    if (json_is_string(t))
        title = json_string_value(t);
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)node, key, v)
    {
        if (strcmp(key, "expr") == 0 && json_is_string(v))
            add(out, json_string_value(v), strlen(json_string_value(v)), title);
        else if (strcmp(key, "templating") != 0)
            walk(v, title, out);
    }
}

/* label_values(SELECTOR, label) -> SELECTOR; label_values(label) and
 * label_names() read no metric; query_result(EXPR) -> EXPR. */
static void add_variable_query(struct dashboard_exprs *out, const char *q, const char *name)
{
    while (isspace((unsigned char)*q))
        q++;
    const char *open = strchr(q, '(');
    const char *close = strrchr(q, ')');
    if (!open || !close || close < open)
        return;
    const char *arg = open + 1;
    if (strncmp(q, "query_result(", 13) == 0) {
        add(out, arg, (size_t)(close - arg), name);
    } else if (strncmp(q, "label_values(", 13) == 0) {
        /* The last comma outside braces and quotes ends the selector. */
        const char *comma = NULL;
        int depth = 0;
        bool quoted = false;
        for (const char *p = arg; p < close; p++) {
            if (*p == '"' && (p == arg || p[-1] != '\\'))
                quoted = !quoted;
            else if (!quoted && (*p == '{' || *p == '('))
                depth++;
            else if (!quoted && (*p == '}' || *p == ')'))
                depth--;
            else if (!quoted && depth == 0 && *p == ',')
                comma = p;
        }
        if (comma)
            add(out, arg, (size_t)(comma - arg), name);
    }
}

void dashboard_collect(const json_t *dashboard, struct dashboard_exprs *out)
{
    memset(out, 0, sizeof(*out));
    walk(json_object_get(dashboard, "panels"), NULL, out);
    const json_t *vars = json_object_get(json_object_get(dashboard, "templating"), "list");
    size_t i;
    const json_t *v;
    json_array_foreach(vars, i, v)
    {
        if (!json_is_string(json_object_get(v, "type")) ||
            strcmp(json_string_value(json_object_get(v, "type")), "query") != 0)
            continue;
        const json_t *q = json_object_get(v, "query");
        if (json_is_object(q))
            q = json_object_get(q, "query");
        if (json_is_string(q))
            add_variable_query(out, json_string_value(q),
                               json_string_value(json_object_get(v, "name")));
    }
}

void dashboard_exprs_free(struct dashboard_exprs *e)
{
    for (size_t i = 0; i < e->count; i++) {
        free(e->expr[i]);
        free(e->where[i]);
    }
    e->count = 0;
}

static const json_t *find_panel(const json_t *panels, const char *title)
{
    size_t i;
    const json_t *p;
    json_array_foreach(panels, i, p)
    {
        const json_t *t = json_object_get(p, "title");
        if (json_is_string(t) && strcmp(json_string_value(t), title) == 0 &&
            json_object_get(p, "targets"))
            return p;
        const json_t *inner = find_panel(json_object_get(p, "panels"), title);
        if (inner)
            return inner;
    }
    return NULL;
}

const char *dashboard_panel_expr(const json_t *dashboard, const char *title)
{
    const json_t *p = find_panel(json_object_get(dashboard, "panels"), title);
    const json_t *t = p ? json_array_get(json_object_get(p, "targets"), 0) : NULL;
    return t ? json_string_value(json_object_get(t, "expr")) : NULL;
}

/* ---- the tokenizer ---- */

static bool ident_start(char c)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':';
}

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == ':';
}

/* Past the string that starts at s (its quote). */
static const char *skip_string(const char *s)
{
    char q = *s++;
    while (*s && *s != q) {
        if (*s == '\\' && q != '`' && s[1])
            s++;
        s++;
    }
    return *s ? s + 1 : s;
}

/* Past the group that opens at s ('{', '[' or '('), strings inside skipped. */
static const char *skip_group(const char *s)
{
    char open = *s, close = open == '{' ? '}' : open == '[' ? ']' : ')';
    int depth = 0;
    while (*s) {
        if (*s == '"' || *s == '\'' || *s == '`') {
            s = skip_string(s);
            continue;
        }
        if (*s == open)
            depth++;
        else if (*s == close && --depth == 0)
            return s + 1;
        s++;
    }
    return s;
}

static bool word_in(const char *w, size_t n, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == n && strncasecmp(*list, w, n) == 0)
            return true;
    return false;
}

static const char *const label_list_words[] = {"by",         "without",     "on", "ignoring",
                                               "group_left", "group_right", NULL};
static const char *const other_words[] = {"and", "or",  "unless", "bool", "offset",
                                          "inf", "nan", "atan2",  NULL};

/* "sum by (...) (...)": the word after an aggregation is by or without. */
static bool aggregation_by(const char *next)
{
    const char *w = next;
    while (ident_char(*next))
        next++;
    return word_in(w, (size_t)(next - w), (const char *const[]){"by", "without", NULL});
}

size_t promql_metric_names(const char *expr, char names[][128], size_t count, size_t max)
{
    const char *s = expr;
    while (*s) {
        char c = *s;
        if (c == '"' || c == '\'' || c == '`') {
            s = skip_string(s);
        } else if (c == '{' || c == '[') {
            s = skip_group(s);
        } else if (c == '$') { /* a Grafana variable: $name or ${name} */
            s++;
            if (*s == '{')
                s = skip_group(s);
            else
                while (ident_char(*s))
                    s++;
        } else if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)s[1]))) {
            /* 0.95, 1e-3, 0x1f, 5m, 1h30m */
            s++;
            while (isalnum((unsigned char)*s) || *s == '.' ||
                   ((*s == '+' || *s == '-') && (s[-1] == 'e' || s[-1] == 'E') &&
                    isdigit((unsigned char)s[1])))
                s++;
        } else if (ident_start(c)) {
            const char *w = s;
            while (ident_char(*s))
                s++;
            size_t n = (size_t)(s - w);
            const char *next = s;
            while (isspace((unsigned char)*next))
                next++;
            if (word_in(w, n, label_list_words)) {
                if (*next == '(')
                    s = skip_group(next);
            } else if (*next == '(' || word_in(w, n, other_words) || aggregation_by(next)) {
                /* a function or an aggregation; a keyword */
            } else {
                size_t i = 0;
                while (i < count && !(strlen(names[i]) == n && strncmp(names[i], w, n) == 0))
                    i++;
                if (i == count && count < max && n < 128) {
                    memcpy(names[count], w, n);
                    names[count][n] = '\0';
                    count++;
                }
            }
        } else {
            s++;
        }
    }
    return count;
}

char *grafana_substitute(const char *expr, const char *range, const char *value)
{
    size_t cap = strlen(expr) * 4 + 64, n = 0;
    char *out = malloc(cap);
    bool in_range = false;
    for (const char *s = expr; *s && n + 64 < cap;) {
        if (*s == '[')
            in_range = true;
        else if (*s == ']')
            in_range = false;
        if (*s != '$') {
            out[n++] = *s++;
            continue;
        }
        s++;
        if (*s == '{') {
            while (*s && *s != '}')
                s++;
            if (*s)
                s++;
        } else {
            while (ident_char(*s))
                s++;
        }
        const char *with = in_range ? range : value;
        size_t len = strlen(with);
        if (n + len + 64 >= cap)
            break;
        memcpy(out + n, with, len);
        n += len;
    }
    out[n] = '\0';
    return out;
}

char *promql_instant_form(const char *expr)
{
    size_t n = 0;
    char *out = malloc(strlen(expr) + 1);
    for (const char *s = expr; *s;) {
        size_t fn = strncmp(s, "rate(", 5) == 0 ? 5 : strncmp(s, "increase(", 9) == 0 ? 9 : 0;
        if (fn && (s == expr || !ident_char(s[-1]))) {
            const char *end = skip_group(s + fn - 1) - 1; /* its ')' */
            const char *range = end;
            while (range > s && *range != '[')
                range--;
            if (*end == ')' && *range == '[') {
                memcpy(out + n, s + fn, (size_t)(range - (s + fn)));
                n += (size_t)(range - (s + fn));
                s = end + 1;
                continue;
            }
        }
        out[n++] = *s++;
    }
    out[n] = '\0';
    return out;
}
