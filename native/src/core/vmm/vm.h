// Vm: the public face of the VMM core: create a flat-guest VM, load its ELF image, boot, pause,
// resume, answer its seed-API calls, feed its console, read its statistics, destroy it.
// Boundary: what the N-API binding uses; no napi.h. Every call returns a Status instead of throwing,
// and no guest behaviour can take the host process (or another VM) down.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "../base/guest_abi.h"
#include "../base/status.h"
#include "../devices/blk_stats.h"
#include "../devices/net_config.h"
#include "../devices/net_stats.h"
#include "../memory/memtap_stats.h"
#include "../memory/page_source.h"
#include "fork.h"
#include "vm_state.h"
#include "vm_stats.h"

namespace sf::devices {
class RemoteDisk;
}

namespace sf::vmm {

// A VM's disk (DESIGN §4.7): a raw base image read-only under a copy-on-write overlay of this VM's own.
struct DiskConfig {
  std::string image;        // the raw base image (a multiple of 512 bytes, at most 1 TiB); never written
  std::string overlay_dir;  // where the VM's overlay files go (sparse, unnamed; sweep_overlays clears leftovers)
  std::string id;           // what GET_ID answers (at most 20 printable ASCII bytes); may be empty
};

// The disk's counters: the device's requests and the VM's current (top) overlay; for a clone on another
// host than its master's, what its reads of the disk snapshot fetched through the memserver.
struct DiskStats {
  devices::BlkStats device;
  devices::OverlayStats overlay;
  std::optional<devices::RemoteDiskStats> remote;
};

struct VmConfig {
  uint32_t vcpus = 1;      // 1 .. SF_MAX_VCPUS (and what KVM allows)
  uint64_t ram_bytes = 0;  // multiple of 4 KiB, 2 MiB .. SF_RAM_MAX; above 3 GiB RAM continues at 4 GiB
  std::string cmdline;     // < SF_CMDLINE_MAX bytes, no NUL; the guest finds it via its bootinfo
  uint32_t clusterid = 0, vmid = 0;
  // CPU privilege at entry (abi.h "Privilege"): kernel (CPL 0, no IDT; the default and what the SDK's
  // crt0 expects) or user (CPL 3 under the VMM's supervisor: native speed and SSE on kvm_pvm hosts for
  // guests that do not drop to ring 3 themselves).
  GuestPrivilege privilege = GuestPrivilege::kernel;
  // In-kernel interrupt controllers (PIC, IOAPIC, a LAPIC per vCPU). Flat guests take no interrupts,
  // so they go without: tearing an irqchip down costs ≈15 ms per VM on kvm_pvm hosts. Guests that
  // need interrupts (Linux) turn it on. Either way flat guests see the same behaviour: HLT with IF = 0
  // ends the vCPU for good (without an irqchip KVM reports it at once; with one the ticker's probe
  // finds it within 20-40 ms), HLT with IF = 1 sleeps until the VM is stopped (pause/resume leave it
  // asleep). Without an irqchip, CPUID shows no APIC and LAPIC/IOAPIC addresses are empty MMIO.
  bool irqchip = false;
  // The in-kernel PIT (i8254) too; requires `irqchip`. Adds a kernel thread and ≈8 ms to destroy here.
  bool pit = false;
  // One virtio-net device in slot 0 (bootinfo.ndevices = 1), bound to an existing tap (sfld's), with
  // the identity its DHCP answers give. Absent: no devices (ndevices = 0).
  std::optional<devices::NetConfig> net;
  // One virtio-blk device in the next free slot (slot 1 after a NIC, else slot 0): `image` under an
  // overlay in `overlay_dir`. Absent: no disk.
  std::optional<DiskConfig> disk;
};

const char* to_string(VmState);

// How a clone is made from a snapshot (Vm::create_from_snapshot).
struct CloneOptions {
  // RAM is anonymous memory filled page by page on first touch from the snapshot memfd by a memtap
  // service thread (userfaultfd; needs root or vm.unprivileged_userfaultfd=1). Otherwise RAM maps the
  // snapshot MAP_PRIVATE (every page at once, copy-on-write).
  bool lazy = false;
  // The answer the clone's pending SF_HC_CLONE_MASTER call gets (status, its vmid, count, ticket):
  // the clone returns from sf_clone with it. A pending call of any other kind, or this one without an
  // answer, returns -SF_EUNAVAIL in the clone (the master's own call is answered as usual).
  std::optional<sf_hc_reply> clone_reply;
  // The clone's own NIC (its tap, MAC and IP), required when the parent had one and refused otherwise. The
  // clone's driver state is the parent's; the device reports a link change so the guest asks DHCP again.
  std::optional<devices::NetConfig> net;
  // The directory of the clone's own overlay over the snapshot's disk, required when the parent had a disk
  // and refused otherwise (clones from a bare descriptor too: their overlay sits on the remote disk).
  std::optional<std::string> disk_overlay_dir;
  // How many of the parent's vCPUs the clone runs (its processors, e.g. from a processor ticket): vCPUs
  // 0 .. vcpus-1, each as the parent left it; the rest are dropped. 0 = all of them. Every boot info the clone
  // has says `vcpus` so the guest knows. More than the parent has is refused (EINVAL).
  uint32_t vcpus = 0;
  // The clone runs as soon as it is made (running, not parked at the fork instant for a resume()): the fast
  // fork's clones start without waiting for their vCPU threads to park first.
  bool run_at_once = false;
};

// What a clone shell must match: the master's RAM size, vCPU count and entry privilege.
struct CloneShape {
  uint64_t ram_bytes = 0;
  uint32_t vcpus = 1;
  GuestPrivilege privilege = GuestPrivilege::user;
  // For a fork on another host (become_remote_clone): its memtap is made when the page source is known. A
  // shell for this host's forks has its memtap ready from the start.
  bool remote = false;
};

struct GuestCall {
  uint64_t id;            // pass to answer_call
  uint32_t nr;            // SF_HC_TICKET_REQUEST .. SF_HC_CLUSTER_SHUTDOWN
  uint32_t vcpu;          // the vCPU that waits for the answer
  sf_hc_request request;  // validated copy: nr matches, ticket NUL-terminated and zero-padded
};

// Called from vCPU threads (and a helper thread for console flushes): must be cheap and thread-safe.
// They may call state(), stats(), reason(), answer_call(), console_input(), read_guest(); they must not
// call boot(), pause() or resume() (those wait for the vCPU threads), and must never delete the Vm.
// destroy() from a callback only stops the VM; the owner's destroy() or destructor tears it down.
struct VmCallbacks {
  // Console output in order, batched (per line, per 4 KiB, or when a vCPU stops to wait).
  std::function<void(std::string_view)> on_console;
  // Every state change, once, in order: running (boot, resume), paused, then one of
  // halted / exited / crashed, and destroyed (from destroy(), on the caller's thread).
  std::function<void(VmState, int exit_code, const std::string& reason)> on_state;
  // A guest seed-API call; its vCPU waits until answer_call(call.id, ...). Without this callback every
  // call fails with -SF_EUNAVAIL. Calls still open when the VM stops are failed with -SF_EUNAVAIL.
  std::function<void(const GuestCall&)> on_guest_call;
};

class Vm {
 public:
  static Result<std::unique_ptr<Vm>> create(const VmConfig& config, VmCallbacks callbacks);
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;
  ~Vm();  // destroy()

