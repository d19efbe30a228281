/*
 * sd_notify: with NOTIFY_SOCKET set, siptapd tells the service manager it is
 * ready, what it is doing (STATUS=), and that it is stopping.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ops_util.h"

Test(notify, ready_status_stopping)
{
    char dir[64], sock[96], pcap[256];
    ops_tmpdir(dir, sizeof(dir));
    snprintf(sock, sizeof(sock), "%s/notify", dir);
    snprintf(pcap, sizeof(pcap), "%s/call.pcap", dir);
    cr_assert(ops_write_call_pcap(pcap, 5));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    setenv("NOTIFY_SOCKET", sock, 1);
    char *argv[] = {(char *)ops_siptapd(), "-r", pcap, "-o", "file:/dev/null", NULL};
    cr_assert_eq(ops_run(argv, NULL, NULL), 0);
    unsetenv("NOTIFY_SOCKET");
    char all[4096] = "";
    char msg[512];
    ssize_t n;
    while ((n = recv(fd, msg, sizeof(msg) - 1, 0)) > 0) {
        msg[n] = '\0';
        strncat(all, msg, sizeof(all) - strlen(all) - 2);
        strcat(all, "|");
    }
    close(fd);
    cr_assert(strstr(all, "READY=1|"), "got: %s", all);
    cr_assert(strstr(all, "STATUS=0 packets, 0 active calls, 0 kernel drops, 0 interface drops, "
                          "0 queue drops, 0 events"),
              "got: %s", all);
    cr_assert(strstr(all, "STOPPING=1|"), "got: %s", all);
    cr_assert_lt(strstr(all, "READY=1"), strstr(all, "STOPPING=1"));
    ops_rmtree(dir);
}

Test(notify, nothing_without_notify_socket)
{
    unsetenv("NOTIFY_SOCKET");
    char dir[128], pcap[256];
    ops_tmpdir(dir, sizeof(dir));
    snprintf(pcap, sizeof(pcap), "%s/call.pcap", dir);
    cr_assert(ops_write_call_pcap(pcap, 5));
    char *argv[] = {(char *)ops_siptapd(), "-r", pcap, "-o", "file:/dev/null", NULL};
    cr_assert_eq(ops_run(argv, NULL, NULL), 0);
    ops_rmtree(dir);
}

static int watchdog_fd;
static char watchdog_seen[4096];

static bool got_watchdog(void *arg)
{
    (void)arg;
    char msg[512];
    ssize_t n;
    while ((n = recv(watchdog_fd, msg, sizeof(msg) - 1, 0)) > 0) {
        msg[n] = '\0';
        strncat(watchdog_seen, msg, sizeof(watchdog_seen) - strlen(watchdog_seen) - 2);
        strcat(watchdog_seen, "|");
    }
    return strstr(watchdog_seen, "WATCHDOG=1|") != NULL;
}

Test(notify, watchdog_pings_from_the_loop)
{
    if (geteuid() != 0)
        cr_skip_test("live capture on lo needs root (CAP_NET_RAW)");
    char dir[64], sock[96];
    ops_tmpdir(dir, sizeof(dir));
    snprintf(sock, sizeof(sock), "%s/notify", dir);
    watchdog_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
    cr_assert_eq(bind(watchdog_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    setenv("NOTIFY_SOCKET", sock, 1);
    setenv("WATCHDOG_USEC", "200000", 1);
    char *argv[] = {(char *)ops_siptapd(), "-i", "lo", "-o", "file:/dev/null", NULL};
    pid_t pid = ops_spawn(argv, NULL, NULL);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    cr_assert(ops_wait_for(got_watchdog, NULL, 20.0), "no WATCHDOG=1; got: %s", watchdog_seen);
    cr_assert(strstr(watchdog_seen, "READY=1|"), "got: %s", watchdog_seen);
    cr_assert_eq(ops_stop(pid, SIGTERM), 0);
    close(watchdog_fd);
    ops_rmtree(dir);
}
