/*
 * siptapd: entry point. Parses the command line (the contract in
 * ../shared/CONTRACT.md), then hands over to the daemon context.
 */
#include <stdio.h>

#include "daemon/daemon.h"

int main(int argc, char **argv)
{
    struct daemon_options opts;
    int rc = daemon_parse_args(argc, argv, &opts);
    if (rc >= 0)
        return rc;
    static struct siptap d; /* large; static storage keeps it off the stack */
    rc = daemon_init(&d, &opts);
    if (rc == 0)
        rc = daemon_run(&d);
    daemon_destroy(&d);
    return rc;
}
