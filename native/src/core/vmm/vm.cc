// Vm: assembles a flat-guest VM from its parts (KVM VM, guest RAM, serial port, vCPUs, run control)
// and implements what vCPU threads ask of their VM (hypercall side effects, end of run, guest calls).
// Boundary: wiring, ordering and teardown. The parts do the work; this file decides when.
#include "vm.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "descriptor.h"
#include "elf_loader.h"
#include "guest_memory.h"
#include "hypercall.h"
#include "kvm.h"
#include "long_mode.h"
#include "run_control.h"
#include "serial.h"
#include "ticker.h"
#include "vcpu.h"

namespace sf::vmm {

namespace {

// Often enough that a forgotten newline shows up promptly and (with an irqchip) a halted guest is
// noticed quickly; rare enough to cost nothing (a probe kicks only vCPUs that made no exit for a whole
// period).
constexpr std::chrono::milliseconds kTickPeriod{20};

uint64_t bootinfo_gpa(uint32_t vcpu) { return SF_BOOTINFO_GPA + uint64_t{vcpu} * sizeof(sf_bootinfo); }

}  // namespace

class Vm::Impl final : public VcpuHost, public HypercallEnv {
 public:
  Impl(const VmConfig& config, VmCallbacks callbacks) : config_(config), callbacks_(std::move(callbacks)) {}
  ~Impl() = default;

