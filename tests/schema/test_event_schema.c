/*
 * test_event_schema: the tests' JSON Schema validator (tests/support/
 * json_schema) keyword by keyword on small schemas, then the events' schema
 * (docs/events.schema.json) on good events and on events broken the ways a
 * producer breaks them: a field nobody documented, a required field
 * missing, a wrong JSON type, a value outside a closed set, a bad streams
 * entry. Each refusal must say where (the JSON pointer) so a failing
 * end-to-end test points at the field.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "tests/support/event_schema.h"
#include "tests/support/json_schema.h"

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    cr_assert_not_null(v, "bad JSON in the test (%s): %s", e.text, text);
    return v;
}

/* Validates instance against a schema text; err gets the message. */
static bool check(const char *schema_text, const char *instance_text, char *err, size_t len)
{
    json_t *schema = parse(schema_text);
    char why[512];
    cr_assert(json_schema_check_supported(schema, why, sizeof(why)), "%s", why);
    json_t *instance = parse(instance_text);
    err[0] = '\0';
    bool ok = json_schema_validate(schema, schema, instance, err, len);
    json_decref(instance);
    json_decref(schema);
    return ok;
}

static void accepts(const char *schema, const char *instance)
{
    char err[1024];
    cr_assert(check(schema, instance, err, sizeof(err)), "%s refused by %s: %s", instance, schema,
              err);
}

/* Refused, and the message holds want (the pointer and what). */
static void refuses(const char *schema, const char *instance, const char *want)
{
    char err[1024];
    cr_assert_not(check(schema, instance, err, sizeof(err)), "%s accepted by %s", instance, schema);
    cr_assert(strstr(err, want), "message \"%s\" does not say \"%s\"", err, want);
}

Test(json_schema, type)
{
    accepts("{\"type\":\"string\"}", "\"a\"");
    refuses("{\"type\":\"string\"}", "1", "(root): is integer, want string");
    accepts("{\"type\":[\"integer\",\"null\"]}", "null");
    refuses("{\"type\":[\"integer\",\"null\"]}", "true", "is boolean");
    /* JSON Schema's integer is a value, not a spelling: 3.0 is one. */
    accepts("{\"type\":\"integer\"}", "3.0");
    refuses("{\"type\":\"integer\"}", "3.5", "is number, want integer");
    accepts("{\"type\":\"number\"}", "3");
    refuses("{\"type\":\"object\"}", "[]", "is array");
}

Test(json_schema, const_and_enum)
{
    accepts("{\"const\":1}", "1.0");
    refuses("{\"const\":1}", "true", "true is not 1");
    refuses("{\"const\":true}", "1", "1 is not true");
    accepts("{\"enum\":[\"a\",null]}", "null");
    refuses("{\"enum\":[\"a\",null]}", "\"b\"", "\"b\" is not one of [\"a\",null]");
    accepts("{\"const\":{\"a\":[1,2]}}", "{\"a\":[1,2.0]}");
    refuses("{\"const\":{\"a\":[1,2]}}", "{\"a\":[2,1]}", "is not");
}

Test(json_schema, objects)
{
    const char *s = "{\"type\":\"object\",\"required\":[\"a\"],\"additionalProperties\":false,"
                    "\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"integer\"}}}";
    accepts(s, "{\"a\":\"x\",\"b\":2}");
    refuses(s, "{\"b\":2}", "(root): required field \"a\" is missing");
    refuses(s, "{\"a\":\"x\",\"c\":1}", "/c: field not in the schema");
    refuses(s, "{\"a\":1}", "/a: is integer, want string");
    /* additionalProperties as a schema: what every other member must be. */
    const char *counters = "{\"additionalProperties\":{\"type\":\"integer\"}}";
    accepts(counters, "{\"x.y\":1,\"z\":2}");
    refuses(counters, "{\"a/b~c\":\"1\"}", "/a~1b~0c: is string");
}

Test(json_schema, arrays)
{
    const char *s = "{\"type\":\"array\",\"minItems\":1,\"maxItems\":2,"
                    "\"items\":{\"type\":\"integer\"}}";
    accepts(s, "[1,2]");
    refuses(s, "[]", "0 items, want at least 1");
    refuses(s, "[1,2,3]", "3 items, want at most 2");
    refuses(s, "[1,\"2\"]", "/1: is string");
}

