/* The guest's IDT (vectors 0–31) and the C half of the exception stubs in traps.S: a fault is
 * printed to the console (vector, error code, rip, rsp, cr2) and reported with SF_HC_PANIC, so a
 * crashing guest says where it died instead of triple-faulting. Handlers run at CPL0 on the TSS
 * stack (#DF on its own IST stack); like all library code they use no SSE. */
#include <sfguest/hypercall.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include <stdint.h>

struct sf_trap_frame {
  uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

struct idt_gate {
  uint16_t offset_lo, selector;
  uint8_t ist, type_attr;
  uint16_t offset_mid;
  uint32_t offset_hi, zero;
} __attribute__((packed));

struct idt_ptr {
  uint16_t limit;
  uint64_t base;
} __attribute__((packed));

extern const uint64_t sf_trap_stubs[32];
extern char sf_stack_bottom[];

static struct idt_gate idt[32] __attribute__((aligned(16)));

static const char *const vector_names[32] = {"#DE divide error",
                                             "#DB debug",
                                             "NMI",
                                             "#BP breakpoint",
                                             "#OF overflow",
                                             "#BR bound",
                                             "#UD invalid opcode",
                                             "#NM no FPU",
                                             "#DF double fault",
                                             "coprocessor overrun",
                                             "#TS bad TSS",
                                             "#NP segment not present",
                                             "#SS stack fault",
                                             "#GP general protection",
                                             "#PF page fault",
                                             "reserved 15",
                                             "#MF x87 error",
                                             "#AC alignment check",
                                             "#MC machine check",
                                             "#XM SIMD error",
                                             "#VE virtualization",
                                             "#CP control protection",
                                             "reserved 22",
                                             "reserved 23",
                                             "reserved 24",
                                             "reserved 25",
                                             "reserved 26",
                                             "reserved 27",
                                             "#HV injection",
                                             "#VC VMM communication",
                                             "#SX security",
                                             "reserved 31"};

void sf_idt_install(uint16_t cs) {
  for (int v = 0; v < 32; v++) {
    uint64_t off = sf_trap_stubs[v];
    idt[v].offset_lo = (uint16_t)off;
    idt[v].selector = cs;
    idt[v].ist = v == 8 ? 1 : 0; /* a double fault may come from a broken stack */
    idt[v].type_attr = 0x8E;     /* present, DPL 0, 64-bit interrupt gate (IF stays clear) */
    idt[v].offset_mid = (uint16_t)(off >> 16);
    idt[v].offset_hi = (uint32_t)(off >> 32);
    idt[v].zero = 0;
  }
  struct idt_ptr p = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};
  __asm__ volatile("lidt %0" : : "m"(p));
}

__attribute__((noreturn)) void sf_trap(const struct sf_trap_frame *f) {
  static int in_trap;
  char msg[224];
  uint64_t cr2 = 0;
  if (in_trap++) {
    /* Faulted while reporting a fault: skip the console, just panic. */
    sf_hc_panic(f->vector, f->rip, "fault while reporting a fault", 29);
    for (;;) __asm__ volatile("cli; hlt");
  }
  if (f->vector == 14) __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
  int n =
      snprintf(msg, sizeof msg, "\nguest fault: vector %lu (%s) error=0x%lx rip=0x%lx rsp=0x%lx cr2=0x%lx cpl=%lu%s\n",
               (unsigned long)f->vector, vector_names[f->vector & 31], (unsigned long)f->error, (unsigned long)f->rip,
               (unsigned long)f->rsp, (unsigned long)cr2, (unsigned long)(f->cs & 3),
               f->rsp < (uint64_t)(uintptr_t)sf_stack_bottom + 256 ? " (stack overflow?)" : "");
  sf_flush();
  size_t len = n < (int)sizeof msg ? (size_t)n : sizeof msg - 1;
  sf_console_write(msg, len);
  sf_hc_panic(f->vector, f->rip, msg + 1, len - 2); /* without the framing newlines */
  for (;;) __asm__ volatile("cli; hlt");
}
