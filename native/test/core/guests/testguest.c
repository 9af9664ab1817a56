/* The test guest: one flat ELF whose behaviour is chosen by the first word of its command line.
 * Boundary: each mode exercises one VMM feature and reports what it saw through its exit code
 * (0 = everything as expected, otherwise which check failed) or through memory the test reads. */
#include "runtime.h"

#define COUNTER_GPA 0x300000ul /* the spin modes' counters (the test reads them) */
#define KiB 1024ul
#define MiB (1024ul * KiB)
#define GiB (1024ul * MiB)

static const struct sf_bootinfo* boot;
static char mode[32];

int sse_check(void); /* sse.c */

/* Whether the command line has the word `flag` after the mode. */
static int has_flag(const char* flag) {
  const char* p = (const char*)boot->cmdline_gpa;
  size_t n = strlen(flag);
  while (*p) {
    while (*p == ' ') ++p;
    const char* w = p;
    while (*p && *p != ' ') ++p;
    if ((size_t)(p - w) == n && memcmp(w, flag, n) == 0) return 1;
  }
  return 0;
}

static volatile u64 smp_counter;
static volatile u64 smp_seen_mask;
static volatile u64 smp_tickets[SF_MAX_VCPUS];
static u8 ap_stacks[SF_MAX_VCPUS][16 * 1024] __attribute__((aligned(16)));

extern char ap_start[];

static u64 ap_stack_top(u32 id) { return (u64)&ap_stacks[id][sizeof ap_stacks[id]]; }

/* RAM end as the guest sees it (abi.h: above 3 GiB RAM continues at 4 GiB). */
static u64 ram_top(void) {
  u64 ram = boot->ram_bytes;
  return ram <= SF_RAM_LOW_MAX ? ram : SF_RAM_HIGH_GPA + (ram - SF_RAM_LOW_MAX);
}

/* ---- hello / byte --------------------------------------------------------------------------- */

static int mode_hello(void) {
  serial_puts("hello\n");
  return 0;
}

/* ---- hyper: NOP, TIME_NS, CONSOLE_WRITE, SSE, seed calls, bootinfo ---------------------------- */

static union sf_hc_block block __attribute__((aligned(64)));

static int mode_hyper(void) {
  int fail = 0;
  if (hc0(SF_HC_NOP) != 0) fail |= 1 << 0;

  i64 t1 = hc0(SF_HC_TIME_NS);
  i64 t2 = hc0(SF_HC_TIME_NS);
  if (t1 <= 0 || t2 < t1) fail |= 1 << 1;

  static const char msg[] = "console-write ok\n";
  if (hc(SF_HC_CONSOLE_WRITE, (u64)msg, sizeof msg - 1, 0, 0) != (i64)(sizeof msg - 1)) fail |= 1 << 2;

  /* SSE (user mode only: kernel mode on kvm_pvm cannot run it) */
  if (has_flag("sse") && sse_check() != 0) fail |= 1 << 3;

  /* Seed call answered by the test thread. */
  memset(&block, 0x55, sizeof block); /* garbage the VMM must not mistake for fields */
  block.req.nr = SF_HC_TICKET_REQUEST;
  block.req.flags = SF_REQ_BLOCK;
  block.req.nclones = 3;
  block.req.min = 1;
  block.req.status = 0;
  block.req.timeout_ms = 250;
  memset(block.req.ticket, 0, sizeof block.req.ticket);
  i64 r = hc(SF_HC_TICKET_REQUEST, (u64)&block, 0, 0, 0);
  if (r != 0) fail |= 1 << 4;
  if (block.rep.status != 0 || block.rep.count != 3 ||
      strcmp(block.rep.ticket, "11111111-2222-3333-4444-555555555555") != 0 || block.rep.alloc[0].vmid != 1 ||
      block.rep.alloc[0].processors != 2)
    fail |= 1 << 5;

  /* A second call, answered with an error. */
  memset(&block, 0, sizeof block);
  block.req.nr = SF_HC_CLONE_MASTER;
  memcpy(block.req.ticket, "11111111-2222-3333-4444-555555555555", 37);
  r = hc(SF_HC_CLONE_MASTER, (u64)&block, 0, 0, 0);
  if (r != -(i64)SF_ENORES || block.rep.status != -(int)SF_ENORES || strcmp(block.rep.errmsg, "no resources") != 0)
    fail |= 1 << 6;

  /* Boot information. */
  const char* cmdline = (const char*)boot->cmdline_gpa;
  if (boot->magic != SF_BOOTINFO_MAGIC || boot->abi_version != SF_ABI_VERSION || boot->vcpu_id != 0 ||
      boot->vcpus != 1 || boot->clusterid != 7 || boot->vmid != 3 || boot->cmdline_len != strlen(cmdline) ||
      memcmp(cmdline, "hyper extra", 11) != 0 || boot->ram_bytes != 64 * MiB)
    fail |= 1 << 7;
  return fail;
}

