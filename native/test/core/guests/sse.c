/* The one part of the test guest compiled with SSE enabled (the rest is -mgeneral-regs-only, so that
 * kernel-mode runs, which cannot use SSE on kvm_pvm hosts, never meet an SSE instruction).
 * Boundary: returns 0 when double arithmetic through SSE registers gives the right answer. */
#include "runtime.h"

int sse_check(void) {
  /* gcc compiles this to mulsd/addsd/cvttsd2si, which #UD without CR4.OSFXSR. */
  volatile double x = 1.5;
  double y = x * 3.0 + 0.25;
  volatile float f = 2.5f;
  return ((int)(y * 4.0) == 19 && (int)(f * f) == 6) ? 0 : 1;
}
