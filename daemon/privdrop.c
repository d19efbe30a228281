/*
 * privdrop: see privdrop.h. capget/capset are called through syscall(2)
 * (libcap is not a dependency for two system calls). The order matters:
 * supplementary groups and gid while still root, uid last; then a setuid(0)
 * that must fail proves the switch cannot be undone.
 */
#include "daemon/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static bool caps_read(struct __user_cap_data_struct data[2])
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    memset(data, 0, 2 * sizeof(data[0]));
    return syscall(SYS_capget, &hdr, data) == 0;
}

bool privdrop_caps_empty(void)
{
    struct __user_cap_data_struct data[2];
    if (!caps_read(data))
        return false;
    return (data[0].effective | data[1].effective | data[0].permitted | data[1].permitted) == 0;
}

int privdrop_clear_caps(char *err, size_t errlen)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    /* Ambient capabilities would come back on the next execve; there is
     * none, but an empty ambient set is the honest state. Older kernels lack
     * PR_CAP_AMBIENT: that failure is harmless. */
    (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (syscall(SYS_capset, &hdr, data) != 0) {
        snprintf(err, errlen, "cannot drop capabilities: %s", strerror(errno));
        return -1;
    }
    if (!privdrop_caps_empty()) {
        snprintf(err, errlen, "capabilities are still held after dropping them");
        return -1;
    }
    return 0;
}

static bool lookup_user(const char *user, uid_t *uid, gid_t *gid, char *name, size_t namelen)
{
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(user, &end, 10);
        if (errno || *end || end == user)
            return false;
        pw = getpwuid((uid_t)v);
        if (!pw)
            return false;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    snprintf(name, namelen, "%s", pw->pw_name);
    return true;
}

int privdrop_give_file(const char *user, const char *path, char *err, size_t errlen)
{
    uid_t uid;
    gid_t gid;
    char name[256];
    struct stat st;
    if (!lookup_user(user, &uid, &gid, name, sizeof(name)) || stat(path, &st) != 0 ||
        !S_ISREG(st.st_mode) || st.st_uid != 0 || uid == 0)
        return 0;
    if (chown(path, uid, gid) != 0) {
        snprintf(err, errlen,
                 "cannot give %s to %s (%s): SIGHUP will not reopen it; make it writable by "
                 "that user",
                 path, name, strerror(errno));
        return -1;
    }
    return 0;
}

int privdrop_to_user(const char *user, char *err, size_t errlen)
{
    uid_t uid;
    gid_t gid;
    char name[256];
    if (!lookup_user(user, &uid, &gid, name, sizeof(name))) {
        snprintf(err, errlen, "-u %s: no such user", user);
        return -1;
    }
    if (geteuid() != 0) {
        if (geteuid() == uid)
            return privdrop_clear_caps(err, errlen);
        snprintf(err, errlen, "-u %s: only root can switch user (running as uid %u)", user,
                 (unsigned)geteuid());
        return -1;
    }
    if (uid == 0) {
        snprintf(err, errlen, "-u %s: refusing to run as root; name an unprivileged user", user);
        return -1;
    }
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) {
        snprintf(err, errlen, "prctl(PR_SET_KEEPCAPS): %s", strerror(errno));
        return -1;
    }
    if (initgroups(name, gid) != 0 || setgid(gid) != 0) {
        snprintf(err, errlen, "-u %s: cannot set groups: %s", user, strerror(errno));
        return -1;
    }
    if (setuid(uid) != 0) {
        snprintf(err, errlen, "-u %s: cannot set uid: %s", user, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0 || getuid() != uid || geteuid() != uid) {
        snprintf(err, errlen, "-u %s: the switch away from root did not hold", user);
        return -1;
    }
    return privdrop_clear_caps(err, errlen);
}