/* ---- smp: three secondary vCPUs increment a counter ------------------------------------------- */

static void ap_smp(const struct sf_bootinfo* bi) {
  /* Mask first: vCPU 0 checks it as soon as the counter reaches 3. */
  if (bi->magic == SF_BOOTINFO_MAGIC && bi->vcpus == 4)
    __atomic_fetch_or(&smp_seen_mask, 1ul << bi->vcpu_id, __ATOMIC_SEQ_CST);
  /* Using the old value makes gcc emit lock xadd (not lock add): each vCPU gets a distinct ticket. */
  smp_tickets[bi->vcpu_id % SF_MAX_VCPUS] = __atomic_fetch_add(&smp_counter, 1, __ATOMIC_SEQ_CST);
}

static int mode_smp(void) {
  for (u32 id = 1; id < 4; ++id) {
    if (hc(SF_HC_VCPU_START, id, (u64)ap_start, ap_stack_top(id), 0) != 0) return 100 + (int)id;
  }
  if (hc(SF_HC_VCPU_START, 1, (u64)ap_start, ap_stack_top(1), 0) != -(i64)SF_ESTATE) return 110;
  if (hc(SF_HC_VCPU_START, 0, (u64)ap_start, ap_stack_top(0), 0) != -(i64)SF_ESTATE) return 111;
  if (hc(SF_HC_VCPU_START, 4, (u64)ap_start, ap_stack_top(0), 0) != -(i64)SF_EINVAL) return 112;
  i64 deadline = hc0(SF_HC_TIME_NS) + 10000000000l; /* 10 s */
  while (__atomic_load_n(&smp_counter, __ATOMIC_SEQ_CST) < 3) {
    if (hc0(SF_HC_TIME_NS) > deadline) return 120 + (int)smp_counter;
    cpu_relax();
  }
  if (smp_seen_mask != 0xe) return 130;
  if (smp_tickets[1] + smp_tickets[2] + smp_tickets[3] != 0 + 1 + 2) return 131; /* tickets 0, 1, 2 in any order */
  return (int)smp_counter;
}

/* ---- spin: vCPU 0 spins without exits, vCPU 1 spins with hypercalls ---------------------------- */

static void ap_spin(void) {
  volatile u64* c = (volatile u64*)(COUNTER_GPA + 8);
  for (;;) {
    *c = *c + 1;
    hc0(SF_HC_NOP);
  }
}

static int mode_spin(void) {
  volatile u64* c = (volatile u64*)COUNTER_GPA;
  if (boot->vcpus > 1 && hc(SF_HC_VCPU_START, 1, (u64)ap_start, ap_stack_top(1), 0) != 0) return 1;
  serial_puts("spinning\n");
  for (;;) *c = *c + 1;
}

/* ---- one vCPU ends the run while another is busy -------------------------------------------- */

static int mode_exitspin(void) {
  volatile u64* c1 = (volatile u64*)(COUNTER_GPA + 8);
  if (hc(SF_HC_VCPU_START, 1, (u64)ap_start, ap_stack_top(1), 0) != 0) return 1;
  while (*c1 < 100) cpu_relax();
  return 5;
}

static int mode_apcrash(void) {
  volatile u64* c = (volatile u64*)COUNTER_GPA;
  if (hc(SF_HC_VCPU_START, 1, (u64)ap_start, ap_stack_top(1), 0) != 0) return 1;
  for (;;) *c = *c + 1;
}

/* ---- faults and halts --------------------------------------------------------------------------- */

static int mode_triple(void) {
  serial_puts("about to fault\n");
  __asm__ volatile("ud2"); /* no IDT: #UD → #DF → triple fault */
  return 1;
}

/* User mode: the supervisor reports exceptions instead of triple faulting... */
static int mode_ud2(void) {
  __asm__ volatile("ud2");
  return 1;
}

static int mode_pagefault(void) { return (int)*(volatile u64*)0x7f0000001000ul; /* far beyond the identity map */ }

static int mode_privileged(void) {
  static const u64 idtr[2] = {0, 0};
  __asm__ volatile("lidt %0" : : "m"(idtr)); /* CPL 3: #GP */
  return 1;
}

