/*
 * trunk_health: detector placeholder — parameters only; the detector itself is
 * being written. See rules.h for the detector contract.
 */
#include "rules/rules.h"

static const struct rule_param_def params[] = {
    {"failures", 5, 1, 1000, "consecutive failures before a trunk is down"},
    {"options_timeout_s", 32, 1, 3600, "seconds an OPTIONS may go unanswered"},
    {"failover_window_s", 10, 1, 600, "seconds in which a retry on another trunk counts as failover"},
};

const struct detector detector_trunk_health = {
    .name = "trunk_health",
    .params = params,
    .param_count = sizeof(params) / sizeof(params[0]),
};