  Status init();
  Status init_from(const Descriptor& d, int memfd, const CloneOptions& options);
  // Clone shells: everything a lazy clone needs that does not depend on the snapshot, made ahead of the
  // fork (KVM VM, RAM registered as a memslot, vCPUs); attach() later makes it the clone.
  Status init_shell();
  Status attach(const Descriptor& d, int memfd, uint32_t vmid, const CloneOptions& options);
  Status init_remote(const Descriptor& d, std::shared_ptr<PageSource> source, const CloneOptions& options);
  Result<MemtapStats> memtap_stats() const;
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
  GuestMemory& memory() override { return *mem_; }
  Serial& serial() override { return *serial_; }
  RunControl& control() override { return *control_; }
  HypercallEnv& hypercall_env() override { return *this; }
  void end_run(VmState state, int exit_code, std::string reason) override;
  void guest_call(uint64_t id, uint32_t nr, uint32_t vcpu, const sf_hc_request& request) override;

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
  Result<Descriptor> capture_locked();
  Status start_vcpu_thread(Vcpu& vcpu);
  // The part of making a clone that needs the snapshot: registers, identity, threads (parked).
  Status finish_clone(const Descriptor& d, const CloneOptions& options);
  // A clone's vCPU that was forked inside a guest call returns from it before its first instruction.
  Status answer_forked_call(Vcpu& vcpu, const VcpuDescriptor& v, const CloneOptions& options);
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
  std::unique_ptr<GuestMemory> mem_;
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
};

Status Vm::Impl::init() {
  if (Status s = install_kick_handler(); !s.ok()) return s;
  if (config_.vcpus == 0 || config_.vcpus > SF_MAX_VCPUS) {
    return Status::Error(EINVAL, "vcpus must be between 1 and " + std::to_string(SF_MAX_VCPUS) + " (got " +
                                     std::to_string(config_.vcpus) + ")");
  }
  if (config_.cmdline.size() >= SF_CMDLINE_MAX || config_.cmdline.find('\0') != std::string::npos) {
    return Status::Error(EINVAL, "cmdline must be shorter than " + std::to_string(SF_CMDLINE_MAX) +
                                     " bytes and contain no NUL");
  }
  if (config_.pit && !config_.irqchip) return Status::Error(EINVAL, "the PIT needs the in-kernel irqchip (irqchip)");
  if (Status s = init_parts(); !s.ok()) return s;
  auto mem = GuestMemory::create(config_.ram_bytes);
  if (!mem.ok()) return mem.status();
  mem_ = std::move(mem).value();
  if (Status s = init_kvm(); !s.ok()) return s;
  return write_boot_data();
}

Status Vm::Impl::init_parts() {
  serial_ = std::make_unique<Serial>(callbacks_.on_console);
  control_ = std::make_unique<RunControl>(config_.vcpus);
  // A vCPU in the serial port's idle back-off is outside KVM_RUN: pause and stop wake it explicitly.
  control_->set_waker([serial = serial_.get()] { serial->wake(); });

  auto kvm = KvmVm::create();
  if (!kvm.ok()) return kvm.status();
  kvm_ = std::move(kvm).value();
  if (config_.vcpus > kvm_->max_vcpus()) {
    return Status::Error(EINVAL, "KVM allows at most " + std::to_string(kvm_->max_vcpus()) + " vCPUs per VM");
  }
  return Status::Ok();
}

Status Vm::Impl::init_kvm() {
  // Memory first, irqchip second (notes §0.5), then vCPUs (the LAPIC is created with each vCPU).
  if (Status s = kvm_->add_ram(*mem_); !s.ok()) return s;
  if (Status s = kvm_->set_vmx_helper_pages(); !s.ok()) return s;
  if (config_.irqchip) {
    if (Status s = kvm_->create_irqchip(config_.pit); !s.ok()) return s;
  }
  for (uint32_t i = 0; i < config_.vcpus; ++i) {
    auto vcpu = Vcpu::create(*kvm_, i, config_.vcpus);
    if (!vcpu.ok()) return vcpu.status();
    control_->attach(i, vcpu.value()->run(), vcpu.value()->thread());
    vcpus_.push_back(std::move(vcpu).value());
  }
  return Status::Ok();
}

Status Vm::Impl::write_boot_data() {
  if (Status s = write_boot_tables(*mem_, config_.privilege, config_.vcpus); !s.ok()) return s;
  std::vector<uint8_t> cmdline(config_.cmdline.begin(), config_.cmdline.end());
  cmdline.push_back(0);
  if (!mem_->write_bytes(SF_CMDLINE_GPA, cmdline)) return Status::Error(EFAULT, "command line does not fit in RAM");
  for (uint32_t i = 0; i < config_.vcpus; ++i) {
    sf_bootinfo bi{};
    bi.magic = SF_BOOTINFO_MAGIC;
    bi.abi_version = SF_ABI_VERSION;
    bi.ram_bytes = config_.ram_bytes;
    bi.vcpus = config_.vcpus;
    bi.vcpu_id = i;
    bi.cmdline_gpa = SF_CMDLINE_GPA;
    bi.cmdline_len = static_cast<uint32_t>(config_.cmdline.size());
    bi.clusterid = config_.clusterid;
    bi.vmid = config_.vmid;
    if (!mem_->write(bootinfo_gpa(i), bi)) return Status::Error(EFAULT, "bootinfo does not fit in RAM");
  }
  return Status::Ok();
}

Status Vm::Impl::load(std::span<const uint8_t> image) {
  std::lock_guard api(api_mu_);
  if (control_->state() != VmState::created) {
    return Status::Error(EINVAL, std::string("cannot load an image into a VM that is ") + to_string(control_->state()));
  }
  auto loaded = sf::vmm::load_elf(image, *mem_);
  if (!loaded.ok()) return loaded.status();
  entry_ = loaded->entry;
  image_loaded_ = true;
  return Status::Ok();
}

Status Vm::Impl::start_vcpu_thread(Vcpu& vcpu) {
  return vcpu.start(*this);
}

Status Vm::Impl::boot() {
  std::lock_guard api(api_mu_);
  if (control_->state() != VmState::created) {
    return Status::Error(EINVAL, std::string("cannot boot a VM that is ") + to_string(control_->state()));
  }
  if (!image_loaded_) return Status::Error(EINVAL, "no guest image loaded (call load_elf first)");
  if (Status s = enter_long_mode(vcpus_[0]->fd(), 0, config_.privilege, entry_, SF_BOOT_STACK_TOP, bootinfo_gpa(0));
      !s.ok()) {
    return s;
  }
  // Without an irqchip HLT exits to user space by itself: no probing needed, only the flush.
  if (Status s = ticker_.start(
          kTickPeriod,
          [this, probe = config_.irqchip] {
            serial_->flush();
            if (probe) control_->probe_quiet();
          },
          "sf-vm-ticker", owner_tag());
      !s.ok()) {
    return s;
  }
  control_->claim_start(0);
  if (Status s = control_->begin_running(); !s.ok()) return s;
  Status started;
  {
    std::lock_guard start(start_mu_);
    started = start_vcpu_thread(*vcpus_[0]);
  }
  if (!started.ok()) {
    control_->unclaim_start(0);
    control_->finish(VmState::crashed, 0, "could not start vCPU 0: " + started.message);
  }
  deliver_events();
  return started;
}

Status Vm::Impl::pause() {
  std::lock_guard api(api_mu_);
  if (destroyed_) return Status::Error(EINVAL, "cannot pause a destroyed VM");
  Status s = control_->pause();
  serial_->flush();
  deliver_events();
  return s;
}

Status Vm::Impl::resume() {
  std::lock_guard api(api_mu_);
  if (destroyed_) return Status::Error(EINVAL, "cannot resume a destroyed VM");
  Status s = control_->resume();
  deliver_events();
  return s;
}

void Vm::Impl::end_run(VmState state, int exit_code, std::string reason) {
  // Output the guest wrote before it ended comes before the state change.
  serial_->flush();
  control_->finish(state, exit_code, std::move(reason));
  deliver_events();
}

void Vm::Impl::guest_call(uint64_t id, uint32_t nr, uint32_t vcpu, const sf_hc_request& request) {
  if (!callbacks_.on_guest_call) {
    sf_hc_reply reply{};
    reply.status = -static_cast<int>(SF_EUNAVAIL);
    std::snprintf(reply.errmsg, sizeof reply.errmsg, "this VM has no seed-API handler");
    control_->answer(id, reply);
    return;
  }
  callbacks_.on_guest_call(GuestCall{id, nr, vcpu, request});
}

int64_t Vm::Impl::start_vcpu(uint32_t vcpu_id, uint64_t entry, uint64_t stack_top) {
  if (vcpu_id >= config_.vcpus) return -static_cast<int64_t>(SF_EINVAL);
  // Checked before the slot is claimed, so a bad call leaves the vCPU startable.
  if (!mem_->contains(entry, 1)) return -static_cast<int64_t>(SF_EFAULT);
  if (stack_top < 16 || !mem_->contains(stack_top - 16, 16)) return -static_cast<int64_t>(SF_EFAULT);
  std::lock_guard start(start_mu_);
  if (const int rc = control_->claim_start(vcpu_id); rc != 0) return rc;
  Vcpu& vcpu = *vcpus_[vcpu_id];
  Status s = enter_long_mode(vcpu.fd(), vcpu_id, config_.privilege, entry, stack_top, bootinfo_gpa(vcpu_id));
  if (s.ok()) s = vcpu.make_runnable();
  if (s.ok()) s = start_vcpu_thread(vcpu);
  if (!s.ok()) {
    control_->unclaim_start(vcpu_id);
    return -static_cast<int64_t>(SF_EINTERNAL);
  }
  return 0;
}

void Vm::Impl::deliver_events() {
  std::lock_guard report(report_mu_);
  while (auto e = control_->take_event()) {
    if (callbacks_.on_state) callbacks_.on_state(e->state, e->exit_code, e->reason);
  }
}

void Vm::Impl::destroy() {
  if (current_thread_owner() == owner_tag()) {
    // On one of our own threads (a callback): joining would wait for ourselves. Stop the VM; the
    // owner's destroy() or destructor does the teardown.
    control_->stop_all();
    return;
  }
  std::lock_guard api(api_mu_);
  if (destroyed_) return;
  control_->stop_all();
  {
    // A VCPU_START in flight finishes creating its thread first; later ones are refused (stopping).
    std::lock_guard start(start_mu_);
  }
  ticker_.stop();
  // Lazy RAM: a vCPU may sit in a page fault that will never be served (a stalled or dead memory
  // server); releasing the userfaultfd wakes it so that it sees the stop. The VM is going anyway.
  if (mem_) mem_->release_faults();
  for (auto& v : vcpus_) v->join();
  serial_->flush();
  // A destroyed VM reports 0 pages: no need to count them.
  final_stats_ = collect_stats(/*count_pages=*/false);
  {
    std::unique_lock lock(res_mu_);
    vcpus_.clear();  // vCPU fds and kvm_run pages
    kvm_.reset();    // VM fd and /dev/kvm
    mem_.reset();    // guest RAM mapping and memfd
    destroyed_ = true;
  }
  control_->mark_destroyed();
  deliver_events();
}

VmStats Vm::Impl::stats() const {
  std::shared_lock lock(res_mu_);
  if (destroyed_) return final_stats_;
  return collect_stats(/*count_pages=*/true);
}

VmStats Vm::Impl::collect_stats(bool count_pages) const {
  VmStats s{};
  for (const auto& v : vcpus_) {
    const VcpuCounters& c = v->counters();
    s.exits_io += c.exits_io.load(std::memory_order_relaxed);
    s.exits_mmio += c.exits_mmio.load(std::memory_order_relaxed);
    s.exits_hlt += c.exits_hlt.load(std::memory_order_relaxed);
    s.exits_other += c.exits_other.load(std::memory_order_relaxed);
    s.io_unhandled += c.io_unhandled.load(std::memory_order_relaxed);
    s.hypercalls += c.hypercalls.load(std::memory_order_relaxed);
    s.vcpu_run_ns += c.run_ns.load(std::memory_order_relaxed);
    s.vcpu_cpu_ns += v->cpu_ns();
  }
  s.serial_idle_waits = serial_->idle_waits();
  s.serial_bytes = serial_->bytes_out();
  s.fresh_page_hints = fresh_pages_.load(std::memory_order_relaxed);
  s.pages_touched = count_pages && mem_ ? mem_->pages_touched() : 0;
  return s;
}

Status Vm::Impl::read_guest(uint64_t gpa, std::span<uint8_t> out) const {
  std::shared_lock lock(res_mu_);
  if (!mem_) return Status::Error(EFAULT, "the VM has no memory (destroyed)");
  if (!mem_->read_bytes(gpa, out)) return Status::Error(EFAULT, "guest range is outside RAM");
  return Status::Ok();
}

// ---- fork ----------------------------------------------------------------------------------------

namespace {
uint64_t mono_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}
}  // namespace