/* ...unless the guest destroys the supervisor's IDT first (it is ordinary RAM). */
static int mode_smash(void) {
  memset((void*)SF_SUPERVISOR_GPA, 0, 512);
  __asm__ volatile("ud2");
  return 1;
}

/* cli/sti/hlt in user mode go through the supervisor; cli; hlt must still end as halted. */
static int mode_clihlt(void) {
  __asm__ volatile("cli; sti; cli");
  serial_puts("halting\n");
  __asm__ volatile("hlt");
  return 1;
}

static int mode_halt(void) {
  serial_puts("halting\n");
  __asm__ volatile("cli; hlt");
  return 1;
}

static int mode_panic(void) {
  static const char msg[] = "bad thing\nhappened";
  hc(SF_HC_PANIC, 13, 0x1234, (u64)msg, sizeof msg - 1);
  return 1;
}

/* ---- hostile: every bad argument must come back as an error code ------------------------------ */

static int mode_hostile(void) {
  const u64 end = ram_top();
  const u64 big = 0x200000;
  int check = 0;
#define EXPECT(call, want)              \
  do {                                  \
    ++check;                            \
    if ((call) != (want)) return check; \
  } while (0)

  EXPECT(hc(SF_HC_CONSOLE_WRITE, end - 4, 8, 0, 0), -(i64)SF_EFAULT);     /* 1: past RAM end */
  EXPECT(hc(SF_HC_CONSOLE_WRITE, ~0ul - 3, 8, 0, 0), -(i64)SF_EFAULT);    /* 2: gpa + len wraps */
  EXPECT(hc(SF_HC_CONSOLE_WRITE, big, ~0ul, 0, 0), -(i64)SF_EFAULT);      /* 3: huge length */
  EXPECT(hc(SF_HC_CONSOLE_WRITE, big, 1ul << 40, 0, 0), -(i64)SF_EFAULT); /* 4 */
  EXPECT(hc(SF_HC_CONSOLE_WRITE, end, 0, 0, 0), 0);                       /* 5: empty at the end: fine */
  memset((void*)big, 'x', 1 * MiB);
  EXPECT(hc(SF_HC_CONSOLE_WRITE, big, 1 * MiB, 0, 0), (i64)SF_CONSOLE_WRITE_MAX); /* 6: capped */
  EXPECT(hc(SF_HC_FRESH_PAGES, big + 1, 1, 0, 0), -(i64)SF_EINVAL);               /* 7: unaligned */
  EXPECT(hc(SF_HC_FRESH_PAGES, big, 1ul << 60, 0, 0), -(i64)SF_EFAULT);           /* 8: npages * 4096 wraps */
  EXPECT(hc(SF_HC_FRESH_PAGES, end - 4096, 2, 0, 0), -(i64)SF_EFAULT);            /* 9 */
  EXPECT(hc(SF_HC_FRESH_PAGES, big, 16, 0, 0), 0);                                /* 10 */
  EXPECT(hc0(8), -(i64)SF_ENOSYS);                                                /* 11: unknown numbers */
  EXPECT(hc0(15), -(i64)SF_ENOSYS);                                               /* 12 */
  EXPECT(hc0(25), -(i64)SF_ENOSYS);                                               /* 13 */
  EXPECT(hc0(0xfffffffful), -(i64)SF_ENOSYS);                                     /* 14 */
  EXPECT(hc0(1ul << 63), -(i64)SF_ENOSYS);                                        /* 15 */
  EXPECT(hc0(0x100000000ul | SF_HC_NOP), -(i64)SF_ENOSYS);                        /* 16: upper bits count */

  EXPECT(hc(SF_HC_TICKET_REQUEST, end + 4096, 0, 0, 0), -(i64)SF_EFAULT); /* 17: block outside RAM */
  EXPECT(hc(SF_HC_TICKET_REQUEST, end - 100, 0, 0, 0), -(i64)SF_EFAULT);  /* 18: block runs past end */
  EXPECT(hc(SF_HC_TICKET_REQUEST, ~0ul - 10, 0, 0, 0), -(i64)SF_EFAULT);  /* 19: wraps */
  memset(&block, 0, sizeof block);
  block.req.nr = SF_HC_TICKET_LIST;
  EXPECT(hc(SF_HC_TICKET_REQUEST, (u64)&block, 0, 0, 0), -(i64)SF_EINVAL); /* 20: nr mismatch */
  block.req.nr = SF_HC_TICKET_REQUEST;
  memset(block.req.ticket, 'a', sizeof block.req.ticket);
  EXPECT(hc(SF_HC_TICKET_REQUEST, (u64)&block, 0, 0, 0), -(i64)SF_EINVAL); /* 21: unterminated ticket */
  memset(block.req.ticket, 0, sizeof block.req.ticket);
  block.req.flags = 0x80;
  EXPECT(hc(SF_HC_TICKET_REQUEST, (u64)&block, 0, 0, 0), -(i64)SF_EINVAL); /* 22: unknown flag */

  EXPECT(hc(SF_HC_VCPU_START, 99, (u64)ap_start, ap_stack_top(1), 0), -(i64)SF_EINVAL);        /* 23 */
  EXPECT(hc(SF_HC_VCPU_START, 1ul << 40, (u64)ap_start, ap_stack_top(1), 0), -(i64)SF_EINVAL); /* 24 */
  EXPECT(hc(SF_HC_VCPU_START, 1, end + 4096, ap_stack_top(1), 0), -(i64)SF_EFAULT);            /* 25 */
  EXPECT(hc(SF_HC_VCPU_START, 1, (u64)ap_start, 8, 0), -(i64)SF_EFAULT);                       /* 26 */
  EXPECT(hc(SF_HC_VCPU_START, 1, (u64)ap_start, end + 64, 0), -(i64)SF_EFAULT);                /* 27 */
  EXPECT(hc(SF_HC_VCPU_START, 0, (u64)ap_start, ap_stack_top(0), 0), -(i64)SF_ESTATE);         /* 28 */

  /* Devices nobody owns: port reads float high, MMIO beyond RAM reads all-ones. */
  EXPECT(inb(0x80), 0xff);                                /* 29 */
  EXPECT(inl(0x1234), 0xfffffffful);                      /* 30 */
  EXPECT(inl(SF_HC_PORT), 0xfffffffful);                  /* 31: IN on the doorbell */
  EXPECT(*(volatile u32*)(end + 16 * MiB), 0xfffffffful); /* 32: MMIO, ram 64 MiB */
  *(volatile u32*)(end + 16 * MiB) = 1;                   /* ignored */
  outb(SF_SERIAL_PORT + 7, 0x5a);
  EXPECT(inb(SF_SERIAL_PORT + 7), 0x5a);        /* 33: scratch register */
  EXPECT(inb(SF_SERIAL_PORT + 5) & 0x61, 0x60); /* 34: LSR: THR empty, no data */
  EXPECT(hc0(SF_HC_NOP), 0);                    /* 35: still alive */
#undef EXPECT
  return 0;
}

