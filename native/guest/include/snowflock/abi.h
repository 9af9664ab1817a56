/* The guest ↔ VMM ABI of Snowflock's flat guests, defined once: the VMM (native/src/core) and the
 * guest SDK (native/guest) both include this file. Plain C, freestanding, no libc types. */
#ifndef SNOWFLOCK_ABI_H
#define SNOWFLOCK_ABI_H

#define SF_ABI_VERSION 2u /* 2: virtio-mmio device windows, bootinfo.ndevices */

/* ---- Devices ---------------------------------------------------------------------------------- */
/* The hypercall doorbell: the guest puts the call number in rax and up to four arguments in
 * rdi, rsi, r8, r10 (in that order), then executes `out %eax, %dx` with dx = SF_HC_PORT. (rdx cannot
 * carry an argument: it holds the port, which is above 0xff and so needs the %dx form of OUT.)
 * The VMM answers in rax (a status: >= 0 success/value, < 0 a negated SF_E* code); every other
 * register is preserved. Guest memory named by an argument is a guest-physical address; the VMM
 * bounds-checks every (address, length) against guest RAM. */
#define SF_HC_PORT 0x0F10u
#define SF_SERIAL_PORT 0x3F8u /* 16550-style console, COM1 */
#define SF_FAULT_PORT 0x0F11u /* used by the VMM's supervisor to report an unhandled guest exception */

/* virtio 1.x devices on the virtio-mmio transport (register layout version 2), in the MMIO hole: device
 * slot i is the window [SF_VIRTIO_MMIO_GPA + i * SF_VIRTIO_MMIO_STRIDE, + SF_VIRTIO_MMIO_SIZE) for
 * i < bootinfo.ndevices (at most SF_MAX_DEVICES). A slot whose DeviceID register reads 0 holds no device.
 * Flat guests have no interrupt controller: their drivers poll the used rings, and a device makes progress
 * without interrupts. Each register access is a VM exit: drivers touch them at set-up and to notify. */
#define SF_VIRTIO_MMIO_GPA 0xD0000000ull
#define SF_VIRTIO_MMIO_STRIDE 0x1000ull
#define SF_VIRTIO_MMIO_SIZE 0x200ull
#define SF_MAX_DEVICES 8u

/* ---- Privilege ------------------------------------------------------------------------------------ */
/* Flat guests enter in 64-bit KERNEL mode (CPL 0, no IDT: any exception is a triple fault) unless the
 * VM is created in user mode. On kvm_pvm hosts (software virtualisation, the build machines) CPL 0
 * code is emulated instruction by instruction (~1 us each, SSE not at all) while CPL 3 code runs
 * natively, so a guest either drops to ring 3 itself (the SDK's crt0 does) or asks the VMM for user
 * mode: the guest then enters at CPL 3 under a tiny VMM supervisor. In user mode:
 *  - port I/O (serial, hypercalls) is allowed (TSS I/O bitmap);
 *  - `hlt`, `cli`, `sti` are emulated by the VMM's supervisor (`cli; hlt` stops the vCPU for good);
 *  - any other exception (page fault, #UD, #GP from a privileged instruction such as lidt/lgdt/mov to
 *    CR/wrmsr, ...) ends the VM as crashed, with vector, rip, error code and cr2 in the reason;
 *  - the supervisor's IDT, TSSs and stacks live in [SF_SUPERVISOR_GPA, SF_SUPERVISOR_END); all RAM is
 *    user-accessible, so a guest that overwrites them only harms itself.
 * In both modes the GDT at SF_GDT_GPA has the same selectors, and the identity map lives in guest RAM
 * (a guest may edit it, e.g. to set the U bit for its own ring 3). */

/* ---- Guest-physical layout of a flat guest ------------------------------------------------------ */
/* Everything below SF_IMAGE_MIN_GPA belongs to the VMM's boot data; the guest may reuse it once it
 * has read what it needs (it is ordinary RAM). */
#define SF_GDT_GPA 0x0500ull       /* null, null, kernel code64 0x10, kernel data 0x18, user data 0x23, */
                                   /* user code64 0x2b, TSS 0x30 (16 bytes) */
#define SF_BOOTINFO_GPA 0x0600ull  /* struct sf_bootinfo, filled by the VMM before the first instruction; */
                                   /* vCPU i's copy is at SF_BOOTINFO_GPA + i * sizeof(struct sf_bootinfo) */