Result<Descriptor> Vm::Impl::capture_locked() {
  // Paused means every started vCPU is parked after a KVM_RUN that returned EINTR with immediate_exit
  // set, which completes a pending I/O instruction first (notes §0.7): RIP and registers are final.
  auto started = control_->fork_check();
  if (!started.ok()) return started.status();
  Descriptor d;
  d.clusterid = config_.clusterid;
  d.vmid = config_.vmid;
  d.ram_bytes = config_.ram_bytes;
  d.privilege = config_.privilege == GuestPrivilege::user ? 1 : 0;
  d.vcpus = config_.vcpus;
  // Device state before KVM state (notes §6.1.2).
  d.serial = serial_->registers();
  for (uint32_t i = 0; i < config_.vcpus; ++i) {
    if (!started.value()[i].started) {
      VcpuDescriptor v;
      v.id = i;
      d.vcpu.push_back(std::move(v));
      continue;
    }
    auto v = capture_vcpu(vcpus_[i]->fd(), i);
    if (!v.ok()) return v.status();
    v->pending_call_nr = started.value()[i].call_nr;
    v->pending_call_block = v->pending_call_nr != 0 ? vcpus_[i]->call_block_gpa() : 0;
    d.vcpu.push_back(std::move(v).value());
  }
  return d;
}

