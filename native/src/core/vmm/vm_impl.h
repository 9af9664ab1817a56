// Vm::Impl: the VM's parts and state, shared by vm.cc (create, boot, run, pause, destroy) and
// vm_fork.cc (fork, clones). Boundary: private to vmm/; only those two files include it.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "../base/ticker.h"
#include "../devices/cow_overlay.h"
#include "../devices/remote_disk.h"
#include "../devices/virtio_blk.h"
#include "../memory/guest_memory.h"
#include "descriptor.h"
#include "device_bus.h"
#include "hypercall.h"
#include "kvm.h"
#include "run_control.h"
#include "serial.h"
#include "vcpu.h"
#include "vm.h"

namespace sf::vmm {

// Often enough that a forgotten newline shows up promptly and (with an irqchip) a halted guest is
// noticed quickly; rare enough to cost nothing (a probe kicks only vCPUs that made no exit for a whole
// period).
inline constexpr std::chrono::milliseconds kTickPeriod{20};

inline uint64_t bootinfo_gpa(uint32_t vcpu) { return SF_BOOTINFO_GPA + uint64_t{vcpu} * sizeof(sf_bootinfo); }

class Vm::Impl final : public VcpuHost, public HypercallEnv {
 public:
  Impl(const VmConfig& config, VmCallbacks callbacks) : config_(config), callbacks_(std::move(callbacks)) {}
  ~Impl() = default;

  Status init();
  Status init_from(const Descriptor& d, const Snapshot& snapshot, const CloneOptions& options);
  // Clone shells: everything a lazy clone needs that does not depend on the snapshot, made ahead of the
  // fork (KVM VM, RAM registered as a memslot, vCPUs); attach() later makes it the clone.
  // memtap_ready: the shell's userfaultfd and memtap thread are made now too (a shell for this host's forks).
  Status init_shell(bool memtap_ready);
  // A shell's vCPU threads, parked until the clone starts them (Vcpu::prestart).
  Status prestart_vcpus();
  Status attach(const Descriptor& d, const Snapshot& snapshot, uint32_t vmid, const CloneOptions& options);
  Status attach_remote(const Descriptor& d, std::shared_ptr<memory::PageSource> source, uint32_t vmid,
                       const CloneOptions& options);
  Status take_shell(const Descriptor& d, uint32_t vmid, const CloneOptions& options);
  // A remote clone's memtap: a source that gives up on a page ends the clone as crashed, with the reason.
  memory::MemtapOptions remote_memtap_options();
  Status init_remote(const Descriptor& d, std::shared_ptr<memory::PageSource> source, const CloneOptions& options);
  Result<memory::MemtapStats> memtap_stats() const;
  Status prefetch(uint64_t gpa, uint64_t npages);
  Status hint_fresh(uint64_t gpa, uint64_t npages);
  Status set_stall(bool stalled) {
    std::shared_lock lock(res_mu_);
    if (!mem_ || mem_->memtap() == nullptr) return Status::Error(EINVAL, "not a lazy clone (or destroyed)");
    mem_->memtap()->set_stall(stalled);
    return Status::Ok();
  }
  bool assembled() const { return control_ != nullptr && serial_ != nullptr; }
  bool is_shell() const { return shell_; }
  Result<Snapshot> fork();
  Result<std::vector<uint8_t>> capture();
  Status load(std::span<const uint8_t> image);
  Status boot();
  Status pause();
  Status resume();
  void destroy();
  VmStats stats() const;
  Status read_guest(uint64_t gpa, std::span<uint8_t> out) const;
  Status answer(uint64_t id, const sf_hc_reply& reply) { return control_->answer(id, reply); }
  void console_input(std::string_view bytes) { serial_->input(bytes); }
  const RunControl& control_ref() const { return *control_; }
  uint64_t ram_bytes() const { return config_.ram_bytes; }

  // VcpuHost
  memory::GuestMemory& memory() override { return *mem_; }
  Serial& serial() override { return *serial_; }
  RunControl& control() override { return *control_; }
  HypercallEnv& hypercall_env() override { return *this; }
  void end_run(VmState state, int exit_code, std::string reason) override;
  void guest_call(uint64_t id, uint32_t nr, uint32_t vcpu, const sf_hc_request& request) override;
  bool mmio_access(uint64_t gpa, std::span<uint8_t> data, bool is_write) override {
    return devices_.access(gpa, data, is_write);
  }
  void wait_for_devices(std::chrono::nanoseconds timeout) override {
    // A zero timeout is a guest's clock read that also takes back an interrupt it is about to see anyway.
    if (timeout.count() <= 0) (void)devices_.signal().take();
    else (void)devices_.signal().wait_until(DeviceSignal::Clock::now() + timeout, control_->leave_requested());
  }
  Result<devices::NetStats> net_stats() const;
  Result<DiskStats> disk_stats() const;
  // Clones on this host: the parent's disk snapshot their overlays sit on (set before init_from/attach).
  void set_clone_disk(std::shared_ptr<devices::BlockLayer> disk) { clone_disk_ = std::move(disk); }
  // Clones on another host: the same, as blocks fetched through the memserver (kept for its figures).
  void set_remote_disk(std::shared_ptr<devices::RemoteDisk> disk);

