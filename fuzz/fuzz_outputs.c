/*
 * fuzz_outputs: libFuzzer target for the `-o` forms: sink_create() parses
 * the spec (redis:// host, port, database, stream and channel; kafka://
 * brokers and topic; syslog facility) and builds the sink without starting
 * it; the sink is then destroyed. A form refused must say why.
 *
 * The input is the spec's text (cut at its first NUL). Nothing may leave the
 * machine or touch the file system: `file:PATH` forms with a path are not
 * built (that parse is one prefix test; building creates the file), nor
 * forms not reviewed for that (reviewed() below), the
 * syslog socket is a path that does not exist, and the Kafka producer's
 * bootstrap.servers is overridden with a loopback address, so the brokers
 * of the spec are parsed and checked but never contacted.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "outputs/sink.h"

/* Forms whose building is known to touch nothing outside: those above, and
 * text that names no form (refused). A form added later (another scheme://)
 * is built here once its creation has been checked the same way. */
static bool reviewed(const char *spec)
{
    static const char *const forms[] = {"redis://", "kafka://", "syslog", "-"};
    if (strncmp(spec, "file:", 5) == 0)
        return spec[5] == '\0';
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
        if (strncmp(spec, forms[i], strlen(forms[i])) == 0)
            return true;
    return strstr(spec, "://") == NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char spec[4096];
    size_t n = size < sizeof(spec) - 1 ? size : sizeof(spec) - 1;
    memcpy(spec, data, n);
    spec[n] = '\0';
    if (!reviewed(spec))
        return 0;
    static const char *const loopback_only[] = {"bootstrap.servers", "127.0.0.1:9", NULL};
    struct sink_options opts;
    sink_options_defaults(&opts);
    opts.kafka_props = loopback_only;
    opts.syslog_socket = "/nonexistent/siptap-fuzz-syslog";
    opts.queue_size = 4;
    char err[512] = "";
    struct sink *s = sink_create(spec, &opts, err, sizeof(err));
    if (!s) {
        if (err[0] == '\0' || !memchr(err, '\0', sizeof(err)))
            abort(); /* refused without saying why */
        return 0;
    }
    s->ops->destroy(s);
    return 0;
}
