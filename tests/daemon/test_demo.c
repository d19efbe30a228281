/*
 * The bundled sample, end to end: samples/demo.pcap (written by
 * `siptap-pcapgen --demo`) with samples/demo.conf gives exactly these events
 * — the README's first command shows them, so they are pinned here: type,
 * call, and the fields that name the fault (status, hint, cause, direction,
 * and call_end's record of how the call ended: final status, Q.850 cause,
 * who hung up).
 * Also checks that the committed sample is what the generator writes today.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/daemon_events.h"

static const char *const expected[] = {
    "call_start demo-normal@203.0.113.1 direction=inbound",
    "call_answer demo-normal@203.0.113.1 direction=inbound",
    "call_start demo-404@203.0.113.1 direction=inbound",
    "call_fail demo-404@203.0.113.1 status=404 hint=no_route_for_did direction=inbound",
    "call_end demo-404@203.0.113.1 status=404 reason=failed direction=inbound final_status=404",
    "registration_loop 3001@203.0.113.1 hint=rechallenged",
    "call_start demo-oneway@203.0.113.50 direction=inbound",
    "call_answer demo-oneway@203.0.113.50 direction=inbound",
    "call_start demo-noack@198.51.100.10 direction=outbound",
    "call_answer demo-noack@198.51.100.10 direction=outbound",
    "one_way_audio demo-oneway@203.0.113.50 phase=start hint=nat_private_sdp direction=inbound",
    "call_end demo-oneway@203.0.113.50 status=200 reason=bye direction=inbound final_status=200 "
    "bye_from=caller",
    "call_end demo-normal@203.0.113.1 status=200 reason=bye direction=inbound final_status=200 "
    "bye_from=caller",
    "call_drop demo-noack@198.51.100.10 cause=missing_ack direction=outbound bye_from=callee",
    "call_end demo-noack@198.51.100.10 status=200 reason=bye direction=outbound final_status=200 "
    "bye_from=callee",
};

static void describe(json_t *ev, char *out, size_t len)
{
    const char *id = json_string_value(json_object_get(ev, "call_id"));
    if (!id)
        id = json_string_value(json_object_get(ev, "aor"));
    int n =
        snprintf(out, len, "%s %s", json_string_value(json_object_get(ev, "type")), id ? id : "-");
    static const char *const fields[] = {"status",       "phase",      "hint",
                                         "cause",        "reason",     "direction",
                                         "final_status", "q850_cause", "bye_from"};
    const char *type = json_string_value(json_object_get(ev, "type"));
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]) && n > 0 && (size_t)n < len; i++) {
        json_t *v = json_object_get(ev, fields[i]);
        if (!v || json_is_null(v))
            continue;
        if (!strcmp(fields[i], "reason") && strcmp(type, "call_end") != 0)
            continue; /* call_fail's reason phrase is the far end's wording */
        if (!strcmp(fields[i], "direction") && !strcmp(type, "registration_loop"))
            continue;
        if (json_is_integer(v))
            n += snprintf(out + n, len - (size_t)n, " %s=%lld", fields[i],
                          (long long)json_integer_value(v));
        else if (json_is_string(v))
            n += snprintf(out + n, len - (size_t)n, " %s=%s", fields[i], json_string_value(v));
    }
}

Test(demo, exact_events)
{
    char cmd[2048];
    const char *root = getenv("SIPTAP_SOURCE_ROOT");
    snprintf(cmd, sizeof(cmd), "'%s' -c %s/samples/demo.conf -r %s/samples/demo.pcap",
             getenv("SIPTAPD"), root, root);
    struct daemon_events all;
    daemon_events_run(&all, cmd);
    size_t n = 0;
    for (size_t i = 0; i < all.count; i++) {
        json_t *ev = all.events[i];
        /* The periodic figures (stats, trunk_stats) are not the faults pinned here. */
        if (!daemon_event_is_periodic(ev)) {
            char got[512];
            describe(ev, got, sizeof(got));
            cr_assert_lt(n, sizeof(expected) / sizeof(expected[0]), "extra event: %s", got);
            cr_assert(strcmp(got, expected[n]) == 0, "event %zu: got \"%s\", want \"%s\"", n, got,
                      expected[n]);
            cr_assert_str_eq(json_string_value(json_object_get(ev, "tap")), "demo-tap");
            n++;
        }
    }
    cr_assert_eq(all.status, 0);
    daemon_events_free(&all);
    cr_assert_eq(n, sizeof(expected) / sizeof(expected[0]), "only %zu events", n);
}

Test(demo, sample_is_what_the_generator_writes)
{
    char tmp[] = "/tmp/siptap-demo-XXXXXX";
    close(mkstemp(tmp));
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' --demo %s && cmp -s %s %s/samples/demo.pcap",
             getenv("PCAPGEN"), tmp, tmp, getenv("SIPTAP_SOURCE_ROOT"));
    int rc = system(cmd);
    unlink(tmp);
    cr_assert_eq(rc, 0, "samples/demo.pcap differs from `siptap-pcapgen --demo`: regenerate it");
}