  Status load_elf(std::span<const uint8_t> image);  // before boot
  Status load_elf_file(const std::string& path);    // reads the file with a size cap (≤ RAM)
  Status boot();                                    // vCPU 0 starts at the ELF entry
  // Returns once every vCPU is out of KVM_RUN and parked (a vCPU waiting for a guest-call answer, or
  // halted for good, counts as parked); guest memory and registers then stay still until resume().
  Status pause();
  Status resume();
  // Answers guest call `id` (from any thread); the guest sees reply in its request block and
  // rax = reply.status. An answer given while paused reaches the guest after resume().
  Status answer_call(uint64_t id, const sf_hc_reply& reply);
  void console_input(std::string_view bytes);  // bytes for the guest to read from the serial port

  VmStats stats() const;
  VmState state() const;
  int exit_code() const;       // exited: the guest's code
  std::string reason() const;  // halted / exited / crashed: what happened (e.g. "triple fault at rip=…")
  // Copies guest RAM [gpa, gpa + out.size()) (diagnostics, tests); EFAULT outside RAM or after destroy().
  Status read_guest(uint64_t gpa, std::span<uint8_t> out) const;
  // The NIC's counters (the last ones after destroy()); ENOENT for a VM without a NIC.
  Result<devices::NetStats> net_stats() const;
  // The disk's counters (the last ones after destroy()); ENOENT for a VM without a disk.
  Result<DiskStats> disk_stats() const;