Test(json_schema, numbers_and_strings)
{
    accepts("{\"minimum\":1,\"maximum\":4.5}", "4.5");
    refuses("{\"minimum\":1,\"maximum\":4.5}", "0.99", "below the minimum 1");
    refuses("{\"minimum\":1,\"maximum\":4.5}", "5", "above the maximum 4.5");
    accepts("{\"minimum\":1}", "\"not a number: not judged\"");
    /* Lengths are in characters (code points), not bytes. */
    accepts("{\"maxLength\":2}", "\"\xc3\xa9\xc3\xa9\"");
    refuses("{\"maxLength\":2}", "\"abc\"", "3 characters, want at most 2");
    refuses("{\"minLength\":1}", "\"\"", "0 characters, want at least 1");
    const char *ts = "{\"pattern\":\"^[0-9]{4}-[0-9]{2}$\"}";
    accepts(ts, "\"2024-01\"");
    refuses(ts, "\"58648-11\"", "does not match");
}

Test(json_schema, ref_and_combinators)
{
    const char *s = "{\"$defs\":{\"n\":{\"type\":\"integer\"}},\"$ref\":\"#/$defs/n\"}";
    accepts(s, "1");
    refuses(s, "\"1\"", "is string, want integer");
    const char *any = "{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"null\"}]}";
    accepts(any, "null");
    refuses(any, "\"x\"", "matches none of anyOf");
    const char *one = "{\"oneOf\":[{\"minimum\":0},{\"maximum\":10}]}";
    accepts(one, "-1");
    refuses(one, "5", "matches 2 branches of oneOf");
    refuses("{\"not\":{\"required\":[\"a\"]}}", "{\"a\":1}", "must not match");
    const char *cond = "{\"if\":{\"properties\":{\"p\":{\"const\":\"end\"}}},"
                       "\"then\":{\"required\":[\"d\"]},\"else\":{\"not\":{\"required\":[\"d\"]}}}";
    accepts(cond, "{\"p\":\"end\",\"d\":1}");
    accepts(cond, "{\"p\":\"start\"}");
    refuses(cond, "{\"p\":\"end\"}", "required field \"d\" is missing");
    refuses(cond, "{\"p\":\"start\",\"d\":1}", "must not match");
    accepts("true", "{}");
    refuses("{\"properties\":{\"a\":false}}", "{\"a\":1}", "/a: no value is allowed here");
}

/* A keyword the validator does not implement must not pass silently. */
Test(json_schema, unknown_keywords_and_bad_refs_are_refused)
{
    char err[256];
    json_t *s = parse("{\"properties\":{\"a\":{\"format\":\"date-time\"}}}");
    cr_assert_not(json_schema_check_supported(s, err, sizeof(err)));
    cr_assert(strstr(err, "/properties/a") && strstr(err, "\"format\""), "%s", err);
    json_decref(s);
    s = parse("{\"$ref\":\"#/$defs/missing\"}");
    cr_assert_not(json_schema_check_supported(s, err, sizeof(err)));
    cr_assert(strstr(err, "names nothing"), "%s", err);
    json_decref(s);
    s = parse("{\"pattern\":\"([a-z\"}");
    cr_assert_not(json_schema_check_supported(s, err, sizeof(err)));
    json_decref(s);
}

/* ---- the events' schema ---- */

static const char *const CALL_START =
    "{\"v\":1,\"type\":\"call_start\",\"ts\":\"2024-01-01T00:00:00.000000Z\",\"severity\":"
    "\"info\",\"call_id\":\"demo-normal@203.0.113.1\",\"trunk\":\"carrier\",\"seq\":1,\"tap\":"
    "\"demo-tap\",\"from\":\"1001\",\"to\":\"442071838750\",\"src\":\"203.0.113.1:5060\","
    "\"dst\":\"198.51.100.10:5060\",\"direction\":\"inbound\",\"request_user\":\"442071838750\","
    "\"user_agent\":\"siptap-pcapgen\"}";

static const char *const CALL_END =
    "{\"v\":1,\"type\":\"call_end\",\"ts\":\"2024-01-01T00:00:30.000000Z\",\"severity\":"
    "\"info\",\"call_id\":\"demo-oneway@203.0.113.50\",\"trunk\":\"carrier\",\"seq\":12,"
    "\"tap\":\"demo-tap\",\"reason\":\"bye\",\"duration_s\":20.0,\"streams\":[{\"src\":"
    "\"203.0.113.50:4000\",\"dst\":\"198.51.100.10:30100\",\"ssrc\":\"0x599E3495\","
    "\"payload_type\":0,\"media\":\"audio\",\"codec\":\"PCMU\",\"packets\":998,\"lost\":0,"
    "\"loss_pct\":0.0,\"jitter_max_ms\":0.0,\"jitter_mean_ms\":0.0,\"max_delta_ms\":20.0,"
    "\"mos\":4.36,\"r_factor\":90.8,\"duplicates\":0,\"out_of_order\":0,\"dtmf_events\":0,"
    "\"payload_types\":[0]}],\"direction\":\"inbound\",\"status\":200,\"from\":\"2001\","
    "\"to\":\"15550123\",\"request_user\":\"15550123\",\"src\":\"203.0.113.50:5060\","
    "\"dst\":\"198.51.100.10:5060\",\"invite_ts\":\"2024-01-01T00:00:08.000000Z\","
    "\"ringing_ts\":\"2024-01-01T00:00:08.100000Z\",\"answer_ts\":\"2024-01-01T00:00:10.000000Z\","
    "\"end_ts\":\"2024-01-01T00:00:30.000000Z\",\"final_status\":200,\"q850_cause\":null,"
    "\"setup_ms\":2000,\"pdd_ms\":100,\"bye_from\":\"caller\",\"media\":{\"caller\":{"
    "\"packets\":998,\"lost\":0,\"loss_pct\":0.0,\"jitter_max_ms\":0.0,\"mos\":4.36,"
    "\"codec\":\"PCMU\",\"src\":\"203.0.113.50:4000\",\"dst\":\"198.51.100.10:30100\"},"
    "\"callee\":null}}";