/* ---- input: echo a line typed on the host ------------------------------------------------------ */

static int mode_input(void) {
  char line[64];
  size_t n = 0;
  serial_puts("ready\n");
  i64 deadline = hc0(SF_HC_TIME_NS) + 10000000000l;
  while (n < sizeof line - 1) {
    if ((inb(SF_SERIAL_PORT + 5) & 1) == 0) {
      if (hc0(SF_HC_TIME_NS) > deadline) return 2;
      continue;
    }
    char c = (char)inb(SF_SERIAL_PORT);
    if (c == '\n') break;
    line[n++] = c;
  }
  line[n] = 0;
  serial_puts("got:");
  serial_puts(line);
  serial_puts("\n");
  return 0;
}

/* ---- poll: wait for console input the way the SDK's getchar does (LSR polling, nothing else) ---- */

static int poll_getc(void) {
  while ((inb(SF_SERIAL_PORT + 5) & 1) == 0) cpu_relax();
  return inb(SF_SERIAL_PORT);
}

/* Echoes every line as "got:<line>"; the line "quit" ends the guest with code 0. */
static int mode_poll(void) {
  char line[64];
  serial_puts("polling\n");
  for (;;) {
    size_t n = 0;
    for (;;) {
      char c = (char)poll_getc();
      if (c == '\n') break;
      if (n < sizeof line - 1) line[n++] = c;
    }
    line[n] = 0;
    if (strcmp(line, "quit") == 0) return 0;
    serial_puts("got:");
    serial_puts(line);
    serial_puts("\n");
  }
}

/* ---- idlehlt: hlt with interrupts on (no interrupt ever comes: the vCPU sleeps for good) -------- */

static int mode_idlehlt(void) {
  volatile u64* c = (volatile u64*)COUNTER_GPA;
  serial_puts("idling\n");
  for (;;) {
    __asm__ volatile("sti; hlt; cli" ::: "memory");
    *c = *c + 1; /* the test checks that this never happens */
  }
  return 1; /* not reached */
}

/* ---- wait: one seed call; exit with what it returned ------------------------------------------ */

