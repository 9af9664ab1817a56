/* sf_setjmp / sf_longjmp for x86-64 SysV: save and restore the callee-saved registers, the
 * stack pointer and the resume address. Floating-point control state is left alone (it is
 * process-wide here and never changed after crt0). */

  .text
  .globl sf_setjmp
  .type sf_setjmp, @function
sf_setjmp:                /* rdi = sf_jmp_buf */
  mov %rbx, 0(%rdi)
  mov %rbp, 8(%rdi)
  mov %r12, 16(%rdi)
  mov %r13, 24(%rdi)
  mov %r14, 32(%rdi)
  mov %r15, 40(%rdi)
  lea 8(%rsp), %rdx       /* the caller's rsp once we have returned */
  mov %rdx, 48(%rdi)
  mov (%rsp), %rdx        /* the return address */
  mov %rdx, 56(%rdi)
  xor %eax, %eax
  ret
  .size sf_setjmp, . - sf_setjmp

  .globl sf_longjmp
  .type sf_longjmp, @function
sf_longjmp:               /* rdi = sf_jmp_buf, esi = value (0 becomes 1) */
  mov %esi, %eax
  test %eax, %eax
  jnz 1f
  inc %eax
1:
  mov 0(%rdi), %rbx
  mov 8(%rdi), %rbp
  mov 16(%rdi), %r12
  mov 24(%rdi), %r13
  mov 32(%rdi), %r14
  mov 40(%rdi), %r15
  mov 48(%rdi), %rsp
  jmp *56(%rdi)
  .size sf_longjmp, . - sf_longjmp

  .section .note.GNU-stack, "", @progbits
