/* _start, the entry point of every flat guest (rdi = boot info). Normally the VMM enters at CPL3
 * with its own supervisor underneath (abi.h, "Privilege"); a VM created in kernel mode enters at
 * CPL0, and then crt0 builds that environment itself (cpu.c) and drops to CPL3: on the build
 * machines' kvm_pvm every CPL0 instruction goes through KVM's emulator (~1 us each, no SSE), while
 * CPL3 code runs natively. Either way the program runs in ring 3 on crt0's own stack. */

#define SF_STACK_SIZE (64 * 1024)   /* the program's stack (CPL3) */
#define SF_KSTACK_SIZE (16 * 1024)  /* set-up and exception handlers (CPL0, TSS.RSP0) */
#define SF_USER_CS 0x2b
#define SF_USER_SS 0x23

  .section .text.entry, "ax", @progbits
  .globl _start
  .type _start, @function
_start:
  cld
  mov %rdi, %r12                    /* struct sf_bootinfo * (callee-saved: survives to ring 3) */
  lea sf_kstack_top(%rip), %rsp     /* our own stack in either mode */
  xor %ebp, %ebp

  /* Clear .bss (the VMM zero-fills p_memsz > p_filesz, but a guest must not depend on it). The
   * stacks are in .noinit, past it: they need no zeroes, and clearing them cost page faults. */
  lea __bss_start(%rip), %rdi
  lea __bss_end(%rip), %rcx
  sub %rdi, %rcx
  xor %eax, %eax
  rep stosb

  mov %cs, %eax
  test $3, %eax
  jnz sf_user_entry                 /* entered in user mode: the VMM did the rest */

  cli
  mov %r12, %rdi
  call sf_cpu_setup                 /* GDT+TSS, IDT, user-accessible pages, SSE enabled */

  /* iretq to CPL3: IOPL 3 (the TSS I/O bitmap also opens the ports); IF stays 0. */
  pushq $SF_USER_SS
  lea sf_stack_top(%rip), %rax
  pushq %rax
  pushq $0x3002
  pushq $SF_USER_CS
  lea sf_user_entry(%rip), %rax
  pushq %rax
  iretq
  .size _start, . - _start

  .type sf_user_entry, @function
sf_user_entry:
  lea sf_stack_top(%rip), %rsp      /* the program's stack (in user-mode entry we came on kstack) */
  fninit                            /* x87 and SSE in their reset state, all exceptions masked */
  ldmxcsr sf_mxcsr_default(%rip)
  mov %r12, %rdi
  call sf_libc_start                /* never returns */
1:
  pause
  jmp 1b
  .size sf_user_entry, . - sf_user_entry

  .section .rodata
  .balign 4
sf_mxcsr_default:
  .long 0x1f80
  /* Also keeps .rodata (its PT_LOAD) from ever being empty. */
  .globl sf_image_tag
sf_image_tag:
  .asciz "snowflock flat guest, abi 1"

  .section .noinit.stack, "aw", @nobits  /* not cleared with .bss (flat.ld) */
  .balign 4096
  .globl sf_stack_bottom
sf_stack_bottom:
  .skip SF_STACK_SIZE
  .globl sf_stack_top
sf_stack_top:
  .globl sf_kstack_bottom
sf_kstack_bottom:
  .skip SF_KSTACK_SIZE
  .globl sf_kstack_top
sf_kstack_top:

  .section .note.GNU-stack, "", @progbits