Result<std::vector<uint8_t>> Vm::Impl::capture() {
  std::lock_guard api(api_mu_);
  if (destroyed_) return Status::Error(EINVAL, "cannot describe a destroyed VM");
  if (config_.irqchip) return Status::Error(ENOTSUP, "VMs with an in-kernel irqchip cannot be described yet");
  auto d = capture_locked();
  if (!d.ok()) return d.status();
  return serialize(d.value());
}

Result<Snapshot> Vm::Impl::fork() {
  std::lock_guard api(api_mu_);
  if (destroyed_) return Status::Error(EINVAL, "cannot fork a destroyed VM");
  if (config_.irqchip) return Status::Error(ENOTSUP, "VMs with an in-kernel irqchip cannot be forked yet");
  const VmState before = control_->state();
  if (before != VmState::running && before != VmState::paused) {
    return Status::Error(EINVAL, std::string("cannot fork a VM that is ") + to_string(before));
  }
  ForkTiming timing;
  const uint64_t t0 = mono_ns();
  if (Status s = control_->pause(); !s.ok()) {
    deliver_events();
    return s;
  }
  const uint64_t t1 = mono_ns();
  auto desc = capture_locked();
  const uint64_t t2 = mono_ns();
  Result<GuestMemory::FrozenMemory> frozen = Status::Error(EINVAL, "not frozen");
  if (desc.ok()) {
    std::unique_lock lock(res_mu_);  // read_guest must not copy while the mapping is replaced
    frozen = mem_->freeze();
  }
  const uint64_t t3 = mono_ns();
  Status resumed = before == VmState::running ? control_->resume() : Status::Ok();
  const uint64_t t4 = mono_ns();
  serial_->flush();
  deliver_events();
  if (!desc.ok()) return desc.status();
  if (!frozen.ok()) return frozen.status();
  if (!resumed.ok()) return resumed;
  // A fork of RAM that was private already: its image is assembled now, with the parent running.
  auto image = frozen->image();
  if (!image.ok()) return image.status();
  // With the parent running again: the snapshot is immutable, so its identity and its map of zero
  // pages can be worked out now without lengthening the pause.
  SnapshotIdentity id;
  if (::getrandom(&id.snapshot_id, sizeof id.snapshot_id, 0) != sizeof id.snapshot_id ||
      ::getrandom(id.key.data(), id.key.size(), 0) != static_cast<ssize_t>(id.key.size())) {
    return Status::FromErrno("getrandom(snapshot identity)", errno);
  }
  if (id.snapshot_id == 0) id.snapshot_id = 1;
  desc->identity = id;
  auto extents = scan_data_extents(image->get(), config_.ram_bytes);
  if (!extents.ok()) return extents.status();
  desc->data_extents = std::move(extents).value();
  timing.pause_ns = before == VmState::running ? t4 - t0 : 0;
  timing.capture_ns = t2 - t1;
  timing.freeze_ns = t3 - t2;
  return Snapshot(serialize(desc.value()), std::move(image).value(), config_.ram_bytes, timing);
}