  // ---- Same-host fork (DESIGN §4.4; notes §6) ----
  // Pauses the VM (every vCPU out of KVM_RUN with its last I/O instruction completed), captures the
  // descriptor, makes guest RAM copy-on-write against a frozen snapshot memfd, and returns the VM to
  // the state it was in (running or paused). A vCPU waiting for a guest-call answer (the master inside
  // sf_clone) is captured with its call pending: each clone answers it with its own reply, the master
  // with the one answer_call gives it. EBUSY while a vCPU sleeps in HLT; ENOTSUP with an in-kernel
  // irqchip (its state is not in the descriptor yet).
  Result<Snapshot> fork_snapshot();
  // A new VM whose RAM maps the snapshot's memfd MAP_PRIVATE and whose vCPUs are restored from its
  // descriptor, with `vmid` (also written into every vCPU's bootinfo). It starts paused, at the fork
  // instant: resume() lets it run.
  static Result<std::unique_ptr<Vm>> create_from_snapshot(const Snapshot& snapshot, uint32_t vmid,
                                                          VmCallbacks callbacks, const CloneOptions& options);
  static Result<std::unique_ptr<Vm>> create_from_snapshot(const Snapshot& snapshot, uint32_t vmid,
                                                          VmCallbacks callbacks, bool lazy = false) {
    CloneOptions o;
    o.lazy = lazy;
    return create_from_snapshot(snapshot, vmid, std::move(callbacks), o);
  }
  // A clone shell: the parts of a lazy clone that do not depend on the snapshot (KVM VM, vCPUs, empty RAM
  // registered as memslots), made before the fork, e.g. when a ticket is granted, so that the fork
  // itself only restores state (≈1.5 ms per GiB of RAM saved per clone on kvm_pvm hosts). It never runs
  // until become_clone() makes it a clone of a snapshot of that shape (then exactly like
  // create_from_snapshot with lazy = true); on failure the shell is destroyed.
  static Result<std::unique_ptr<Vm>> create_clone_shell(const CloneShape& shape, VmCallbacks callbacks);
  Status become_clone(const Snapshot& snapshot, uint32_t vmid, const CloneOptions& options);
  // A shell made with shape.remote becomes a clone of a fork on another host, exactly like
  // create_from_descriptor (same arguments, same checks); on failure the shell is destroyed.
  Status become_remote_clone(std::span<const uint8_t> descriptor, uint32_t vmid, const CloneOptions& options,
                             std::shared_ptr<memory::PageSource> source, std::shared_ptr<devices::RemoteDisk> disk);
  // A lazy clone from a descriptor alone, its pages coming from `source` (e.g. a RemotePageSource: a
  // memserver on the master's host through this host's mirror). If the source gives up on a page the
  // clone cannot go on: it ends as crashed with the source's reason. Such a clone cannot fork again.
  // A descriptor with a disk needs `disk`, the disk snapshot's blocks fetched the same way (its reads
  // wait for missing blocks; one the source cannot deliver fails that request with IOERR, the VM goes
  // on), and options.disk_overlay_dir for the clone's own overlay over it.
  static Result<std::unique_ptr<Vm>> create_from_descriptor(std::span<const uint8_t> descriptor, uint32_t vmid,
                                                            VmCallbacks callbacks, const CloneOptions& options,
                                                            std::shared_ptr<memory::PageSource> source,
                                                            std::shared_ptr<devices::RemoteDisk> disk = nullptr);
  // Lazy clones: memtap counters (EINVAL for other VMs), prefetch of [gpa, gpa + npages pages) before
  // the guest asks, and FRESH_PAGES-style hints (pages the guest will overwrite: zero-filled, never
  // copied). prefetch/hint_fresh are no-ops on eager RAM.
  Result<memory::MemtapStats> memtap_stats() const;
  Status prefetch(uint64_t gpa, uint64_t npages);
  Status hint_fresh(uint64_t gpa, uint64_t npages);
  // Test hook (lazy clones): while stalled the memtap leaves faults pending, like a stuck memory server.
  Status set_memtap_stall_for_test(bool stalled);
  // The serialised descriptor of a paused VM (no RAM change).
  Result<std::vector<uint8_t>> capture_descriptor();

  // Idempotent; also run by the destructor: stops and joins every thread, closes every fd, unmaps RAM.
  // Called from a callback (a vCPU thread) it only stops the VM; the teardown happens later.
  void destroy();

 private:
  class Impl;
  explicit Vm(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sf::vmm