static int mode_wait(void) {
  memset(&block, 0, sizeof block);
  block.req.nr = SF_HC_CLONE_JOIN;
  memcpy(block.req.ticket, "t", 2);
  i64 r = hc(SF_HC_CLONE_JOIN, (u64)&block, 0, 0, 0);
  if (r != block.rep.status) return 99;
  return (int)r;
}

/* ---- high: touch the last byte of RAM above 4 GiB and the last byte below the hole ------------- */

static int mode_high(void) {
  const u64 top = ram_top();
  if (boot->ram_bytes > SF_RAM_LOW_MAX) *(volatile u64*)(SF_RAM_LOW_MAX - 8) = 0x10775eed;
  *(volatile u64*)(top - 8) = 0x5eed5eed;
  return 0;
}

/* ---- fork modes: state the test reads at COUNTER_GPA ------------------------------------------ */

#define FORKCOUNT_N 60000ul
#define FORK_PAGES_GPA (16ul * MiB)
#define FORK_PAGES 2048ul

/* Counts to FORKCOUNT_N with a hypercall per step (fork points land right after an I/O exit), then
 * prints the running hash: a clone resumed anywhere in between must print the same line. */
static int mode_forkcount(void) {
  volatile u64* st = (volatile u64*)COUNTER_GPA;
  while (st[0] < FORKCOUNT_N) {
    st[1] = st[1] * 6364136223846793005ul + st[0];
    st[0] = st[0] + 1;
    hc0(SF_HC_NOP);
  }
  serial_puts("forkcount ");
  serial_put_hex(st[1]);
  serial_puts("\n");
  return 0;
}

/* Rewrites every page of an 8 MiB region per pass: word 0 = pass, word 1 = the vmid read from the
 * bootinfo at that moment; st[2] = passes done. */
static int mode_forkpages(void) {
  volatile u64* st = (volatile u64*)COUNTER_GPA;
  for (;;) {
    u64 gen = st[2] + 1;
    for (u64 p = 0; p < FORK_PAGES; ++p) {
      volatile u64* w = (volatile u64*)(FORK_PAGES_GPA + p * 4096);
      w[0] = gen;
      w[1] = ((volatile const struct sf_bootinfo*)boot)->vmid;
    }
    st[2] = gen;
    hc0(SF_HC_NOP);
  }
  return 0; /* not reached */
}

/* Four vCPUs each run a hypercall-per-step hash (vCPU k's state at COUNTER_GPA + 64 k: step, hash,
 * done); the test forks the VM mid-way. vCPU 0 prints the XOR of the four hashes once all are done:
 * a clone must print the same line. Finished secondaries keep making exits (never halt), so the VM
 * stays forkable. */
#define FORKSMP_N 15000ul
static void forksmp_work(u32 id) {
  volatile u64* st = (volatile u64*)(COUNTER_GPA + 64ul * id);
  while (st[0] < FORKSMP_N) {
    st[1] = st[1] * 6364136223846793005ul + st[0] + id;
    st[0] = st[0] + 1;
    hc0(SF_HC_NOP);
  }
  st[2] = 1;
}

static void ap_forksmp(const struct sf_bootinfo* bi) {
  forksmp_work(bi->vcpu_id);
  for (;;) hc0(SF_HC_NOP);
}

static int mode_forksmp(void) {
  if (boot->vcpus != 4) return 90;
  for (u32 id = 1; id < 4; ++id) {
    if (hc(SF_HC_VCPU_START, id, (u64)ap_start, ap_stack_top(id), 0) != 0) return 100 + (int)id;
  }
  forksmp_work(0);
  u64 x = 0;
  for (u32 id = 0; id < 4; ++id) {
    volatile u64* st = (volatile u64*)(COUNTER_GPA + 64ul * id);
    while (!st[2]) hc0(SF_HC_NOP);
    x ^= st[1];
  }
  serial_puts("forksmp ");
  serial_put_hex(x);
  serial_puts("\n");
  return 0;
}

/* Calls CLONE_MASTER (the test forks the VM while the call waits), then reports what this VM got:
 * rax, the reply's status and vmid, and the bootinfo vmid; exits with the reply's vmid (or 100 + the
 * error code). Memory written before the call must read the same in every VM. */