Result<MemtapStats> Vm::Impl::memtap_stats() const {
  std::shared_lock lock(res_mu_);
  if (!mem_ || mem_->memtap() == nullptr) return Status::Error(EINVAL, "not a lazy clone (or destroyed)");
  return mem_->memtap()->stats();
}

Status Vm::Impl::prefetch(uint64_t gpa, uint64_t npages) {
  std::shared_lock lock(res_mu_);
  if (!mem_) return Status::Error(EFAULT, "the VM has no memory (destroyed)");
  if (mem_->memtap() == nullptr) return Status::Ok();
  if (gpa % SF_PAGE_SIZE != 0 || npages > UINT64_MAX / SF_PAGE_SIZE) return Status::Error(EINVAL, "bad prefetch range");
  auto s = mem_->span(gpa, npages * SF_PAGE_SIZE);
  if (!s) return Status::Error(EFAULT, "prefetch range is outside RAM");
  return mem_->memtap()->prefetch(static_cast<uint64_t>(s->data() - mem_->host_base()) / SF_PAGE_SIZE, npages);
}

Status Vm::Impl::hint_fresh(uint64_t gpa, uint64_t npages) {
  std::shared_lock lock(res_mu_);
  if (!mem_) return Status::Error(EFAULT, "the VM has no memory (destroyed)");
  return mem_->hint_fresh(gpa, npages);
}

Status Vm::Impl::init_shell() {
  if (Status s = install_kick_handler(); !s.ok()) return s;
  if (Status s = init_parts(); !s.ok()) return s;
  auto mem = GuestMemory::create_unfilled(config_.ram_bytes);
  if (!mem.ok()) return mem.status();
  mem_ = std::move(mem).value();
  if (Status s = init_kvm(); !s.ok()) return s;
  shell_ = true;
  return Status::Ok();
}

Status Vm::Impl::attach(const Descriptor& d, int memfd, uint32_t vmid, const CloneOptions& options) {
  std::lock_guard api(api_mu_);
  if (!shell_ || destroyed_) return Status::Error(EINVAL, "not an unused clone shell");
  const uint32_t privilege = config_.privilege == GuestPrivilege::user ? 1 : 0;
  if (d.ram_bytes != config_.ram_bytes || d.vcpus != config_.vcpus || d.privilege != privilege) {
    return Status::Error(EINVAL, "this clone shell was made for another shape of VM (RAM, vCPUs or privilege)");
  }
  if (!options.lazy) return Status::Error(EINVAL, "clone shells hold lazy memory only");
  shell_ = false;  // one attempt: a shell that failed half-way is not reused
  config_.vmid = vmid;
  config_.clusterid = d.clusterid;
  if (Status s = mem_->attach_lazy(memfd); !s.ok()) return s;
  return finish_clone(d, options);
}

