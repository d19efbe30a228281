/*
 * siptap-pcapgen: writes deterministic test captures.
 *
 *   siptap-pcapgen SCENARIO_FILE OUT.pcap   run a scenario (see README.md)
 *   siptap-pcapgen --demo OUT.pcap          the bundled demo capture
 *
 * Exit status: 0 written, 2 bad usage or a scenario error (the message names
 * file and line), 1 the output could not be written.
 */
#include "tools/pcapgen/pcapgen.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int usage(FILE *out)
{
    fprintf(out, "usage: siptap-pcapgen SCENARIO_FILE OUT.pcap\n"
                 "       siptap-pcapgen --demo OUT.pcap\n");
    return out == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0)
        return usage(stdout);
    if (argc != 3)
        return usage(stderr);
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    if (!g) {
        fprintf(stderr, "siptap-pcapgen: out of memory\n");
        return 1;
    }
    if (strcmp(argv[1], "--demo") == 0) {
        pcapgen_demo(g);
    } else {
        char err[512];
        if (pcapgen_scenario_file(g, argv[1], err, sizeof(err)) < 0) {
            fprintf(stderr, "siptap-pcapgen: %s\n", err);
            pcapgen_free(g);
            return 2;
        }
    }
    if (pcapgen_write(g, argv[2]) < 0) {
        fprintf(stderr, "siptap-pcapgen: %s: %s\n", argv[2], strerror(errno));
        pcapgen_free(g);
        return 1;
    }
    pcapgen_free(g);
    return 0;
}