static int mode_forkcall(void) {
  volatile u64* st = (volatile u64*)COUNTER_GPA;
  st[0] = 0xfeedf00dul;
  memset(&block, 0, sizeof block);
  block.req.nr = SF_HC_CLONE_MASTER;
  memcpy(block.req.ticket, "ticket-1", 9);
  i64 r = hc(SF_HC_CLONE_MASTER, (u64)&block, 0, 0, 0);
  serial_puts("forkcall rax=");
  serial_put_hex((u64)r);
  serial_puts(" vmid=");
  serial_put_hex((u64)(i64)block.rep.vmid);
  serial_puts(" count=");
  serial_put_hex(block.rep.count);
  serial_puts(" boot=");
  serial_put_hex(((volatile const struct sf_bootinfo*)boot)->vmid);
  serial_puts(st[0] == 0xfeedf00dul ? " memory ok\n" : " memory WRONG\n");
  if (r < 0) return 100 + (int)-r;
  return block.rep.vmid;
}

/* ---- virtio: the smallest virtio-net driver (the VMM's NIC wiring test) ----------------------- */
/* Probes slot 0, negotiates VERSION_1 | MAC | STATUS, sets up two 8-entry queues, sends one frame of
 * ethertype 0x88b5 carrying "snowflock", posts one rx buffer and polls for a frame back (the test on the
 * tap answers). Prints what it saw; exit 0 when everything matched. */
#define VQ_N 8
#define VQ_BASE 0x380000ul /* rx ring, tx ring (4 KiB each), then buffers */
struct vq_desc {
  u64 addr;
  u32 len;
  u16 flags, next;
};
static volatile u32* vreg(u32 off) { return (volatile u32*)(SF_VIRTIO_MMIO_GPA + off); }
static void vq_setup(u32 q, u64 base) {
  *vreg(0x030) = q;
  *vreg(0x038) = VQ_N;
  u64 avail = base + 16 * VQ_N, used = base + 2048;
  *vreg(0x080) = (u32)base;
  *vreg(0x084) = (u32)(base >> 32);
  *vreg(0x090) = (u32)avail;
  *vreg(0x094) = (u32)(avail >> 32);
  *vreg(0x0a0) = (u32)used;
  *vreg(0x0a4) = (u32)(used >> 32);
  *vreg(0x044) = 1;
}
static u8 vmac[6];
#define RXD ((volatile struct vq_desc*)VQ_BASE)
#define RXAVAIL ((volatile u16*)(VQ_BASE + 16 * VQ_N))
#define RXUSED ((volatile u16*)(VQ_BASE + 2048))
#define TXD ((volatile struct vq_desc*)(VQ_BASE + 0x1000))
#define TXAVAIL ((volatile u16*)(VQ_BASE + 0x1000 + 16 * VQ_N))
#define TXUSED ((volatile u16*)(VQ_BASE + 0x1000 + 2048))
#define RXBUF ((u8*)(VQ_BASE + 0x2000))
#define TXBUF ((u8*)(VQ_BASE + 0x2800))
static void virtio_read_mac(void) {
  for (int i = 0; i < 6; ++i) vmac[i] = *(volatile u8*)(SF_VIRTIO_MMIO_GPA + 0x100 + i);
}
/* Probe, negotiate, two queues, one rx buffer posted. 0 or the failed step. */
static int virtio_up(void) {
  if (boot->ndevices != 1) return 10 + (int)boot->ndevices;
  if (*vreg(0) != 0x74726976u || *vreg(4) != 2 || *vreg(8) != 1) return 2;
  virtio_read_mac();
  serial_puts("virtio mac=");
  for (int i = 0; i < 6; ++i) serial_put_hex(vmac[i]);
  serial_puts(" status=");
  serial_put_hex(*(volatile u16*)(SF_VIRTIO_MMIO_GPA + 0x106));
  serial_puts("\n");
  *vreg(0x070) = 0;
  *vreg(0x070) = 1;
  *vreg(0x070) = 3;
  *vreg(0x024) = 0;
  *vreg(0x020) = (1u << 5) | (1u << 16);
  *vreg(0x024) = 1;
  *vreg(0x020) = 1; /* VERSION_1 */
  *vreg(0x070) = 11;
  if ((*vreg(0x070) & 8) == 0) return 3;
  memset((void*)VQ_BASE, 0, 0x3000);
  vq_setup(0, VQ_BASE);
  vq_setup(1, VQ_BASE + 0x1000);
  *vreg(0x070) = 15;
  RXD[0].addr = (u64)RXBUF;
  RXD[0].len = 1526;
  RXD[0].flags = 2;
  RXAVAIL[2] = 0;
  __asm__ volatile("" ::: "memory");
  RXAVAIL[1] = 1;
  return 0;
}
/* Sends a 64-byte broadcast frame of ethertype 0x88b5 carrying `text` (the n-th frame sent). */
static int virtio_send(const char* text, u16 n) {
  memset(TXBUF, 0, 12 + 64);
  memset(TXBUF + 12, 0xff, 6);
  memcpy(TXBUF + 18, vmac, 6);
  TXBUF[24] = 0x88;
  TXBUF[25] = 0xb5;
  memcpy(TXBUF + 26, text, strlen(text));
  TXD[0].addr = (u64)TXBUF;
  TXD[0].len = 12 + 64;
  TXD[0].flags = 0;
  TXAVAIL[2 + (n % VQ_N)] = 0;
  __asm__ volatile("" ::: "memory");
  TXAVAIL[1] = (u16)(n + 1);
  *vreg(0x050) = 1;
  for (u64 spin = 0; TXUSED[1] != (u16)(n + 1); ++spin) {
    if (spin > 4000000000ul) return 4;
    cpu_relax();
  }
  return 0;
}
static int mode_virtio(void) {
  int r = virtio_up();
  if (r != 0) return r;
  if ((r = virtio_send("snowflock", 0)) != 0) return r;
  for (u64 spin = 0; RXUSED[1] != 1; ++spin) {
    if (spin > 4000000000ul) return 5;
    cpu_relax();
  }
  const u32 len = *(volatile u32*)(VQ_BASE + 2048 + 8);
  serial_puts("virtio rx len=");
  serial_put_hex(len);
  serial_puts(memcmp(RXBUF + 12 + 14, "flocksnow", 9) == 0 ? " payload ok\n" : " payload WRONG\n");
  return len == 12 + 64 && memcmp(RXBUF + 12 + 14, "flocksnow", 9) == 0 ? 0 : 6;
}
/* Brings the NIC up, says "parent", then waits for a link change (ConfigGeneration moves: it is a clone on
 * a new tap) and says "clone" with the MAC its config space now holds. */