Status Vm::Impl::init_remote(const Descriptor& d, std::shared_ptr<PageSource> source, const CloneOptions& options) {
  if (Status s = init_shell(); !s.ok()) return s;
  shell_ = false;
  MemtapOptions tap;
  // The source gave up on a page a vCPU waits for (memserver gone, timeout): the clone cannot continue.
  // This runs on the source's thread; end_run only records the end and kicks the vCPUs.
  tap.on_failure = [this](const Status& why) {
    end_run(VmState::crashed, 0, "guest memory unavailable: " + why.message);
  };
  if (Status s = mem_->attach_source(std::move(source), std::move(tap)); !s.ok()) return s;
  return finish_clone(d, options);
}

Status Vm::Impl::init_from(const Descriptor& d, int memfd, const CloneOptions& options) {
  if (options.lazy) {
    if (Status s = init_shell(); !s.ok()) return s;
    shell_ = false;
    if (Status s = mem_->attach_lazy(memfd); !s.ok()) return s;
    return finish_clone(d, options);
  }
  if (Status s = install_kick_handler(); !s.ok()) return s;
  if (Status s = init_parts(); !s.ok()) return s;
  auto mem = GuestMemory::create_private(d.ram_bytes, memfd);
  if (!mem.ok()) return mem.status();
  mem_ = std::move(mem).value();
  if (Status s = init_kvm(); !s.ok()) return s;
  return finish_clone(d, options);
}

Status Vm::Impl::finish_clone(const Descriptor& d, const CloneOptions& options) {
  serial_->set_registers(d.serial);
  // With lazy RAM, the pages we are about to write (bootinfo, pending call blocks) are fetched first
  // through the memtap's own path: a source that cannot deliver them fails the clone here with its
  // reason, instead of leaving this thread in a page fault nobody will ever serve.
  if (mem_->memtap() != nullptr) {
    auto need = [&](uint64_t gpa, uint64_t len) -> Status {
      const uint64_t first = gpa / SF_PAGE_SIZE * SF_PAGE_SIZE;
      const uint64_t pages = (gpa + len - first + SF_PAGE_SIZE - 1) / SF_PAGE_SIZE;
      if (!mem_->contains(first, pages * SF_PAGE_SIZE)) return Status::Ok();  // the checks below say why
      if (Status s = prefetch(first, pages); !s.ok()) return Status::Error(s.code, "guest memory unavailable: " + s.message);
      return Status::Ok();
    };
    for (uint32_t i = 0; i < config_.vcpus; ++i) {
      if (!d.vcpu[i].started) continue;
      if (Status s = need(bootinfo_gpa(i), sizeof(sf_bootinfo)); !s.ok()) return s;
      if (d.vcpu[i].pending_call_nr != 0) {
        if (Status s = need(d.vcpu[i].pending_call_block, sizeof(sf_hc_block)); !s.ok()) return s;
      }
    }
  }
  std::vector<bool> started(config_.vcpus, false);
  for (uint32_t i = 0; i < config_.vcpus; ++i) {
    const VcpuDescriptor& v = d.vcpu[i];
    if (!v.started) continue;
    started[i] = true;
    if (Status s = restore_vcpu(vcpus_[i]->fd(), v); !s.ok()) {
      return Status::Error(s.code, "restoring vCPU " + std::to_string(i) + ": " + s.message);
    }
    // The clone's identity: the guest reads its vmid from its bootinfo (a copy-on-write page of its own).
    auto bi = mem_->read<sf_bootinfo>(bootinfo_gpa(i));
    if (bi && bi->magic == SF_BOOTINFO_MAGIC) {
      bi->vmid = config_.vmid;
      mem_->write(bootinfo_gpa(i), *bi);
    }
    if (v.pending_call_nr != 0) {
      if (Status s = answer_forked_call(*vcpus_[i], v, options); !s.ok()) return s;
    }
  }
  image_loaded_ = true;
  if (Status s = ticker_.start(kTickPeriod, [this] { serial_->flush(); }, "sf-vm-ticker", owner_tag()); !s.ok()) {
    return s;
  }
  if (Status s = control_->begin_paused(started); !s.ok()) return s;
  {
    std::lock_guard start(start_mu_);
    for (uint32_t i = 0; i < config_.vcpus; ++i) {
      if (!started[i]) continue;
      if (Status s = start_vcpu_thread(*vcpus_[i]); !s.ok()) {
        control_->unclaim_start(i);
        return s;
      }
    }
  }
  Status s = control_->wait_quiescent();
  deliver_events();
  return s;
}

