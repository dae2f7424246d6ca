/*
 * LD_PRELOAD shim for Debian 12's UML kernel (6.1) on hosts whose XSAVE area is larger than the
 * buffer UML passes to ptrace (CPUs with AMX: about 11 KB). The host kernel accepts
 * PTRACE_SETREGSET(NT_X86_XSTATE) only with a buffer of exactly its own XSAVE size
 * (arch/x86/kernel/fpu/regset.c: "A whole standard-format XSAVE buffer is needed"), so every
 * UML boot ends at "ptrace set fp regs failed, errno = 14" and a panic. This shim reads the
 * tracee's whole state, lays UML's (shorter) buffer over its start and writes the whole buffer
 * back. Everything else, and hosts where the sizes already agree, pass straight through.
 * Built by scripts/build-dist.mjs; the agent adds it to UML's environment (server/agent).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
#define BIG (64 * 1024)

typedef long (*ptrace_fn)(enum __ptrace_request, pid_t, void *, void *);

long ptrace(enum __ptrace_request request, ...) {
  static ptrace_fn real;
  static __thread unsigned char full[BIG] __attribute__((aligned(64)));
  va_list ap;
  va_start(ap, request);
  pid_t pid = va_arg(ap, pid_t);
  void *addr = va_arg(ap, void *);
  void *data = va_arg(ap, void *);
  va_end(ap);
  if (!real) real = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
  if (request == PTRACE_SETREGSET && (long)addr == NT_X86_XSTATE && data) {
    struct iovec *want = data;
    struct iovec have = {full, BIG};
    int saved = errno;
    if (real(PTRACE_GETREGSET, pid, (void *)(long)NT_X86_XSTATE, &have) == 0 && have.iov_len > want->iov_len) {
      memcpy(full, want->iov_base, want->iov_len);
      errno = saved;
      return real(PTRACE_SETREGSET, pid, (void *)(long)NT_X86_XSTATE, &have);
    }
    errno = saved;
  }
  return real(request, pid, addr, data);
}
