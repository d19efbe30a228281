/*
 * registration_loop: detector placeholder — parameters only; the detector itself is
 * being written. See rules.h for the detector contract.
 */
#include "rules/rules.h"

static const struct rule_param_def params[] = {
    {"challenges", 3, 2, 1000, "401/407 challenges for one AOR without success"},
    {"window_s", 60, 1, 86400, "seconds in which those challenges must fall"},
};

const struct detector detector_registration_loop = {
    .name = "registration_loop",
    .params = params,
    .param_count = sizeof(params) / sizeof(params[0]),
};
