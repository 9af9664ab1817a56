/* Ending a guest program: exit() flushes the console and issues SF_HC_EXIT; sf_panic reports an
 * unrecoverable error through SF_HC_PANIC. Both spin for good if the VMM resumes the vCPU (the
 * program runs in ring 3, where cli/hlt would fault). */
#include <sfguest/hypercall.h>
#include <sfguest/io.h>
#include <sfguest/stdio.h>
#include <sfguest/stdlib.h>
#include <stdarg.h>

int sf_stack_intact(void);

__attribute__((noreturn)) void sf_terminate(int code) {
  sf_flush();
  sf_hc1(SF_HC_EXIT, (unsigned long)(long)code);
  for (;;) cpu_relax();
}

void (*sf_exit_hook)(int code);

__attribute__((noreturn)) void exit(int code) {
  if (sf_exit_hook) sf_exit_hook(code);
  if (!sf_stack_intact()) {
    static const char msg[] = "\nsnowflock guest: stack overflow detected at exit\n";
    sf_flush();
    sf_console_write(msg, sizeof msg - 1);
    if (code == 0) code = 125;
  }
  sf_terminate(code);
}

__attribute__((noreturn)) void abort(void) { sf_panic("abort()"); }

__attribute__((noreturn)) void sf_panic(const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof msg - 2) n = (int)sizeof msg - 2;
  msg[n++] = '\n';
  sf_flush();
  sf_console_write("panic: ", 7);
  sf_console_write(msg, (size_t)n);
  sf_hc_panic(0xFF, (unsigned long)__builtin_return_address(0), msg, (unsigned long)n - 1);
  for (;;) cpu_relax();
}