#define SF_MAX_VCPUS 32u           /* so that every vCPU's bootinfo fits below SF_PAGETABLE_GPA */
#define SF_PAGETABLE_GPA 0x1000ull /* PML4; the PDPT is the next page (0x2000) */
#define SF_PAGEDIR_GPA 0x10000ull  /* page directories: one 4 KiB PD (512 x 2 MiB pages) per GiB */
#define SF_MAX_PAGEDIRS 72u        /* identity map of all RAM (and the hole below 4 GiB): up to 0x58000 */
#define SF_CMDLINE_GPA 0x8000ull   /* NUL-terminated boot arguments, at most SF_CMDLINE_MAX bytes */
#define SF_CMDLINE_MAX 4096u
#define SF_SUPERVISOR_GPA 0x58000ull  /* user mode: the VMM's IDT, exception stubs, TSSs, I/O bitmap, */
#define SF_SUPERVISOR_END 0x70000ull  /* and ring-0 stacks */
#define SF_BOOT_STACK_TOP 0x100000ull /* rsp of the boot vCPU at entry (16-byte aligned, grows down */
                                      /* towards SF_SUPERVISOR_END) */
#define SF_IMAGE_MIN_GPA 0x100000ull  /* ELF PT_LOAD segments must lie at or above 1 MiB */
#define SF_PAGE_SIZE 4096u

/* RAM up to SF_RAM_LOW_MAX is [0, ram_bytes). Larger RAM continues above 4 GiB, leaving the MMIO hole
 * [3 GiB, 4 GiB) for the LAPIC/IOAPIC/devices: [0, 3 GiB) + [4 GiB, 4 GiB + ram_bytes - 3 GiB).
 * The identity map covers every RAM byte (and the hole). Guest RAM is at most SF_RAM_MAX. */
#define SF_RAM_LOW_MAX 0xC0000000ull
#define SF_RAM_HIGH_GPA 0x100000000ull
#define SF_RAM_MAX (64ull << 30)

/* Passed in rdi at the entry point, and found at SF_BOOTINFO_GPA. */
struct sf_bootinfo {
  unsigned int magic;           /* SF_BOOTINFO_MAGIC */
  unsigned int abi_version;     /* SF_ABI_VERSION */
  unsigned long long ram_bytes; /* guest RAM, identity-mapped from 0 (above 3 GiB: see SF_RAM_LOW_MAX) */
  unsigned int vcpus;
  unsigned int vcpu_id;           /* the vCPU this entry runs on (0 = boot vCPU) */
  unsigned long long cmdline_gpa; /* SF_CMDLINE_GPA */
  unsigned int cmdline_len;
  unsigned int clusterid; /* the VM's cluster, and its vmid (0 = master) */
  unsigned int vmid;
  unsigned int ndevices; /* virtio-mmio device slots to probe (see SF_VIRTIO_MMIO_GPA) */
  unsigned int reserved[4];
};
#define SF_BOOTINFO_MAGIC 0x534e4f57u /* "SNOW" */

/* ---- Hypercall numbers ------------------------------------------------------------------------- */
enum sf_hypercall {
  SF_HC_NOP = 0,           /* () → 0: round-trip probe */
  SF_HC_EXIT = 1,          /* (code) → does not return: the guest program ended with `code` */
  SF_HC_CONSOLE_WRITE = 2, /* (gpa, len) → bytes written: bulk console output; the whole range must
                             * be in RAM, at most SF_CONSOLE_WRITE_MAX bytes are taken per call */
  SF_HC_FRESH_PAGES = 3,   /* (gpa, npages) → 0: enlightenment hint, these pages will be overwritten;
                             * gpa page-aligned (-SF_EINVAL otherwise) */
  SF_HC_VCPU_START = 4,    /* (vcpu_id, entry_gpa, stack_gpa) → 0: start a secondary vCPU in long
                             * mode at entry with rsp = stack_gpa (top of its stack) and rdi = its own
                             * bootinfo. -SF_EINVAL: vcpu_id >= vcpus; -SF_ESTATE: already started
                             * (vCPU 0 always is); -SF_EFAULT: entry or stack outside RAM. */
  SF_HC_PANIC = 5,         /* (vector, rip, gpa_msg, len) → does not return: the guest reports a fault */
  SF_HC_TIME_NS = 6,       /* () → host monotonic nanoseconds */
  SF_HC_WAIT = 7,          /* (timeout_ns) → host monotonic nanoseconds when it returns (as SF_HC_TIME_NS):
                             * the vCPU sleeps until a device raised its interrupt since the VM's previous
                             * WAIT (a used buffer the driver did not suppress with VIRTQ_AVAIL_F_NO_INTERRUPT,
                             * or a configuration change), or timeout_ns passed (at most SF_WAIT_MAX_NS), or
                             * the VMM needs the vCPU (pause, fork, stop; it then returns early). The
                             * interrupt is a level kept until the next WAIT: one raised between the guest's
                             * last look at its rings and this call makes it return at once. Any return may be
                             * early: look at the rings again. Added in ABI 2 (a VMM without it answers
                             * -SF_ENOSYS: poll instead). */

