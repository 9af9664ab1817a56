// Vm: assembles a flat-guest VM from its parts (KVM VM, guest RAM, serial port, vCPUs, run control)
// and implements what vCPU threads ask of their VM (hypercall side effects, end of run, guest calls).
// Boundary: wiring, ordering and teardown of create/boot/run/pause/destroy; forks and clones are in
// vm_fork.cc. The parts do the work; this file decides when.
#include "vm.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "../devices/cow_overlay.h"
#include "../devices/disk_image.h"
#include "../devices/remote_disk.h"
#include "../devices/tap_backend.h"
#include "../devices/virtio_net.h"
#include "elf_loader.h"
#include "long_mode.h"
#include "vm_impl.h"

namespace sf::vmm {

Status Vm::Impl::init() {
  if (Status s = install_kick_handler(); !s.ok()) return s;
  if (config_.vcpus == 0 || config_.vcpus > SF_MAX_VCPUS) {
    return Status::Error(EINVAL, "vcpus must be between 1 and " + std::to_string(SF_MAX_VCPUS) + " (got " +
                                     std::to_string(config_.vcpus) + ")");
  }
  if (config_.cmdline.size() >= SF_CMDLINE_MAX || config_.cmdline.find('\0') != std::string::npos) {
    return Status::Error(
        EINVAL, "cmdline must be shorter than " + std::to_string(SF_CMDLINE_MAX) + " bytes and contain no NUL");
  }
  if (config_.pit && !config_.irqchip) return Status::Error(EINVAL, "the PIT needs the in-kernel irqchip (irqchip)");
  if (Status s = init_parts(); !s.ok()) return s;
  // Huge pages only once the image is in (load()): the boot data and image are a few small writes spread over
  // several 2 MiB regions, and each would otherwise cost a whole zeroed huge page at create (~5 ms in all).
  auto mem = memory::GuestMemory::create(config_.ram_bytes, /*huge_pages=*/false);
  if (!mem.ok()) return mem.status();
  mem_ = std::move(mem).value();
  if (Status s = init_kvm(); !s.ok()) return s;
  if (Status s = init_devices(); !s.ok()) return s;
  return write_boot_data();
}

namespace {

// One virtio-net NIC on its virtio-mmio transport, bound to the tap `config` names.
Result<std::unique_ptr<devices::VirtioMmio>> make_nic(memory::GuestMemory& mem, const devices::NetConfig& config) {
  if (Status s = devices::check_net_config(config); !s.ok()) return s;
  auto tap = devices::TapBackend::open(config.tap);
  if (!tap.ok()) {
    // A missing or unusable tap is a configuration problem (sfld's), not KVM's; keep only the errnos
    // that mean the host ran out of something.
    const int code = tap.status().code;
    const bool resources = code == EMFILE || code == ENFILE || code == ENOMEM;
    return Status::Error(resources ? code : EINVAL, tap.status().message);
  }
  auto nic = devices::VirtioNet::create(config, std::move(tap).value());
  if (!nic.ok()) return nic.status();
  return devices::VirtioMmio::create(mem, std::move(nic).value());
}

// A refusal about the files the caller named is a configuration problem (EINVAL, so BAD_INPUT in JS);
// only the errnos that mean the host ran out of something keep their own code.
Status config_error(const Status& s) {
  const bool resources = s.code == EMFILE || s.code == ENFILE || s.code == ENOMEM || s.code == ENOSPC;
  return Status::Error(resources ? s.code : EINVAL, s.message);
}

// One virtio-blk device on its transport over `lower` (read-only: a base image or a fork's snapshot)
// and a fresh overlay of this VM's own in `overlay_dir`.
Result<std::unique_ptr<devices::VirtioMmio>> make_disk(memory::GuestMemory& mem,
                                                       std::shared_ptr<devices::BlockLayer> lower,
                                                       const std::string& overlay_dir, const std::string& id,
                                                       std::shared_ptr<devices::CowOverlay>& top) {
  auto overlay = devices::CowOverlay::create(std::move(lower), overlay_dir);
  if (!overlay.ok()) return config_error(overlay.status());
  top = overlay.value();
  auto blk = devices::VirtioBlk::create(std::move(overlay).value(), id);
  if (!blk.ok()) return config_error(blk.status());
  return devices::VirtioMmio::create(mem, std::move(blk).value());
}

}  // namespace

Status Vm::Impl::init_devices() {
  if (config_.net) {
    auto nic = make_nic(*mem_, *config_.net);
    if (!nic.ok()) return nic.status();
    if (Status s = devices_.add(std::move(nic).value()); !s.ok()) return s;
  }
  if (config_.disk) {
    auto image = devices::DiskImage::open(config_.disk->image);
    if (!image.ok()) return config_error(image.status());
    auto disk = make_disk(*mem_, std::move(image).value(), config_.disk->overlay_dir, config_.disk->id, overlay_);
    if (!disk.ok()) return disk.status();
    if (Status s = devices_.add(std::move(disk).value()); !s.ok()) return s;
  }
  (void)devices_.route_notifies(kvm_->fd());
  return Status::Ok();
}

Status Vm::Impl::restore_devices(const Descriptor& d, const CloneOptions& options) {
  bool nic_used = false, disk_used = false;
  for (size_t i = 0; i < d.devices.size(); ++i) {
    const devices::VirtioState& state = d.devices[i];
    Result<std::unique_ptr<devices::VirtioMmio>> dev = Status::Error(EINVAL, "no device");
    const char* what = "";
    if (state.device_id == devices::kDeviceIdNet && !nic_used) {
      if (!options.net) {
        return Status::Error(EINVAL, "the parent VM had a NIC: the clone needs its own net option (tap, MAC, IP)");
      }
      dev = make_nic(*mem_, *options.net);
      what = "the NIC";
      nic_used = true;
      config_.net = options.net;
    } else if (state.device_id == devices::kDeviceIdBlock && !disk_used) {
      if (!clone_disk_) {
        return Status::Error(EINVAL,
                             "the parent VM has a disk and this clone has no source for its blocks (a clone from "
                             "a descriptor reads them through the master host's memserver: createRemoteClone)");
      }
      if (!options.disk_overlay_dir) {
        return Status::Error(EINVAL, "the parent VM had a disk: the clone needs its own disk.overlayDir");
      }
      // The parent's GET_ID answer is the clone's too (an unreadable state fails the restore below).
      auto blk = devices::parse_blk_state(state.device);
      const std::string id = blk.ok() ? blk->id : "";
      // The device thread may read the ring as soon as the transport is restored: RAM is attached by now.
      dev = make_disk(*mem_, clone_disk_, *options.disk_overlay_dir, id, overlay_);
      what = "the disk";
      disk_used = true;
      config_.disk = DiskConfig{"", *options.disk_overlay_dir, id};  // where a fork of this clone puts overlays
    } else {
      return Status::Error(EINVAL, "malformed descriptor: device slot " + std::to_string(i) + " holds device id " +
                                       std::to_string(state.device_id) + ", which a clone cannot rebuild");
    }
    if (!dev.ok()) return dev.status();
    if (Status s = dev.value()->restore(state); !s.ok()) {
      return Status::Error(s.code, std::string("restoring ") + what + ": " + s.message);
    }
    if (Status s = devices_.add(std::move(dev).value()); !s.ok()) return s;
  }
  clone_disk_.reset();  // the clone's overlay holds it now
  if (options.net && !nic_used) {
    return Status::Error(EINVAL, "net was given for a clone of a VM without a NIC (its guest would never find one)");
  }
  if (options.disk_overlay_dir && !disk_used) {
    return Status::Error(EINVAL, "disk was given for a clone of a VM without a disk (its guest would never find one)");
  }
  (void)devices_.route_notifies(kvm_->fd());
  return Status::Ok();
}

Status Vm::Impl::capture_devices(Descriptor& d) {
  constexpr std::chrono::milliseconds kQuiesceLimit{500};
  for (uint32_t i = 0; i < devices_.size(); ++i) {
    devices::VirtioMmio& dev = *devices_.slot(i);
    if (Status s = dev.quiesce(kQuiesceLimit); !s.ok()) return s;
    auto state = dev.capture();
    if (!state.ok()) return state.status();
    d.devices.push_back(std::move(state).value());
  }
  return Status::Ok();
}

void Vm::Impl::resume_devices() {
  for (uint32_t i = 0; i < devices_.size(); ++i) devices_.slot(i)->resume();
}

Result<devices::NetStats> Vm::Impl::net_stats() const {
  std::shared_lock lock(res_mu_);
  if (destroyed_) {
    if (final_net_stats_) return *final_net_stats_;
  } else if (devices::VirtioMmio* d = devices_.slot(0);
             d != nullptr && d->device().device_id() == devices::kDeviceIdNet) {
    return static_cast<devices::VirtioNet&>(d->device()).stats();
  }
  return Status::Error(ENOENT, "this VM has no NIC (create it with the net option)");
}

devices::VirtioBlk* Vm::Impl::blk() const {
  for (uint32_t i = 0; i < devices_.size(); ++i) {
    devices::VirtioDevice& d = devices_.slot(i)->device();
    if (d.device_id() == devices::kDeviceIdBlock) return static_cast<devices::VirtioBlk*>(&d);
  }
  return nullptr;
}

Result<DiskStats> Vm::Impl::disk_stats() const {
  std::shared_lock lock(res_mu_);
  if (destroyed_) {
    if (final_disk_stats_) return *final_disk_stats_;
  } else if (devices::VirtioBlk* b = blk(); b != nullptr) {
    DiskStats s;
    s.device = b->stats();
    if (overlay_) s.overlay = overlay_->stats();
    if (remote_disk_) s.remote = remote_disk_->stats();
    return s;
  }
  return Status::Error(ENOENT, "this VM has no disk (create it with the disk option)");
}

Result<std::shared_ptr<devices::BlockLayer>> Vm::Impl::fork_disk_locked() {
  devices::VirtioBlk* b = blk();
  if (b == nullptr) return std::shared_ptr<devices::BlockLayer>();
  // A clone's overlays go where its creator says; the master's new one goes where its first one went.
  if (!config_.disk) return Status::Error(EINVAL, "this VM's disk has no overlay directory");
  auto forked = devices::fork_disk(b->disk(), config_.disk->overlay_dir);
  if (!forked.ok()) return forked.status();
  if (Status s = b->rebind(forked->master); !s.ok()) return s;
  overlay_ = forked->master;
  return forked->snapshot;
}

Status Vm::Impl::init_parts() {
  serial_ = std::make_unique<Serial>(callbacks_.on_console);
  control_ = std::make_unique<RunControl>(config_.vcpus);
  // A vCPU in the serial port's idle back-off or in SF_HC_WAIT is outside KVM_RUN: pause and stop wake it
  // explicitly.
  control_->set_waker([serial = serial_.get(), signal = &devices_.signal()] {
    serial->wake();
    signal->wake();
  });

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
    bi.ndevices = devices_.size();
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
  mem_->advise_huge_pages();  // what the guest touches from here on comes in 2 MiB pages where the host allows
  return Status::Ok();
}

Status Vm::Impl::start_vcpu_thread(Vcpu& vcpu) { return vcpu.start(*this); }

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
  // Likewise a disk read waiting for a remote block: the device thread must not hold teardown up.
  if (remote_disk_) remote_disk_->cancel();
  for (auto& v : vcpus_) v->join();
  serial_->flush();
  // A destroyed VM reports 0 pages: no need to count them.
  final_stats_ = collect_stats(/*count_pages=*/false);
  if (auto net = net_stats(); net.ok()) final_net_stats_ = net.value();
  if (auto disk = disk_stats(); disk.ok()) final_disk_stats_ = disk.value();
  {
    std::unique_lock lock(res_mu_);
    devices_.clear();  // device threads stop and taps close before RAM goes
    overlay_.reset();  // the overlay's unnamed file goes with its last holder
    clone_disk_.reset();
    remote_disk_.reset();
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
    add_counters(v->counters(), s);
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

// ---- Vm ----------------------------------------------------------------------------------------

Result<std::unique_ptr<Vm>> Vm::create(const VmConfig& config, VmCallbacks callbacks) {
  auto impl = std::make_unique<Impl>(config, std::move(callbacks));
  if (Status s = impl->init(); !s.ok()) return s;  // ~Impl releases whatever init created
  return std::unique_ptr<Vm>(new Vm(std::move(impl)));
}

Vm::Vm(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Vm::~Vm() { destroy(); }

Status Vm::load_elf(std::span<const uint8_t> image) { return impl_->load(image); }

Status Vm::load_elf_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
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
Result<devices::NetStats> Vm::net_stats() const { return impl_->net_stats(); }
Result<DiskStats> Vm::disk_stats() const { return impl_->disk_stats(); }
void Vm::destroy() {
  if (impl_) impl_->destroy();
}

}  // namespace sf::vmm