static int mode_virtiofork(void) {
  int r = virtio_up();
  if (r != 0) return r;
  /* Read before "parent" goes out: the test forks once it sees that frame, and a clone must find the
   * generation it compares with already saved (a driver saves it before it asks DHCP, for the same reason). */
  const u32 gen = *vreg(0x0fc);
  if ((r = virtio_send("parent", 0)) != 0) return r;
  for (;;) {
    if (*vreg(0x0fc) != gen) break;
    for (int i = 0; i < 1000; ++i) cpu_relax();
  }
  virtio_read_mac();
  *vreg(0x064) = *vreg(0x060); /* acknowledge the configuration interrupt bit */
  if ((r = virtio_send("clone", 1)) != 0) return r;
  return 0;
}

/* ---- devwait: SF_HC_WAIT on a NIC --------------------------------------------------------------- */
/* Results at COUNTER_GPA (ns unless said): [0] one WAIT asking for an hour, [1]/[2] the shortest/longest
 * of five WAITs asking for 2 ms, [3] whether every WAIT answered a time in [TIME_NS before, TIME_NS after],
 * [4] frames echoed, [5] WAITs made while idling at the end. Echo rounds: WAIT (10 ms each) until the test's
 * frame k is in the rx ring, answer "woke", re-post the buffer; then idle in WAITs of an hour forever. */
#define DEVWAIT_ROUNDS 10
static int mode_devwait(void) {
  volatile u64* out = (volatile u64*)COUNTER_GPA;
  int r = virtio_up();
  if (r != 0) return r;
  *vreg(0x050) = 0;           /* the rx buffer: the device takes frames from the tap only once it knows of one */
  hc(SF_HC_WAIT, 0, 0, 0, 0); /* takes back anything the set-up raised */
  u64 clock_ok = 1;
  i64 t0 = hc0(SF_HC_TIME_NS), t1 = hc(SF_HC_WAIT, 3600ul * 1000000000ul, 0, 0, 0);
  clock_ok &= t1 >= t0 && hc0(SF_HC_TIME_NS) >= t1;
  out[0] = (u64)(t1 - t0);
  u64 lo = ~0ul, hi = 0;
  for (int i = 0; i < 5; ++i) {
    t0 = hc0(SF_HC_TIME_NS);
    t1 = hc(SF_HC_WAIT, 2000000, 0, 0, 0);
    clock_ok &= t1 >= t0 && hc0(SF_HC_TIME_NS) >= t1;
    const u64 d = (u64)(t1 - t0);
    lo = d < lo ? d : lo;
    hi = d > hi ? d : hi;
  }
  out[1] = lo;
  out[2] = hi;
  out[3] = clock_ok;
  serial_puts("devwait ready\n");
  for (u16 k = 1; k <= DEVWAIT_ROUNDS; ++k) {
    while (*(volatile u16*)&RXUSED[1] != k) hc(SF_HC_WAIT, SF_WAIT_MAX_NS, 0, 0, 0);
    if ((r = virtio_send("woke", (u16)(k - 1))) != 0) return r;
    out[4] = k;
    RXAVAIL[2 + (k % VQ_N)] = 0;
    __asm__ volatile("" ::: "memory");
    RXAVAIL[1] = (u16)(k + 1);
    *vreg(0x050) = 0;
  }
  serial_puts("devwait idle\n");
  for (;;) {
    hc(SF_HC_WAIT, ~0ul, 0, 0, 0);
    out[5] = out[5] + 1;
  }
  return 1; /* not reached */
}