/* The event text with one member changed: key set to value (JSON text), or
 * removed when value is NULL. */
static json_t *mutated(const char *text, const char *key, const char *value)
{
    json_t *ev = parse(text);
    if (value)
        json_object_set_new(ev, key, parse(value));
    else
        json_object_del(ev, key);
    return ev;
}

static void event_refused(json_t *ev, const char *want)
{
    char err[1024];
    cr_assert_not(event_schema_valid(ev, err, sizeof(err)), "a broken event was accepted");
    cr_assert(strstr(err, want), "message \"%s\" does not say \"%s\"", err, want);
    json_decref(ev);
}

Test(event_schema, loads_and_accepts_good_events)
{
    char err[1024];
    cr_assert_not_null(event_schema(err, sizeof(err)), "%s", err);
    json_t *ev = parse(CALL_START);
    event_schema_check(ev);
    json_decref(ev);
    ev = parse(CALL_END);
    event_schema_check(ev);
    json_decref(ev);
    event_schema_check_text(CALL_START, strlen(CALL_START));
}

Test(event_schema, refuses_what_producers_get_wrong)
{
    event_refused(mutated(CALL_START, "undocumented", "1"),
                  "/undocumented: field not in the schema");
    event_refused(mutated(CALL_START, "direction", NULL), "required field \"direction\"");
    event_refused(mutated(CALL_START, "seq", "\"1\""), "/seq: is string, want integer");
    event_refused(mutated(CALL_START, "direction", "\"sideways\""), "/direction: \"sideways\"");
    event_refused(mutated(CALL_START, "severity", "\"fatal\""), "/severity");
    event_refused(mutated(CALL_START, "v", "2"), "/v: 2 is not 1");
    event_refused(mutated(CALL_START, "ts", "\"586489-11-03T12:21:05.803374Z\""),
                  "/ts: \"586489-11-03T12:21:05.803374Z\" does not match");
    event_refused(mutated(CALL_START, "src", "\"203.0.113.1\""), "/src");
    event_refused(mutated(CALL_START, "type", "\"call_begin\""), "/type: \"call_begin\"");
    /* A field of another type is not one of this type's. */
    event_refused(mutated(CALL_START, "streams", "[]"), "/streams: field not in the schema");
    event_refused(mutated(CALL_END, "reason", "\"hangup\""), "/reason");
    event_refused(mutated(CALL_END, "drop_cause", "\"network\""), "/drop_cause");
    /* The call record: every field there, null only where it may be. */
    event_refused(mutated(CALL_END, "q850_cause", NULL), "required field \"q850_cause\"");
    event_refused(mutated(CALL_END, "q850_cause", "128"), "/q850_cause");
    event_refused(mutated(CALL_END, "bye_from", "\"nobody\""), "/bye_from");
    event_refused(mutated(CALL_END, "invite_ts", "null"), "/invite_ts");
    event_refused(mutated(CALL_END, "media", "{\"caller\":null}"), "required field \"callee\"");
    event_refused(mutated(CALL_END, "media", "{\"caller\":null,\"callee\":{\"packets\":1}}"),
                  "/media/callee");
}

Test(event_schema, refuses_a_bad_streams_entry_and_says_which)
{
    json_t *ev = parse(CALL_END);
    json_t *stream = json_array_get(json_object_get(ev, "streams"), 0);
    json_object_set_new(stream, "ssrc", json_string("0x599e3495"));
    event_refused(json_incref(ev), "/streams/0/ssrc");
    json_object_set_new(stream, "ssrc", json_string("0x599E3495"));
    json_object_set_new(stream, "mos", json_real(4.6));
    char err[1024];
    cr_assert_not(event_schema_valid_def("stream", stream, err, sizeof(err)));
    cr_assert(strstr(err, "/mos: 4.6 is above the maximum 4.5"), "%s", err);
    json_object_del(stream, "mos");
    event_refused(ev, "/streams/0: required field \"mos\"");
}