  /* The seed API (sf.h). Each takes the guest-physical address of a struct sf_hc_request, which the
   * VMM reads, passes to sfld (identity stamped by sfld, never taken from the guest), and answers by
   * writing struct sf_hc_reply into the same block. The vCPU waits until the answer arrives. */
  SF_HC_TICKET_REQUEST = 16,
  SF_HC_TICKET_LIST = 17,
  SF_HC_TICKET_INFO = 18,
  SF_HC_TICKET_DISPOSE = 19,
  SF_HC_CLONE_MASTER = 20,
  SF_HC_CLONE_MERGE = 21, /* ticket or empty = all (IC_KILL / MERGE_ALL) */
  SF_HC_CLONE_JOIN = 22,
  SF_HC_CLONE_EXIT = 23,
  SF_HC_CLUSTER_SHUTDOWN = 24,
};

#define SF_CONSOLE_WRITE_MAX 65536u
#define SF_WAIT_MAX_NS 10000000ull /* SF_HC_WAIT sleeps at most 10 ms per call */

/* ---- Status codes (rax < 0 is -code) ----------------------------------------------------------- */
enum sf_status {
  SF_OK = 0,
  SF_EFAULT = 1,     /* a pointer or length falls outside guest RAM */
  SF_EINVAL = 2,     /* a malformed argument */
  SF_ENOSYS = 3,     /* unknown hypercall number */
  SF_ENORES = 4,     /* NO_RESOURCES */
  SF_ENOTMASTER = 5, /* NOT_MASTER */
  SF_ENOTCLONE = 6,  /* NOT_CLONE */
  SF_ETICKET = 7,    /* TICKET_UNKNOWN */
  SF_ESTATE = 8,     /* TICKET_STATE */
  SF_EHOSTLOST = 9,  /* HOST_LOST */
  SF_ETIMEDOUT = 10, /* TIMEOUT */
  SF_EUNAVAIL = 11,  /* sfmd or sfld unreachable */
  SF_EPERM = 12,     /* FORBIDDEN / UNAUTHORIZED */
  SF_EINTERNAL = 13,
  SF_ECLONE = 14, /* clone.join: at least one clone did not exit by itself (crashed, killed, host lost) */
};

/* ---- Request / reply block of the seed API hypercalls ------------------------------------------ */
#define SF_TICKET_LEN 36u  /* a ticket is a uuid: 36 characters */
#define SF_MAX_TICKETS 64u /* per list */
#define SF_MAX_ALLOC 256u  /* vmids per ticket info */
#define SF_ERRMSG_LEN 240u

struct sf_hc_request {
  unsigned int nr;    /* repeats the hypercall number (checked) */
  unsigned int flags; /* SF_REQ_PROCS | SF_REQ_BLOCK */
  int nclones;        /* ticket.request */
  int min;
  int status;                     /* clone.exit */
  unsigned int timeout_ms;        /* 0 = default */
  char ticket[SF_TICKET_LEN + 1]; /* NUL-terminated; empty = none */
  char pad[3];
};
#define SF_REQ_PROCS 1u
#define SF_REQ_BLOCK 2u

struct sf_hc_alloc {
  unsigned int vmid;
  unsigned int processors;
};

/* clone.join: how each clone of the ticket ended, in vmid order. A clone's small result travels in
 * `status` (the int it passed to IC_EXIT / sf_exit_status), so the master gathers results in its join. */
struct sf_hc_exit {
  unsigned int vmid;
  int status;       /* exited: the clone's IC_EXIT status; otherwise 0 */
  unsigned int how; /* enum sf_exit_how */
  unsigned int pad;
};
enum sf_exit_how {
  SF_CLONE_EXITED = 0,  /* IC_EXIT(status) or the guest program returned */
  SF_CLONE_CRASHED = 1, /* the clone's VM crashed or halted: see the sfstate/Operation record */
  SF_CLONE_KILLED = 2,  /* merged (ic_kill) or its host was lost before it exited */
};

struct sf_hc_reply {
  int status;         /* SF_OK or a negated SF_E* */
  unsigned int count; /* granted clones/processors, nclones, tickets or allocations */
  int vmid;           /* clone.master: this VM's answer (0 = master) */
  unsigned int nunused, noutstanding;
  char ticket[SF_TICKET_LEN + 1];
  char pad[3];
  char errmsg[SF_ERRMSG_LEN];                      /* NUL-terminated human message when status < 0 */
  char tickets[SF_MAX_TICKETS][SF_TICKET_LEN + 1]; /* ticket.list: unused first, then outstanding */
  struct sf_hc_alloc alloc[SF_MAX_ALLOC];          /* ticket.info */
  struct sf_hc_exit exits[SF_MAX_ALLOC];           /* clone.join: `count` records */
};

/* The request and reply share one guest buffer: the guest passes its address in rdi. */
union sf_hc_block {
  struct sf_hc_request req;
  struct sf_hc_reply rep;
};

#endif /* SNOWFLOCK_ABI_H */
