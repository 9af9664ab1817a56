/* Entry points of the test guest. Boundary: the few instructions C cannot express.
 * The VMM enters with rsp 16-byte aligned and rdi = the vCPU's bootinfo; `call` keeps the SysV stack
 * alignment that gcc's SSE code expects. */
#define SF_HC_PORT 0x0F10
#define SF_HC_EXIT 1

    .section .text.start, "ax"
    .globl _start
_start:
    call guest_main
    mov %eax, %edi          /* exit code */
    mov $SF_HC_EXIT, %eax
    mov $SF_HC_PORT, %dx
    out %eax, %dx
1:  cli
    hlt
    jmp 1b

    .globl ap_start
ap_start:
    call ap_main
2:  cli
    hlt
    jmp 2b

    .section .note.GNU-stack, "", @progbits
