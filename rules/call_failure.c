/*
 * call_failure: detector placeholder — parameters only; the detector itself is
 * being written. See rules.h for the detector contract.
 */
#include "rules/rules.h"

static const struct rule_param_def params[] = {
    {"no_answer_s", 10, 1, 600, "seconds an inbound INVITE may go without 18x or final answer"},
};

const struct detector detector_call_failure = {
    .name = "call_failure",
    .params = params,
    .param_count = sizeof(params) / sizeof(params[0]),
};
