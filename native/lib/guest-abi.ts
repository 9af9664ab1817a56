// The guest ABI mirrored in TypeScript: hypercall numbers, status codes, exit kinds, sizes and flags of
// native/guest/include/snowflock/abi.h. Boundary: constants only; guest-abi.test.ts checks they match the header.

/** Hypercall numbers (`enum sf_hypercall`). */
export const SfHypercall = {
  NOP: 0,
  EXIT: 1,
  CONSOLE_WRITE: 2,
  FRESH_PAGES: 3,
  VCPU_START: 4,
  PANIC: 5,
  TIME_NS: 6,
  WAIT: 7,
  TICKET_REQUEST: 16,
  TICKET_LIST: 17,
  TICKET_INFO: 18,
  TICKET_DISPOSE: 19,
  CLONE_MASTER: 20,
  CLONE_MERGE: 21,
  CLONE_JOIN: 22,
  CLONE_EXIT: 23,
  CLUSTER_SHUTDOWN: 24,
} as const;
export type SfHypercallName = keyof typeof SfHypercall;
export type SfHypercallNumber = (typeof SfHypercall)[SfHypercallName];

/** Status codes (`enum sf_status`). A reply's `status` is SF_OK (0) or the *negated* code, e.g. `-SfStatus.ETICKET`. */
export const SfStatus = {
  OK: 0,
  EFAULT: 1,
  EINVAL: 2,
  ENOSYS: 3,
  ENORES: 4,
  ENOTMASTER: 5,
  ENOTCLONE: 6,
  ETICKET: 7,
  ESTATE: 8,
  EHOSTLOST: 9,
  ETIMEDOUT: 10,
  EUNAVAIL: 11,
  EPERM: 12,
  EINTERNAL: 13,
  ECLONE: 14,
} as const;
export type SfStatusName = keyof typeof SfStatus;

/** How a clone ended, in clone.join's exit records (`enum sf_exit_how`). */
export const SfExitHow = { EXITED: 0, CRASHED: 1, KILLED: 2 } as const;

/** Sizes and flags of the request/reply block and the boot layout. */
export const SfAbi = {
  ABI_VERSION: 2,
  HC_PORT: 0x0f10,
  SERIAL_PORT: 0x3f8,
  MAX_VCPUS: 32,
  CMDLINE_MAX: 4096,
  CONSOLE_WRITE_MAX: 65536,
  /** SF_HC_WAIT sleeps at most this long per call. */
  WAIT_MAX_NS: 10_000_000,
  RAM_MAX: 64 * 1024 * 1024 * 1024,
  TICKET_LEN: 36,
  MAX_TICKETS: 64,
  MAX_ALLOC: 256,
  ERRMSG_LEN: 240,
  REQ_PROCS: 1,
  REQ_BLOCK: 2,
} as const;
