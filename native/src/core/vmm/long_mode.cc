// Long-mode boot state: GDT, identity page tables, the user-mode supervisor (IDT, exception stubs,
// TSSs, I/O bitmap) and sregs/regs/FPU for a 64-bit entry.
// Boundary: abi.h's fixed layout below 1 MiB and the architectural register values; nothing else.
#include "long_mode.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "../base/guest_abi.h"

namespace sf::vmm {

namespace {

using L = SupervisorLayout;

constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kPageLarge = 2ull << 20;

// Page-table entry bits.
constexpr uint64_t kPresent = 1ull << 0;
constexpr uint64_t kWritable = 1ull << 1;
constexpr uint64_t kUser = 1ull << 2;
constexpr uint64_t kAccessed = 1ull << 5;
constexpr uint64_t kDirty = 1ull << 6;
constexpr uint64_t kLarge = 1ull << 7;

// Control-register and EFER bits.
constexpr uint64_t kCr0Pe = 1ull << 0, kCr0Mp = 1ull << 1, kCr0Et = 1ull << 4, kCr0Ne = 1ull << 5, kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5, kCr4Osfxsr = 1ull << 9, kCr4Osxmmexcpt = 1ull << 10;
constexpr uint64_t kEferLme = 1ull << 8, kEferLma = 1ull << 10;

// GDT (abi.h): kernel selectors as Linux's 64-bit boot protocol has them, user ones in SYSRET order.
constexpr uint16_t kKernelCode = 0x10, kKernelData = 0x18, kUserData = 0x23, kUserCode = 0x2b, kTssSel = 0x30;
constexpr int kGdtEntries = 8;  // the TSS descriptor takes two

constexpr int kVectors = 32;
constexpr uint64_t kIoBitmapBytes = 8192;  // one bit per port, 0 = allowed
// The TSS limit covers the bitmap and its terminating 0xff byte (the CPU reads two bytes per check).
uint64_t tss_limit(uint32_t vcpu) { return (L::kIoBitmap - L::tss(vcpu)) + kIoBitmapBytes; }

static_assert(L::kIdt == SF_SUPERVISOR_GPA, "the IDT starts the supervisor area");
static_assert(L::kEntryStubs >= L::kIdt + kVectors * 16 && L::kCommon >= L::kEntryStubs + kVectors * 16);
static_assert(L::kTss + SF_MAX_VCPUS * L::kTssSlot <= L::kIoBitmap);
static_assert(L::kIoBitmap + kIoBitmapBytes + 1 <= L::kRing0Stacks);
static_assert(L::kRing0Stacks + SF_MAX_VCPUS * L::kRing0StackSize <= SF_SUPERVISOR_END);
static_assert(L::kIoBitmap - L::kTss <= 0xffff, "the TSS's I/O map base is a 16-bit offset");

// The supervisor's shared exception handler (ring 0, entered through an interrupt gate, so IF = 0).
// Stack on entry: vector, error code (0 if the CPU pushed none), rip, cs, rflags, rsp, ss.
// #GP on the one-byte instructions a user-mode guest may not execute but is allowed to mean is
// emulated: hlt (IF=0: halt for good, which the VMM reports as halted; IF=1: halt until an interrupt),
// cli, sti (they flip IF in the frame). Anything else is reported on SF_FAULT_PORT
// (rdi = vector, rsi = rip, r8 = error code, r10 = cr2) and the vCPU stops.
// Assembled from:
//   common:   push %rax;  cmpq $13,8(%rsp);  jne report
//             mov 24(%rsp),%rax;  movzbl (%rax),%eax
//             cmp $0xf4,%eax; je hlt_insn;  cmp $0xfa,%eax; je cli_insn;  cmp $0xfb,%eax; je sti_insn
//   report:   mov 8(%rsp),%rdi;  mov 24(%rsp),%rsi;  mov 16(%rsp),%r8;  mov %cr2,%r10
//             mov $2,%eax (unused);  mov $SF_FAULT_PORT,%dx;  out %eax,%dx;  1: cli; hlt; jmp 1b
//   cli_insn: andq $~0x200,40(%rsp);  jmp skip
//   sti_insn: orq $0x200,40(%rsp);  jmp skip
//   hlt_insn: testq $0x200,40(%rsp);  jnz 2f;  3: hlt; jmp 3b;  2: sti; hlt; cli
//   skip:     incq 24(%rsp);  pop %rax;  add $16,%rsp;  iretq
// One instruction a line, its bytes beside its assembly:
// clang-format off
constexpr uint8_t kCommonCode[] = {
    0x50,                                      // push %rax
    0x48, 0x83, 0x7c, 0x24, 0x08, 0x0d,        // cmpq $13,8(%rsp)
    0x75, 0x1d,                                // jne report
    0x48, 0x8b, 0x44, 0x24, 0x18,              // mov 24(%rsp),%rax
    0x0f, 0xb6, 0x00,                          // movzbl (%rax),%eax
    0x3d, 0xf4, 0x00, 0x00, 0x00,              // cmp $0xf4,%eax
    0x74, 0x45,                                // je hlt_insn
    0x3d, 0xfa, 0x00, 0x00, 0x00,              // cmp $0xfa,%eax
    0x74, 0x28,                                // je cli_insn
    0x3d, 0xfb, 0x00, 0x00, 0x00,              // cmp $0xfb,%eax
    0x74, 0x2c,                                // je sti_insn
    0x48, 0x8b, 0x7c, 0x24, 0x08,              // report: mov 8(%rsp),%rdi
    0x48, 0x8b, 0x74, 0x24, 0x18,              // mov 24(%rsp),%rsi
    0x4c, 0x8b, 0x44, 0x24, 0x10,              // mov 16(%rsp),%r8
    0x41, 0x0f, 0x20, 0xd2,                    // mov %cr2,%r10
    0xb8, 0x02, 0x00, 0x00, 0x00,              // mov $2,%eax
    0x66, 0xba, SF_FAULT_PORT & 0xff, SF_FAULT_PORT >> 8,  // mov $SF_FAULT_PORT,%dx
    0xef,                                      // out %eax,(%dx)
    0xfa, 0xf4, 0xeb, 0xfc,                    // 1: cli; hlt; jmp 1b
    0x48, 0x81, 0x64, 0x24, 0x28, 0xff, 0xfd, 0xff, 0xff,  // cli_insn: andq $~0x200,40(%rsp)
    0xeb, 0x1c,                                // jmp skip
    0x48, 0x81, 0x4c, 0x24, 0x28, 0x00, 0x02, 0x00, 0x00,  // sti_insn: orq $0x200,40(%rsp)
    0xeb, 0x11,                                // jmp skip
    0x48, 0xf7, 0x44, 0x24, 0x28, 0x00, 0x02, 0x00, 0x00,  // hlt_insn: testq $0x200,40(%rsp)
    0x75, 0x03,                                // jnz 2f
    0xf4, 0xeb, 0xfd,                          // 3: hlt; jmp 3b
    0xfb, 0xf4, 0xfa,                          // 2: sti; hlt; cli
    0x48, 0xff, 0x44, 0x24, 0x18,              // skip: incq 24(%rsp)
    0x58,                                      // pop %rax
    0x48, 0x83, 0xc4, 0x10,                    // add $16,%rsp
    0x48, 0xcf,                                // iretq
};
// clang-format on
static_assert(sizeof kCommonCode == 0x7a, "the jump offsets above assume this exact length");
static_assert(L::kCommon + sizeof kCommonCode <= L::kTss);

bool pushes_error_code(int vector) {
  switch (vector) {
    case 8:
    case 10:
    case 11:
    case 12:
    case 13:
    case 14:
    case 17:
    case 21:
    case 29:
    case 30: return true;
    default: return false;
  }
}

uint64_t tss_descriptor_low(uint64_t base, uint64_t limit) {
  return (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x9ull << 40) /* 64-bit TSS, available */ |
         (1ull << 47) /* present */ | (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
}

Status write_supervisor(memory::GuestMemory& memory, uint32_t vcpus) {
  // Entry stubs: [push $0 when the CPU pushes no error code] push $vector; jmp common.
  std::array<uint8_t, kVectors * 16> stubs{};
  stubs.fill(0xcc);  // int3 padding, never executed
  for (int v = 0; v < kVectors; ++v) {
    uint8_t* p = stubs.data() + v * 16;
    int n = 0;
    if (!pushes_error_code(v)) {
      p[n++] = 0x6a;  // push imm8
      p[n++] = 0x00;
    }
    p[n++] = 0x6a;
    p[n++] = static_cast<uint8_t>(v);
    p[n++] = 0xe9;  // jmp rel32
    const uint64_t next = L::kEntryStubs + v * 16 + n + 4;
    const int32_t rel = static_cast<int32_t>(static_cast<int64_t>(L::kCommon) - static_cast<int64_t>(next));
    std::memcpy(p + n, &rel, 4);
  }
  if (!memory.write(L::kEntryStubs, stubs) || !memory.write(L::kCommon, kCommonCode)) {
    return Status::Error(EFAULT, "supervisor code does not fit in guest RAM");
  }
  // IDT: 64-bit interrupt gates (type 0xE: IF cleared on entry), DPL 0, kernel code selector.
  std::array<uint64_t, kVectors * 2> idt{};
  for (int v = 0; v < kVectors; ++v) {
    const uint64_t h = L::kEntryStubs + v * 16;
    idt[v * 2] = (h & 0xffff) | (uint64_t{kKernelCode} << 16) | (0x8eull << 40) | (((h >> 16) & 0xffff) << 48);
    idt[v * 2 + 1] = h >> 32;
  }
  if (!memory.write(L::kIdt, idt)) return Status::Error(EFAULT, "IDT does not fit in guest RAM");
  // One TSS per vCPU: its own ring-0 stack (exceptions on two vCPUs at once must not share one), and
  // the shared I/O bitmap, which lets CPL 3 code use every port (what IOPL would do, but kvm_pvm
  // ignores IOPL and honours the bitmap).
  for (uint32_t i = 0; i < vcpus; ++i) {
    std::array<uint8_t, 0x68> tss{};
    const uint64_t rsp0 = L::ring0_stack_top(i);
    std::memcpy(tss.data() + 4, &rsp0, 8);
    const uint16_t iomap = static_cast<uint16_t>(L::kIoBitmap - L::tss(i));
    std::memcpy(tss.data() + 0x66, &iomap, 2);
    if (!memory.write(L::tss(i), tss)) return Status::Error(EFAULT, "TSS does not fit in guest RAM");
  }
  std::vector<uint8_t> bitmap(kIoBitmapBytes + 1, 0);
  bitmap.back() = 0xff;
  if (!memory.write_bytes(L::kIoBitmap, bitmap)) return Status::Error(EFAULT, "I/O bitmap does not fit in guest RAM");
  return Status::Ok();
}

}  // namespace

uint64_t page_directories_for(uint64_t gpa_end) { return (gpa_end + kGiB - 1) / kGiB; }

Status write_boot_tables(memory::GuestMemory& memory, GuestPrivilege privilege, uint32_t vcpus) {
  if (vcpus == 0 || vcpus > SF_MAX_VCPUS) return Status::Error(EINVAL, "bad vCPU count");
  const bool user = privilege == GuestPrivilege::user;
  std::array<uint64_t, kGdtEntries> gdt = {
      0,
      0,
      0x00af9b000000ffffull,  // kernel code64: P, DPL 0, execute/read, L
      0x00cf93000000ffffull,  // kernel data: P, DPL 0, read/write, 4 GiB
      0x00cff3000000ffffull,  // user data: DPL 3
      0x00affb000000ffffull,  // user code64: DPL 3
      tss_descriptor_low(L::tss(0), tss_limit(0)),
      L::tss(0) >> 32,
  };
  if (!memory.write(SF_GDT_GPA, gdt)) return Status::Error(EFAULT, "GDT does not fit in guest RAM");

  // RAM, and at least the GiB of the virtio-mmio device windows (in the hole below 4 GiB), so that
  // drivers reach their registers at the ABI's addresses whatever the RAM size.
  const uint64_t pds = std::max(page_directories_for(memory.gpa_end()),
                                page_directories_for(SF_VIRTIO_MMIO_GPA + SF_MAX_DEVICES * SF_VIRTIO_MMIO_STRIDE));
  if (pds > SF_MAX_PAGEDIRS) return Status::Error(EINVAL, "guest RAM too large for the identity map");
  const uint64_t u = user ? kUser : 0;

  std::vector<uint64_t> table(512, 0);
  table[0] = (SF_PAGETABLE_GPA + SF_PAGE_SIZE) | kPresent | kWritable | kAccessed | u;
  if (!memory.write_bytes(SF_PAGETABLE_GPA, {reinterpret_cast<const uint8_t*>(table.data()), SF_PAGE_SIZE})) {
    return Status::Error(EFAULT, "PML4 does not fit in guest RAM");
  }
  std::fill(table.begin(), table.end(), 0);
  for (uint64_t i = 0; i < pds; ++i)
    table[i] = (SF_PAGEDIR_GPA + i * SF_PAGE_SIZE) | kPresent | kWritable | kAccessed | u;
  if (!memory.write_bytes(SF_PAGETABLE_GPA + SF_PAGE_SIZE,
                          {reinterpret_cast<const uint8_t*>(table.data()), SF_PAGE_SIZE})) {
    return Status::Error(EFAULT, "PDPT does not fit in guest RAM");
  }
  for (uint64_t d = 0; d < pds; ++d) {
    for (uint64_t i = 0; i < 512; ++i) {
      // Accessed/dirty preset: the CPU need not write the tables back on first use.
      table[i] = (d * kGiB + i * kPageLarge) | kPresent | kWritable | kLarge | kAccessed | kDirty | u;
    }
    if (!memory.write_bytes(SF_PAGEDIR_GPA + d * SF_PAGE_SIZE,
                            {reinterpret_cast<const uint8_t*>(table.data()), SF_PAGE_SIZE})) {
      return Status::Error(EFAULT, "page directory does not fit in guest RAM");
    }
  }
  return user ? write_supervisor(memory, vcpus) : Status::Ok();
}

Status enter_long_mode(int vcpu_fd, uint32_t vcpu_id, GuestPrivilege privilege, uint64_t entry, uint64_t stack_top,
                       uint64_t rdi) {
  const bool user = privilege == GuestPrivilege::user;
  // Start from KVM's reset state so fields we do not name (LDT, APIC base) keep sane values.
  kvm_sregs sregs{};
  if (::ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) != 0) return Status::FromErrno("KVM_GET_SREGS", errno);
  kvm_segment code{};
  code.base = 0;
  code.limit = 0xffffffff;
  code.selector = user ? kUserCode : kKernelCode;
  code.type = 11;  // execute/read, accessed
  code.present = 1;
  code.dpl = user ? 3 : 0;  // CPL = CS.DPL (and SS.DPL)
  code.db = 0;              // must be 0 when L = 1
  code.s = 1;
  code.l = 1;
  code.g = 1;
  kvm_segment data = code;
  data.selector = user ? kUserData : kKernelData;
  data.type = 3;  // read/write, accessed
  data.db = 1;
  data.l = 0;
  sregs.cs = code;
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.gdt.base = SF_GDT_GPA;
  sregs.gdt.limit = kGdtEntries * 8 - 1;
  if (user) {
    // The hidden TR state is what the CPU uses: every vCPU gets its own TSS behind the one selector.
    kvm_segment tr{};
    tr.base = L::tss(vcpu_id);
    tr.limit = static_cast<uint32_t>(tss_limit(vcpu_id));
    tr.selector = kTssSel;
    tr.type = 11;  // 64-bit TSS, busy
    tr.present = 1;
    tr.s = 0;
    sregs.tr = tr;
    sregs.idt.base = L::kIdt;
    sregs.idt.limit = kVectors * 16 - 1;
  } else {
    // No IDT: until the guest installs one, any exception is a triple fault (reported as a crash).
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
  }
  sregs.cr3 = SF_PAGETABLE_GPA;
  // OSFXSR/OSXMMEXCPT: gcc emits SSE for x86-64 code, which faults (#UD) without them. MP/NE: FPU
  // errors as exceptions, the native way. No OSXSAVE: AVX stays off (it would need XCR0 as well).
  sregs.cr4 = kCr4Pae | kCr4Osfxsr | kCr4Osxmmexcpt;
  sregs.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Pg;
  sregs.efer = kEferLme | kEferLma;
  if (::ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) != 0) return Status::FromErrno("KVM_SET_SREGS", errno);

  kvm_fpu fpu{};
  fpu.fcw = 0x37f;     // x87 default control word (all exceptions masked, 64-bit precision)
  fpu.mxcsr = 0x1f80;  // SSE: all exceptions masked, round to nearest
  if (::ioctl(vcpu_fd, KVM_SET_FPU, &fpu) != 0) return Status::FromErrno("KVM_SET_FPU", errno);

  kvm_regs regs{};
  regs.rip = entry;
  regs.rsp = stack_top;
  regs.rdi = rdi;
  regs.rflags = 2;  // bit 1 is reserved-one; IF = 0, IOPL = 0 (user-mode port access comes from the I/O bitmap)
  if (::ioctl(vcpu_fd, KVM_SET_REGS, &regs) != 0) return Status::FromErrno("KVM_SET_REGS", errno);
  return Status::Ok();
}

}  // namespace sf::vmm