/* exitcost: a tight loop of one kind of exit (the flags: nop, mmio, notify, wait0), 20000 of them; after
 * notifies, a frame saying "notified" (the test checks it left). */
static int mode_exitcost(void) {
  int r = virtio_up();
  if (r != 0) return r;
  if (has_flag("nop"))
    for (int i = 0; i < 20000; ++i) hc0(SF_HC_NOP);
  if (has_flag("mmio"))
    for (int i = 0; i < 20000; ++i) (void)*vreg(0x0fc);
  if (has_flag("wait0"))
    for (int i = 0; i < 20000; ++i) hc(SF_HC_WAIT, 0, 0, 0, 0);
  if (has_flag("notify")) {
    for (int i = 0; i < 20000; ++i) *vreg(0x050) = 1;
    return virtio_send("notified", 0);
  }
  return 0;
}

/* ---- entry ---------------------------------------------------------------------------------- */

int guest_main(const struct sf_bootinfo* bi) {
  boot = bi;
  const char* cmd = (const char*)bi->cmdline_gpa;
  size_t n = 0;
  while (cmd[n] && cmd[n] != ' ' && n < sizeof mode - 1) {
    mode[n] = cmd[n];
    ++n;
  }
  mode[n] = 0;
  if (strcmp(mode, "byte") == 0) {
    serial_putc('\n');
    return 0;
  }
  if (strcmp(mode, "hello") == 0) return mode_hello();
  if (strcmp(mode, "forkcount") == 0) return mode_forkcount();
  if (strcmp(mode, "forkpages") == 0) return mode_forkpages();
  if (strcmp(mode, "forkcall") == 0) return mode_forkcall();
  if (strcmp(mode, "forksmp") == 0) return mode_forksmp();
  if (strcmp(mode, "hyper") == 0) return mode_hyper();
  if (strcmp(mode, "smp") == 0) return mode_smp();
  if (strcmp(mode, "spin") == 0) return mode_spin();
  if (strcmp(mode, "triple") == 0) return mode_triple();
  if (strcmp(mode, "halt") == 0) return mode_halt();
  if (strcmp(mode, "panic") == 0) return mode_panic();
  if (strcmp(mode, "hostile") == 0) return mode_hostile();
  if (strcmp(mode, "input") == 0) return mode_input();
  if (strcmp(mode, "wait") == 0) return mode_wait();
  if (strcmp(mode, "poll") == 0) return mode_poll();
  if (strcmp(mode, "idlehlt") == 0) return mode_idlehlt();
  if (strcmp(mode, "high") == 0) return mode_high();
  if (strcmp(mode, "ud2") == 0) return mode_ud2();
  if (strcmp(mode, "pagefault") == 0) return mode_pagefault();
  if (strcmp(mode, "privileged") == 0) return mode_privileged();
  if (strcmp(mode, "smash") == 0) return mode_smash();
  if (strcmp(mode, "clihlt") == 0) return mode_clihlt();
  if (strcmp(mode, "exitspin") == 0) return mode_exitspin();
  if (strcmp(mode, "apcrash") == 0) return mode_apcrash();
  if (strcmp(mode, "virtio") == 0) return mode_virtio();
  if (strcmp(mode, "virtiofork") == 0) return mode_virtiofork();
  if (strcmp(mode, "devwait") == 0) return mode_devwait();
  if (strcmp(mode, "exitcost") == 0) return mode_exitcost();
  serial_puts("unknown mode\n");
  return 250;
}

void ap_main(const struct sf_bootinfo* bi) {
  if (strcmp(mode, "smp") == 0) ap_smp(bi);
  if (strcmp(mode, "forksmp") == 0) ap_forksmp(bi);
  if (strcmp(mode, "spin") == 0 || strcmp(mode, "exitspin") == 0) ap_spin();
  if (strcmp(mode, "apcrash") == 0) {
    for (volatile int i = 0; i < 1000; ++i) {
    }
    __asm__ volatile("ud2");
  }
}