Status Vm::Impl::answer_forked_call(Vcpu& vcpu, const VcpuDescriptor& v, const CloneOptions& options) {
  // The descriptor is untrusted input: the block must lie in RAM like any guest pointer.
  if (!mem_->contains(v.pending_call_block, sizeof(sf_hc_block))) {
    return Status::Error(EINVAL, "malformed descriptor: vCPU " + std::to_string(v.id) + "'s pending call block is outside RAM");
  }
  sf_hc_reply reply{};
  if (v.pending_call_nr == SF_HC_CLONE_MASTER && options.clone_reply) {
    reply = *options.clone_reply;
  } else {
    reply.status = -static_cast<int>(SF_EUNAVAIL);
    std::snprintf(reply.errmsg, sizeof reply.errmsg, "this VM is a clone made while the call was in progress: retry it");
  }
  // Registers were captured after the doorbell completed: only rax (the status) and the block change.
  if (!write_guest_call_reply(*mem_, v.pending_call_block, reply)) {
    return Status::Error(EFAULT, "cannot write the clone's sf_clone answer into its memory");
  }
  return write_hypercall_result(vcpu.fd(), reply.status);
}

// ---- Vm ----------------------------------------------------------------------------------------

Result<std::unique_ptr<Vm>> Vm::create(const VmConfig& config, VmCallbacks callbacks) {
  auto impl = std::make_unique<Impl>(config, std::move(callbacks));
  if (Status s = impl->init(); !s.ok()) return s;  // ~Impl releases whatever init created
  return std::unique_ptr<Vm>(new Vm(std::move(impl)));
}

Result<std::unique_ptr<Vm>> Vm::create_from_snapshot(const Snapshot& snapshot, uint32_t vmid, VmCallbacks callbacks,
                                                     const CloneOptions& options) {
  if (!snapshot.valid()) return Status::Error(EINVAL, "empty snapshot");
  auto d = parse(snapshot.descriptor());
  if (!d.ok()) return d.status();
  if (d->ram_bytes != snapshot.ram_bytes()) return Status::Error(EINVAL, "descriptor and snapshot memory disagree on RAM size");
  if (d->serial.reserved != 0) return Status::Error(EINVAL, "malformed descriptor: serial state");
  VmConfig config;
  config.vcpus = d->vcpus;
  config.ram_bytes = d->ram_bytes;
  config.clusterid = d->clusterid;
  config.vmid = vmid;
  config.privilege = d->privilege == 1 ? GuestPrivilege::user : GuestPrivilege::kernel;
  auto impl = std::make_unique<Impl>(config, std::move(callbacks));
  if (Status s = impl->init_from(d.value(), snapshot.memfd(), options); !s.ok()) {
    if (impl->assembled()) impl->destroy();  // joins vCPU threads that may already be parked
    return s;
  }
  return std::unique_ptr<Vm>(new Vm(std::move(impl)));
}

Result<std::unique_ptr<Vm>> Vm::create_clone_shell(const CloneShape& shape, VmCallbacks callbacks) {
  if (shape.vcpus == 0 || shape.vcpus > SF_MAX_VCPUS) return Status::Error(EINVAL, "clone shell: bad vCPU count");
  VmConfig config;
  config.vcpus = shape.vcpus;
  config.ram_bytes = shape.ram_bytes;
  config.privilege = shape.privilege;
  auto impl = std::make_unique<Impl>(config, std::move(callbacks));
  if (Status s = impl->init_shell(); !s.ok()) return s;  // nothing runs yet: ~Impl releases it all
  return std::unique_ptr<Vm>(new Vm(std::move(impl)));
}

