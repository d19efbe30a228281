/*
 * call_failure: a `hint` on call_fail saying which side most likely caused
 * the failure, for calls that cross a configured trunk.
 *
 * calls/ publishes call_fail itself (status, reason, direction); this
 * detector only adds fields through the call_failed observer, before the
 * event leaves. It keeps no state: everything it needs is in the call.
 *
 * Inbound calls (from a trunk to the PBX), the answer came from the PBX:
 *   404 / 484                no_route_for_did     the dialled number (DID) has
 *                                                 no route in the dialplan;
 *   408 without any 18x      no_answer_from_pbx   the PBX sent neither ringing
 *                                                 nor a final answer (calls/
 *                                                 reports its timeout as 408);
 *   500 / 503                pbx_unavailable      the PBX is overloaded or down.
 * Outbound calls (from the PBX to a trunk), the answer came from the trunk:
 *   401 / 407 never answered trunk_auth_unanswered the PBX has no credentials;
 *   403                      trunk_rejected_auth  the provider refused the call
 *                                                 (credentials, IP not allowed,
 *                                                 barred number or no credit);
 *   408 without any 18x      no_answer_from_trunk
 *   500 / 503                trunk_unavailable
 * Anything else, and calls with no trunk, get "hint": null.
 */
#include "rules/rules.h"

#include <stdlib.h>

#define PARAMS(X)                                                                                  \
    X(hints, 1, 0, 1, "add a hint to call_fail for calls that cross a trunk (1 yes, 0 no)")
RULE_PARAM_TABLE(PARAMS);

static const char *inbound_hint(const struct call *c, int st)
{
    if (st == 404 || st == 484)
        return "no_route_for_did";
    if (st == 408 && !c->first_18x_us)
        return "no_answer_from_pbx";
    if (st == 500 || st == 503)
        return "pbx_unavailable";
    return NULL;
}

static const char *outbound_hint(const struct call *c, int st)
{
    if (st == 401 || st == 407)
        return "trunk_auth_unanswered";
    if (st == 403)
        return "trunk_rejected_auth";
    if (st == 408 && !c->first_18x_us)
        return "no_answer_from_trunk";
    if (st == 500 || st == 503)
        return "trunk_unavailable";
    return NULL;
}

static void on_call_failed(void *user, struct call *c, const char *reason, struct event *ev,
                           uint64_t now_us)
{
    const struct rules_context *ctx = user;
    (void)reason;
    (void)now_us;
    if (!ctx->enabled || RULE_PARAM(ctx, hints, c->trunk) < 0.5)
        return;
    int st = c->final_status; /* the failure's (408 for a timeout): set before observers run */
    const char *hint = NULL;
    if (c->direction == CALL_DIRECTION_INBOUND)
        hint = inbound_hint(c, st);
    else if (c->direction == CALL_DIRECTION_OUTBOUND)
        hint = outbound_hint(c, st);
    if (hint)
        json_writer_member_string(&ev->body, "hint", hint);
    else
        json_writer_member_null(&ev->body, "hint");
}

static void *call_failure_create(struct rules_context *ctx)
{
    struct call_observer o = {.user = ctx, .call_failed = on_call_failed};
    call_table_add_observer(ctx->calls, &o);
    /* Stateless: the context is the observer's user pointer. A non-NULL
     * value tells rules_new the detector exists. */
    return ctx;
}

const struct detector detector_call_failure = {
    .name = "call_failure",
    .params = params,
    .param_count = sizeof(params) / sizeof(params[0]),
    .create = call_failure_create,
};
