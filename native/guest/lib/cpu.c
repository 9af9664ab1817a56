/* CPL0 set-up before a flat guest drops to ring 3 (called once from crt0): its own GDT with user
 * segments and a TSS (stack for exceptions taken in ring 3, I/O bitmap opening the hypercall port
 * and the UART), the IDT, the U bit on the VMM's identity map, SSE enabled, SMEP/SMAP off.
 * Runs emulated on kvm_pvm: keep it short, no SSE. */
#include <snowflock/abi.h>
#include <stdint.h>

#define PTE_P 0x1ull
#define PTE_U 0x4ull
#define PTE_PS 0x80ull
#define PTE_ADDR 0x000ffffffffff000ull

/* Ports ring 3 may use: the doorbell (a 4-byte `out`) and the 16550's eight registers. */
#define IOMAP_BYTES ((SF_HC_PORT + 3) / 8 + 1)

struct tss64 {
  uint32_t reserved0;
  uint64_t rsp[3];
  uint64_t reserved1;
  uint64_t ist[7];
  uint64_t reserved2;
  uint16_t reserved3, iomap_base;
  uint8_t iomap[IOMAP_BYTES + 1]; /* a clear bit allows the port; the CPU wants a final 0xff */
} __attribute__((packed));

extern char sf_kstack_top[];
extern int sf_smp_kernel_entry; /* smp.c: no secondaries for a VM entered in kernel mode */
void sf_idt_install(uint16_t code_selector);

/* Selectors: 0x10/0x18 kernel code/data (the same as the VMM's GDT), 0x23/0x2b user data/code,
 * 0x30 the TSS. */
static uint64_t gdt[8] __attribute__((aligned(16))) = {
    0, 0, 0x00af9b000000ffffull, 0x00cf93000000ffffull, 0x00cff3000000ffffull, 0x00affb000000ffffull, 0, 0};
static struct tss64 tss __attribute__((aligned(16)));
static uint8_t df_stack[4096] __attribute__((aligned(16))); /* IST1: #DF gets a known-good stack */

static void allow_port(unsigned port) { tss.iomap[port / 8] &= (uint8_t) ~(1u << (port % 8)); }

static void load_gdt_tss(void) {
  uint64_t base = (uint64_t)(uintptr_t)&tss, limit = sizeof tss - 1;
  tss.rsp[0] = (uint64_t)(uintptr_t)sf_kstack_top;
  tss.ist[0] = (uint64_t)(uintptr_t)(df_stack + sizeof df_stack);
  /* crt0 also sets IOPL 3, but a VMM that writes back the registers it read can clear it (under
   * kvm_pvm KVM_GET_REGS does not show IOPL): the bitmap keeps the ports open regardless. */
  tss.iomap_base = (uint16_t)((uintptr_t)tss.iomap - (uintptr_t)&tss);
  for (unsigned i = 0; i < sizeof tss.iomap; i++) tss.iomap[i] = 0xff;
  for (unsigned p = 0; p < 4; p++) allow_port(SF_HC_PORT + p);
  for (unsigned p = 0; p < 8; p++) allow_port(SF_SERIAL_PORT + p);
  gdt[6] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) | (((limit >> 16) & 0xf) << 48) |
           (((base >> 24) & 0xff) << 56);
  gdt[7] = base >> 32;
  struct {
    uint16_t limit;
    uint64_t base;
  } __attribute__((packed)) gdtr = {sizeof gdt - 1, (uint64_t)(uintptr_t)gdt};
  /* Reload every segment register: the VMM's selectors may index other descriptors here. */
  __asm__ volatile(
      "lgdt %0\n\t"
      "pushq $0x10\n\t"
      "leaq 1f(%%rip), %%rax\n\t"
      "pushq %%rax\n\t"
      "lretq\n"
      "1:\n\t"
      "movw $0x18, %%ax\n\t"
      "movw %%ax, %%ds\n\t"
      "movw %%ax, %%es\n\t"
      "movw %%ax, %%ss\n\t"
      "movw %%ax, %%fs\n\t"
      "movw %%ax, %%gs\n\t"
      "movw $0x30, %%ax\n\t"
      "ltr %%ax"
      :
      : "m"(gdtr)
      : "rax", "memory");
}

/* Ring 3 must reach all of RAM: set U on every present entry of the VMM's identity map. */
static void open_page_tables(void) {
  uint64_t cr3;
  __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
  uint64_t *pml4 = (uint64_t *)(uintptr_t)(cr3 & PTE_ADDR);
  for (int a = 0; a < 512; a++) {
    if (!(pml4[a] & PTE_P)) continue;
    pml4[a] |= PTE_U;
    uint64_t *pdpt = (uint64_t *)(uintptr_t)(pml4[a] & PTE_ADDR);
    for (int b = 0; b < 512; b++) {
      if (!(pdpt[b] & PTE_P)) continue;
      pdpt[b] |= PTE_U;
      if (pdpt[b] & PTE_PS) continue; /* 1 GiB page */
      uint64_t *pd = (uint64_t *)(uintptr_t)(pdpt[b] & PTE_ADDR);
      for (int c = 0; c < 512; c++) {
        if (!(pd[c] & PTE_P)) continue;
        pd[c] |= PTE_U;
        if (pd[c] & PTE_PS) continue; /* 2 MiB page */
        uint64_t *pt = (uint64_t *)(uintptr_t)(pd[c] & PTE_ADDR);
        for (int d = 0; d < 512; d++)
          if (pt[d] & PTE_P) pt[d] |= PTE_U;
      }
    }
  }
  __asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory"); /* flush the TLB */
}

/* CR0: EM off, MP and NE on; CR4: OSFXSR and OSXMMEXCPT on (SSE), SMEP and SMAP off (the
 * exception handlers run at CPL0 on user pages). Each write is an exit: only if needed. */
static void set_control_registers(void) {
  uint64_t cr0, cr4;
  __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
  uint64_t want0 = (cr0 & ~0x4ull) | 0x22ull;
  if (want0 != cr0) __asm__ volatile("mov %0, %%cr0" : : "r"(want0));
  __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
  uint64_t want4 = (cr4 | 0x600ull) & ~((1ull << 20) | (1ull << 21));
  if (want4 != cr4) __asm__ volatile("mov %0, %%cr4" : : "r"(want4));
}

void sf_cpu_setup(const struct sf_bootinfo *bi) {
  (void)bi;
  sf_smp_kernel_entry = 1;
  set_control_registers();
  load_gdt_tss();
  sf_idt_install(0x10);
  open_page_tables();
}
