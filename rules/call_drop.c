/*
 * call_drop: detector placeholder — parameters only; the detector itself is
 * being written. See rules.h for the detector contract.
 */
#include "rules/rules.h"

static const struct rule_param_def params[] = {
    {"ack_timeout_s", 32, 1, 300,
     "seconds after a 2xx without ACK before the call counts as dropped (64*T1)"},
    {"media_timeout_s", 20, 1, 3600,
     "seconds without media both ways before a teardown counts as media_timeout"},
};

const struct detector detector_call_drop = {
    .name = "call_drop",
    .params = params,
    .param_count = sizeof(params) / sizeof(params[0]),
};
