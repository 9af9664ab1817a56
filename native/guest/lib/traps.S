/* Entry stubs of the 32 CPU exception vectors: each pushes a uniform frame (vector, error code or
 * 0, then the CPU's rip/cs/rflags/rsp/ss) and calls sf_trap (lib/traps.c), which reports the fault
 * through the console and SF_HC_PANIC. Without them any fault would triple-fault the guest. */

  .text

/* Vectors for which the CPU pushes an error code: #DF 8, #TS 10, #NP 11, #SS 12, #GP 13, #PF 14,
 * #AC 17, #CP 21, #VC 29, #SX 30. */
.macro TRAP vec
  .balign 16
sf_trap_\vec:
  .if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
  .else
  pushq $0
  .endif
  pushq $\vec
  jmp sf_trap_common
.endm

.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  TRAP \v
.endr

sf_trap_common:
  mov %rsp, %rdi        /* struct sf_trap_frame * */
  and $-16, %rsp        /* the C ABI wants a 16-byte aligned stack at the call */
  call sf_trap          /* never returns */
1:
  cli
  hlt
  jmp 1b

  .section .rodata
  .balign 8
  .globl sf_trap_stubs
sf_trap_stubs:
.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  .quad sf_trap_\v
.endr

  .section .note.GNU-stack, "", @progbits