  // HypercallEnv
  void console_write(std::span<const uint8_t> bytes) override { serial_->write_console(bytes); }
  void note_fresh_pages(uint64_t gpa, uint64_t npages) override {
    fresh_pages_.fetch_add(npages, std::memory_order_relaxed);
    // A lazy clone never fetches these pages from its parent (the enlightenment); eager RAM ignores it.
    // vCPU threads run only while mem_ exists (destroy() joins them before releasing it).
    (void)mem_->hint_fresh(gpa, npages);
  }
  int64_t start_vcpu(uint32_t vcpu_id, uint64_t entry, uint64_t stack_top) override;

 private:
  // What our vCPU and ticker threads carry as current_thread_owner() (the VcpuHost subobject, which
  // is what Vcpu::start passes).
  const void* owner_tag() const { return static_cast<const void*>(static_cast<const VcpuHost*>(this)); }
  Status write_boot_data();
  Status init_parts();
  Status init_kvm();
  // The devices of config_ (a NIC), in their slots; bootinfo.ndevices counts them.
  Status init_devices();
  // A clone's devices: the parent's, restored from the descriptor and bound to the clone's own backends.
  Status restore_devices(const Descriptor& d, const CloneOptions& options);
  // Fork: every device quiesced (no request in flight) and its state captured into `d`; resume_devices()
  // lets them go on (after RAM is frozen).
  Status capture_devices(Descriptor& d);
  void resume_devices();
  // The disk device, or null. Its slot is fixed from creation on.
  devices::VirtioBlk* blk() const;
  // Fork, with the devices quiesced: the disk's top layer frozen as the snapshot, the master rebound to a
  // fresh overlay over it. Null (and nothing done) for a VM without a disk.
  Result<std::shared_ptr<devices::BlockLayer>> fork_disk_locked();
  Result<Descriptor> capture_locked();
  Status start_vcpu_thread(Vcpu& vcpu);
  // The part of making a clone that needs the snapshot: registers, identity, threads (parked).
  Status finish_clone(const Descriptor& d, const CloneOptions& options);
  // A clone's vCPU that was forked inside a guest call returns from it before its first instruction.
  Status answer_forked_call(Vcpu& vcpu, const VcpuDescriptor& v, const CloneOptions& options);
  // Lazy clones: copies in the pages each vCPU touches first (hot_pages.h) before it runs.
  void prefetch_first_touched(const Descriptor& d);
  // Hands queued state changes to on_state, in order, one thread at a time.
  void deliver_events();
  // The counters of the live VM (the caller keeps mem_/vcpus_ alive); pages_touched only if asked.
  VmStats collect_stats(bool count_pages) const;

  // Const in spirit: a clone shell learns its vmid and cluster when it becomes a clone (attach), before
  // any of its threads exist; nothing changes it afterwards.
  VmConfig config_;
  bool shell_ = false;  // created by init_shell and not attached yet
  const VmCallbacks callbacks_;

  // Parts. Serial and RunControl hold no kernel resources and outlive destroy() (answer_call and
  // console_input stay safe to call); the rest is released by destroy().
  std::unique_ptr<Serial> serial_;
  std::unique_ptr<RunControl> control_;
  std::unique_ptr<memory::GuestMemory> mem_;
  // After mem_ (destroyed before RAM is unmapped: device threads use it), before kvm_ and vcpus_
  // (destroyed after the vCPU threads are joined: they route MMIO exits here).
  DeviceBus devices_;
  std::unique_ptr<KvmVm> kvm_;  // after mem_: on an early-failure teardown the VM closes before RAM unmaps
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  Ticker ticker_;

  std::mutex api_mu_;                 // load/boot/pause/resume/destroy, one at a time
  std::mutex start_mu_;               // a VCPU_START in flight vs. destroy() joining threads
  std::mutex report_mu_;              // on_state deliveries, one at a time
  mutable std::shared_mutex res_mu_;  // readers of mem_/vcpus_ vs. their release in destroy()

  bool image_loaded_ = false;
  uint64_t entry_ = 0;
  bool destroyed_ = false;
  std::atomic<uint64_t> fresh_pages_{0};
  VmStats final_stats_{};  // what stats() reports after destroy()
  std::optional<devices::NetStats> final_net_stats_;
  std::optional<DiskStats> final_disk_stats_;
  std::shared_ptr<devices::CowOverlay> overlay_;      // the disk's top layer (its writes go here)
  std::shared_ptr<devices::BlockLayer> clone_disk_;   // a clone's parent disk snapshot (until restored)
  std::shared_ptr<devices::RemoteDisk> remote_disk_;  // a remote clone's disk snapshot (bottom of its stack)
};

}  // namespace sf::vmm
