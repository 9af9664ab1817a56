/* The guest ↔ VMM ABI of Snowflock's flat guests, defined once: the VMM (native/src/core) and the
 * guest SDK (native/guest) both include this file. Plain C, freestanding, no libc types. */
#ifndef SNOWFLOCK_ABI_H
#define SNOWFLOCK_ABI_H

#define SF_ABI_VERSION 1u

/* ---- Devices ---------------------------------------------------------------------------------- */
/* The hypercall doorbell: the guest puts the call number in rax and up to four arguments in
 * rdi, rsi, rdx, r10, then executes `out %eax, %dx` with dx = SF_HC_PORT. The VMM answers in rax
 * (a status: >= 0 success/value, < 0 a negated SF_E* code). Guest memory named by an argument is a
 * guest-physical address; the VMM bounds-checks every (address, length) against guest RAM. */
#define SF_HC_PORT 0x0F10u
#define SF_SERIAL_PORT 0x3F8u /* 16550-style console, COM1 */

/* ---- Guest-physical layout of a flat guest ------------------------------------------------------ */
#define SF_GDT_GPA 0x0500ull
#define SF_BOOTINFO_GPA 0x0600ull /* struct sf_bootinfo, filled by the VMM before the first instruction */
#define SF_PAGETABLE_GPA 0x1000ull /* PML4; PDPT and PDs follow (identity map of all RAM) */
#define SF_CMDLINE_GPA 0x8000ull /* NUL-terminated boot arguments, at most SF_CMDLINE_MAX bytes */
#define SF_CMDLINE_MAX 4096u
#define SF_IMAGE_MIN_GPA 0x100000ull /* ELF PT_LOAD segments must lie at or above 1 MiB */
#define SF_PAGE_SIZE 4096u

/* Passed in rdi at the entry point, and found at SF_BOOTINFO_GPA. */
struct sf_bootinfo {
  unsigned int magic; /* SF_BOOTINFO_MAGIC */
  unsigned int abi_version; /* SF_ABI_VERSION */
  unsigned long long ram_bytes; /* guest RAM, identity-mapped from 0 */
  unsigned int vcpus;
  unsigned int vcpu_id; /* the vCPU this entry runs on (0 = boot vCPU) */
  unsigned long long cmdline_gpa; /* SF_CMDLINE_GPA */
  unsigned int cmdline_len;
  unsigned int clusterid; /* the VM's cluster, and its vmid (0 = master) */
  unsigned int vmid;
  unsigned int reserved[5];
};
#define SF_BOOTINFO_MAGIC 0x534e4f57u /* "SNOW" */

/* ---- Hypercall numbers ------------------------------------------------------------------------- */
enum sf_hypercall {
  SF_HC_NOP = 0,            /* () → 0: round-trip probe */
  SF_HC_EXIT = 1,           /* (code) → does not return: the guest program ended with `code` */
  SF_HC_CONSOLE_WRITE = 2,  /* (gpa, len) → bytes written: bulk console output */
  SF_HC_FRESH_PAGES = 3,    /* (gpa, npages) → 0: enlightenment hint, these pages will be overwritten */
  SF_HC_VCPU_START = 4,     /* (vcpu_id, entry_gpa, stack_gpa) → 0: start a secondary vCPU */
  SF_HC_PANIC = 5,          /* (vector, rip, gpa_msg, len) → does not return: the guest reports a fault */
  SF_HC_TIME_NS = 6,        /* () → host monotonic nanoseconds */

  /* The seed API (sf.h). Each takes the guest-physical address of a struct sf_hc_request, which the
   * VMM reads, passes to sfld (identity stamped by sfld, never taken from the guest), and answers by
   * writing struct sf_hc_reply into the same block. The vCPU waits until the answer arrives. */
  SF_HC_TICKET_REQUEST = 16,
  SF_HC_TICKET_LIST = 17,
  SF_HC_TICKET_INFO = 18,
  SF_HC_TICKET_DISPOSE = 19,
  SF_HC_CLONE_MASTER = 20,
  SF_HC_CLONE_MERGE = 21,   /* ticket or empty = all (IC_KILL / MERGE_ALL) */
  SF_HC_CLONE_JOIN = 22,
  SF_HC_CLONE_EXIT = 23,
  SF_HC_CLUSTER_SHUTDOWN = 24,
};

/* ---- Status codes (rax < 0 is -code) ----------------------------------------------------------- */
enum sf_status {
  SF_OK = 0,
  SF_EFAULT = 1,       /* a pointer or length falls outside guest RAM */
  SF_EINVAL = 2,       /* a malformed argument */
  SF_ENOSYS = 3,       /* unknown hypercall number */
  SF_ENORES = 4,       /* NO_RESOURCES */
  SF_ENOTMASTER = 5,   /* NOT_MASTER */
  SF_ENOTCLONE = 6,    /* NOT_CLONE */
  SF_ETICKET = 7,      /* TICKET_UNKNOWN */
  SF_ESTATE = 8,       /* TICKET_STATE */
  SF_EHOSTLOST = 9,    /* HOST_LOST */
  SF_ETIMEDOUT = 10,   /* TIMEOUT */
  SF_EUNAVAIL = 11,    /* sfmd or sfld unreachable */
  SF_EPERM = 12,       /* FORBIDDEN / UNAUTHORIZED */
  SF_EINTERNAL = 13,
};

/* ---- Request / reply block of the seed API hypercalls ------------------------------------------ */
#define SF_TICKET_LEN 36u      /* a ticket is a uuid: 36 characters */
#define SF_MAX_TICKETS 64u     /* per list */
#define SF_MAX_ALLOC 256u      /* vmids per ticket info */
#define SF_ERRMSG_LEN 240u

struct sf_hc_request {
  unsigned int nr;                 /* repeats the hypercall number (checked) */
  unsigned int flags;              /* SF_REQ_PROCS | SF_REQ_BLOCK */
  int nclones;                     /* ticket.request */
  int min;
  int status;                      /* clone.exit */
  unsigned int timeout_ms;         /* 0 = default */
  char ticket[SF_TICKET_LEN + 1];  /* NUL-terminated; empty = none */
  char pad[3];
};
#define SF_REQ_PROCS 1u
#define SF_REQ_BLOCK 2u

struct sf_hc_alloc { unsigned int vmid; unsigned int processors; };

struct sf_hc_reply {
  int status;                      /* SF_OK or a negated SF_E* */
  unsigned int count;              /* granted clones/processors, nclones, tickets or allocations */
  int vmid;                        /* clone.master: this VM's answer (0 = master) */
  unsigned int nunused, noutstanding;
  char ticket[SF_TICKET_LEN + 1];
  char pad[3];
  char errmsg[SF_ERRMSG_LEN];      /* NUL-terminated human message when status < 0 */
  char tickets[SF_MAX_TICKETS][SF_TICKET_LEN + 1]; /* ticket.list: unused first, then outstanding */
  struct sf_hc_alloc alloc[SF_MAX_ALLOC];          /* ticket.info */
};

/* The request and reply share one guest buffer: the guest passes its address in rdi. */
union sf_hc_block {
  struct sf_hc_request req;
  struct sf_hc_reply rep;
};

#endif /* SNOWFLOCK_ABI_H */
