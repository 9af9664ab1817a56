/* Non-local jumps (lib/setjmp.S): callee-saved registers, stack pointer and resume address.
 * Used by sf.h's sf_checkpoint_parent/sf_create_clones to resume clones at the checkpoint. */
#ifndef SFGUEST_SETJMP_H
#define SFGUEST_SETJMP_H

typedef unsigned long sf_jmp_buf[8]; /* rbx rbp r12 r13 r14 r15 rsp rip */

__attribute__((returns_twice)) int sf_setjmp(sf_jmp_buf env);
__attribute__((noreturn)) void sf_longjmp(sf_jmp_buf env, int value); /* value 0 becomes 1 */

#endif /* SFGUEST_SETJMP_H */
