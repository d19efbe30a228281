/*
 * fuzz_config: libFuzzer target for the configuration file and the rules
 * in it: the INI reader, every key's parser (numbers, addresses, trunks,
 * routes, [metrics], [capture]) and, when the file loads, the detectors'
 * settings as siptapd applies them: rules_validate(), rules_new() over a
 * call table, and a reload with the same settings (SIGHUP).
 *
 * The input is the file's text, written to a memory file whose
 * /proc/self/fd path config_load() reads. config_check() (the BPF
 * compiler and the user database) is not run: that is libpcap's and libc's.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "calls/calls.h"
#include "daemon/config.h"
#include "outputs/event.h"
#include "rules/rules.h"

struct config_fuzz {
    int fd;
    char path[64];
    struct config cfg;
};

static void apply_rules(struct config *cfg)
{
    char err[1024];
    if (!rules_validate(&cfg->rules, &cfg->trunks, err, sizeof(err)))
        return;
    struct counters counters;
    struct timerq timers;
    struct event_bus bus;
    counters_init(&counters);
    timerq_init(&timers);
    event_bus_init(&bus, "fuzz");
    struct call_limits limits;
    call_limits_defaults(&limits);
    limits.max_calls = 8;
    limits.max_registrations = 8;
    limits.max_flows = 8;
    struct call_table *calls = call_table_new(&limits, &cfg->trunks, &counters, &timers, &bus);
    struct rules *r = calls ? rules_new(&cfg->rules, calls, &timers, &bus, &counters, &cfg->trunks,
                                        err, sizeof(err))
                            : NULL;
    if (calls && !r)
        abort(); /* rules_validate said yes */
    if (r && !rules_reload(r, &cfg->rules, err, sizeof(err)))
        abort(); /* the same settings again */
    rules_free(r);
    call_table_free(calls);
    event_bus_destroy(&bus);
    timerq_destroy(&timers);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config_fuzz z = {.fd = -1};
    if (z.fd < 0) {
        z.fd = memfd_create("siptap-fuzz.conf", 0);
        if (z.fd < 0)
            abort();
        snprintf(z.path, sizeof(z.path), "/proc/self/fd/%d", z.fd);
    }
    if (ftruncate(z.fd, 0) != 0 || pwrite(z.fd, data, size, 0) != (ssize_t)size)
        abort();
    char err[1024];
    config_defaults(&z.cfg);
    if (config_load(&z.cfg, z.path, err, sizeof(err))) {
        apply_rules(&z.cfg);
    } else if (!memchr(err, '\0', sizeof(err)) || err[0] == '\0') {
        abort(); /* a failure must say why */
    }
    config_free(&z.cfg);
    return 0;
}
