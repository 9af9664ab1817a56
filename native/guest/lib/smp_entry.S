/* Where a secondary vCPU starts (SF_HC_VCPU_START, from smp.c): already in ring 3 on its own stack with
 * rdi = its boot info; put x87/SSE in their reset state like crt0 does for vCPU 0, then park in C. */

  .text
  .globl sf_smp_secondary_entry
  .type sf_smp_secondary_entry, @function
sf_smp_secondary_entry:
  cld
  xor %ebp, %ebp
  fninit
  ldmxcsr smp_mxcsr_default(%rip)
  call sf_smp_secondary_main        /* never returns */
1:
  pause
  jmp 1b
  .size sf_smp_secondary_entry, . - sf_smp_secondary_entry

  .section .rodata
  .balign 4
smp_mxcsr_default:
  .long 0x1f80

  .section .note.GNU-stack, "", @progbits