Status Vm::become_clone(const Snapshot& snapshot, uint32_t vmid, const CloneOptions& options) {
  if (!snapshot.valid()) return Status::Error(EINVAL, "empty snapshot");
  auto d = parse(snapshot.descriptor());
  if (!d.ok()) return d.status();
  if (d->ram_bytes != snapshot.ram_bytes()) return Status::Error(EINVAL, "descriptor and snapshot memory disagree on RAM size");
  if (d->serial.reserved != 0) return Status::Error(EINVAL, "malformed descriptor: serial state");
  if (!impl_->is_shell()) return Status::Error(EINVAL, "not an unused clone shell");
  Status s = impl_->attach(d.value(), snapshot.memfd(), vmid, options);
  if (!s.ok() && impl_->assembled()) impl_->destroy();  // joins vCPU threads that may already be parked
  return s;
}

Result<std::unique_ptr<Vm>> Vm::create_from_descriptor(std::span<const uint8_t> descriptor, uint32_t vmid,
                                                       VmCallbacks callbacks, const CloneOptions& options,
                                                       std::shared_ptr<PageSource> source) {
  if (!source) return Status::Error(EINVAL, "no page source");
  auto d = parse(descriptor);
  if (!d.ok()) return d.status();
  if (source->bytes() < d->ram_bytes) return Status::Error(EINVAL, "the page source is smaller than the descriptor's RAM");
  if (d->serial.reserved != 0) return Status::Error(EINVAL, "malformed descriptor: serial state");
  VmConfig config;
  config.vcpus = d->vcpus;
  config.ram_bytes = d->ram_bytes;
  config.clusterid = d->clusterid;
  config.vmid = vmid;
  config.privilege = d->privilege == 1 ? GuestPrivilege::user : GuestPrivilege::kernel;
  auto impl = std::make_unique<Impl>(config, std::move(callbacks));
  if (Status s = impl->init_remote(d.value(), std::move(source), options); !s.ok()) {
    if (impl->assembled()) impl->destroy();
    return s;
  }
  return std::unique_ptr<Vm>(new Vm(std::move(impl)));
}

Result<Snapshot> Vm::fork_snapshot() { return impl_->fork(); }
Result<MemtapStats> Vm::memtap_stats() const { return impl_->memtap_stats(); }
Status Vm::prefetch(uint64_t gpa, uint64_t npages) { return impl_->prefetch(gpa, npages); }
Status Vm::hint_fresh(uint64_t gpa, uint64_t npages) { return impl_->hint_fresh(gpa, npages); }
Status Vm::set_memtap_stall_for_test(bool stalled) { return impl_->set_stall(stalled); }
Result<std::vector<uint8_t>> Vm::capture_descriptor() { return impl_->capture(); }

Vm::Vm(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Vm::~Vm() { destroy(); }

Status Vm::load_elf(std::span<const uint8_t> image) { return impl_->load(image); }

Status Vm::load_elf_file(const std::string& path) {
  snowflock::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Status::FromErrno("open " + path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno("fstat " + path, errno);
  if (!S_ISREG(st.st_mode)) return Status::Error(EINVAL, path + " is not a regular file");
  // The image has to fit in guest RAM anyway; this also bounds what a huge file can make us allocate.
  if (static_cast<uint64_t>(st.st_size) > impl_->ram_bytes()) {
    return Status::Error(EFBIG, path + " (" + std::to_string(st.st_size) + " bytes) is larger than guest RAM");
  }
  std::vector<uint8_t> image(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < image.size()) {
    const ssize_t n = ::pread(fd.get(), image.data() + done, image.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("read " + path, errno);
    if (n == 0) break;  // the file shrank: the loader sees a truncated image and says so
    done += static_cast<size_t>(n);
  }
  image.resize(done);
  return impl_->load(image);
}

Status Vm::boot() { return impl_->boot(); }
Status Vm::pause() { return impl_->pause(); }
Status Vm::resume() { return impl_->resume(); }
Status Vm::answer_call(uint64_t id, const sf_hc_reply& reply) { return impl_->answer(id, reply); }
void Vm::console_input(std::string_view bytes) { impl_->console_input(bytes); }
VmStats Vm::stats() const { return impl_->stats(); }
VmState Vm::state() const { return impl_->control_ref().state(); }
int Vm::exit_code() const { return impl_->control_ref().exit_code(); }
std::string Vm::reason() const { return impl_->control_ref().reason(); }
Status Vm::read_guest(uint64_t gpa, std::span<uint8_t> out) const { return impl_->read_guest(gpa, out); }
void Vm::destroy() {
  if (impl_) impl_->destroy();
}

}  // namespace sf::vmm
