/*
 * The pids attack for confine.itest.ts, run as root inside a guest: fork N children that wait,
 * count the forks that succeed and those that fail (busybox ash gives up at the first failure),
 * then end the children. Prints "forked=<ok> failed=<failed> errno=<first errno>".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 0;
  int ok = 0, failed = 0, first = 0;
  pid_t *kids = calloc(n > 0 ? n : 1, sizeof(pid_t));
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      pause();
      _exit(0);
    }
    if (pid < 0) {
      if (!first) first = errno;
      failed++;
    } else {
      kids[ok++] = pid;
    }
  }
  printf("forked=%d failed=%d errno=%d\n", ok, failed, first);
  fflush(stdout);
  for (int i = 0; i < ok; i++) kill(kids[i], SIGKILL);
  while (wait(NULL) > 0) {
  }
  return 0;
}
