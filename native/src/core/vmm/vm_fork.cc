// Vm fork and clones (DESIGN §4.4): capture a paused VM's descriptor, freeze its RAM into a snapshot,
// and make clones from a snapshot, a clone shell or a bare descriptor with a page source.
// Boundary: the fork/clone half of Vm::Impl (vm_impl.h); create/boot/run/pause/destroy are in vm.cc.
#include <sys/random.h>

#include <cstdio>
#include <cstring>

#include "../devices/remote_disk.h"
#include "hot_pages.h"
#include "long_mode.h"
#include "vm_impl.h"

namespace sf::vmm {

namespace {
uint64_t mono_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// A clone's descriptor, parsed: every clone path refuses the same malformed ones.
Result<Descriptor> parse_clone_descriptor(std::span<const uint8_t> bytes) {
  auto d = parse(bytes);
  if (!d.ok()) return d.status();
  if (d->serial.reserved != 0) return Status::Error(EINVAL, "malformed descriptor: serial state");
  return d;
}

// The same, for a snapshot on this host: its memory must be the descriptor's size.
Result<Descriptor> parse_snapshot(const Snapshot& snapshot) {
  if (!snapshot.valid()) return Status::Error(EINVAL, "empty snapshot");
  auto d = parse_clone_descriptor(snapshot.descriptor());
  if (d.ok() && d->ram_bytes != snapshot.ram_bytes())
    return Status::Error(EINVAL, "descriptor and snapshot memory disagree on RAM size");
  return d;
}

// How many vCPUs a clone runs: options.vcpus of the parent's, or all of them.
Result<uint32_t> clone_vcpus(const Descriptor& d, const CloneOptions& options) {
  if (options.vcpus == 0) return d.vcpus;
  if (options.vcpus > d.vcpus) {
    return Status::Error(EINVAL, "a clone cannot run more vCPUs (" + std::to_string(options.vcpus) +
                                     ") than its parent has (" + std::to_string(d.vcpus) + ")");
  }
  return options.vcpus;
}

// The machine a clone runs as: its parent's, with its own vmid and possibly fewer vCPUs.
VmConfig clone_config(const Descriptor& d, uint32_t vmid, uint32_t vcpus) {
  VmConfig config;
  config.vcpus = vcpus;
  config.ram_bytes = d.ram_bytes;
  config.clusterid = d.clusterid;
  config.vmid = vmid;
  config.privilege = d.privilege == 1 ? GuestPrivilege::user : GuestPrivilege::kernel;
  return config;
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
  if (Status s = capture_devices(d); !s.ok()) return s;
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
  resume_devices();
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
  Result<memory::GuestMemory::FrozenMemory> frozen = Status::Error(EINVAL, "not frozen");
  // The disk first: a failure there leaves the disk as it was and RAM not yet frozen.
  Result<std::shared_ptr<devices::BlockLayer>> disk = std::shared_ptr<devices::BlockLayer>();
  if (desc.ok()) disk = fork_disk_locked();
  if (desc.ok() && disk.ok()) {
    std::unique_lock lock(res_mu_);  // read_guest must not copy while the mapping is replaced
    frozen = mem_->freeze();
  }
  // Devices stayed quiesced until RAM and disk were frozen: nothing they write afterwards reaches the
  // snapshot (the disk's writes now go to the master's new overlay).
  resume_devices();
  const uint64_t t3 = mono_ns();
  Status resumed = before == VmState::running ? control_->resume() : Status::Ok();
  const uint64_t t4 = mono_ns();
  serial_->flush();
  deliver_events();
  if (!desc.ok()) return desc.status();
  if (!disk.ok()) return Status::Error(disk.status().code, "forking the disk: " + disk.status().message);
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
  auto extents = scan_exact_data_extents(image->get(), config_.ram_bytes);
  if (!extents.ok()) return extents.status();
  // One scan for both: exact, it tells the local clones' shared page source which pages are holes (a hole must
  // never be read through its mapping); coarsened, it goes into the descriptor.
  std::vector<bool> has_data(config_.ram_bytes / SF_PAGE_SIZE, false);
  for (const PageExtent& e : extents.value()) {
    for (uint64_t p = e.first; p < e.first + e.count && p < has_data.size(); ++p) has_data[p] = true;
  }
  desc->data_extents = coarsen_extents(std::move(extents).value(), kDescriptorMaxExtents);
  timing.pause_ns = before == VmState::running ? t4 - t0 : 0;
  timing.capture_ns = t2 - t1;
  timing.freeze_ns = t3 - t2;
  Snapshot snapshot(serialize(desc.value()), std::move(image).value(), config_.ram_bytes, timing);
  snapshot.set_disk(std::move(disk).value());
  // One page source for all local clones, not one (and a scan of the snapshot) per clone. A failure only loses
  // the sharing: each clone then makes its own.
  if (auto source =
          memory::SnapshotFdSource::create_with_extents(snapshot.memfd(), config_.ram_bytes, std::move(has_data));
      source.ok()) {
    snapshot.set_page_source(std::move(source).value());
  }
  return snapshot;
}

Result<memory::MemtapStats> Vm::Impl::memtap_stats() const {
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

Status Vm::Impl::init_shell(bool memtap_ready) {
  if (Status s = install_kick_handler(); !s.ok()) return s;
  if (Status s = init_parts(); !s.ok()) return s;
  auto mem = memory::GuestMemory::create_unfilled(config_.ram_bytes);
  if (!mem.ok()) return mem.status();
  mem_ = std::move(mem).value();
  // The userfaultfd registration and the memtap thread cost ~0.3 ms: paid here, ahead of the fork.
  if (memtap_ready) {
    if (Status s = mem_->prepare_lazy(); !s.ok()) return s;
  }
  if (Status s = init_kvm(); !s.ok()) return s;
  shell_ = true;
  return Status::Ok();
}

Status Vm::Impl::prestart_vcpus() {
  for (auto& v : vcpus_) {
    if (Status s = v->prestart(*this); !s.ok()) return s;
  }
  return Status::Ok();
}

// A shell's claim on a clone of `d`: it must be unused and of the descriptor's shape. One attempt only.
Status Vm::Impl::take_shell(const Descriptor& d, uint32_t vmid, const CloneOptions& options) {
  if (!shell_ || destroyed_) return Status::Error(EINVAL, "not an unused clone shell");
  const uint32_t privilege = config_.privilege == GuestPrivilege::user ? 1 : 0;
  auto vcpus = clone_vcpus(d, options);
  if (!vcpus.ok()) return vcpus.status();
  if (d.ram_bytes != config_.ram_bytes || vcpus.value() != config_.vcpus || d.privilege != privilege) {
    return Status::Error(EINVAL, "this clone shell was made for another shape of VM (RAM, vCPUs or privilege)");
  }
  if (!options.lazy) return Status::Error(EINVAL, "clone shells hold lazy memory only");
  shell_ = false;  // one attempt: a shell that failed half-way is not reused
  config_.vmid = vmid;
  config_.clusterid = d.clusterid;
  return Status::Ok();
}

Status Vm::Impl::attach(const Descriptor& d, const Snapshot& snapshot, uint32_t vmid, const CloneOptions& options) {
  std::lock_guard api(api_mu_);
  if (Status s = take_shell(d, vmid, options); !s.ok()) return s;
  if (Status s = mem_->attach_lazy(snapshot.memfd(), snapshot.page_source()); !s.ok()) return s;
  return finish_clone(d, options);
}

Status Vm::Impl::attach_remote(const Descriptor& d, std::shared_ptr<memory::PageSource> source, uint32_t vmid,
                               const CloneOptions& options) {
  std::lock_guard api(api_mu_);
  if (mem_ && mem_->memtap() != nullptr) {
    return Status::Error(EINVAL, "this clone shell was made for forks on this host, not for a remote one");
  }
  if (Status s = take_shell(d, vmid, options); !s.ok()) return s;
  if (Status s = mem_->attach_source(std::move(source), remote_memtap_options()); !s.ok()) return s;
  return finish_clone(d, options);
}

memory::MemtapOptions Vm::Impl::remote_memtap_options() {
  memory::MemtapOptions tap;
  // The source gave up on a page a vCPU waits for (memserver gone, timeout): the clone cannot continue.
  // This runs on the source's thread; end_run only records the end and kicks the vCPUs.
  tap.on_failure = [this](const Status& why) {
    end_run(VmState::crashed, 0, "guest memory unavailable: " + why.message);
  };
  return tap;
}

Status Vm::Impl::init_remote(const Descriptor& d, std::shared_ptr<memory::PageSource> source,
                             const CloneOptions& options) {
  if (Status s = init_shell(/*memtap_ready=*/false); !s.ok()) return s;
  shell_ = false;
  if (Status s = mem_->attach_source(std::move(source), remote_memtap_options()); !s.ok()) return s;
  return finish_clone(d, options);
}

Status Vm::Impl::init_from(const Descriptor& d, const Snapshot& snapshot, const CloneOptions& options) {
  const int memfd = snapshot.memfd();
  if (options.lazy) {
    if (Status s = init_shell(/*memtap_ready=*/false); !s.ok()) return s;
    shell_ = false;
    if (Status s = mem_->attach_lazy(memfd, snapshot.page_source()); !s.ok()) return s;
    return finish_clone(d, options);
  }
  if (Status s = install_kick_handler(); !s.ok()) return s;
  if (Status s = init_parts(); !s.ok()) return s;
  auto mem = memory::GuestMemory::create_private(d.ram_bytes, memfd);
  if (!mem.ok()) return mem.status();
  mem_ = std::move(mem).value();
  if (Status s = init_kvm(); !s.ok()) return s;
  return finish_clone(d, options);
}

Status Vm::Impl::finish_clone(const Descriptor& d, const CloneOptions& options) {
  serial_->set_registers(d.serial);
  if (Status s = restore_devices(d, options); !s.ok()) return s;
  // With lazy RAM, the pages we are about to write (bootinfo, pending call blocks) are fetched first
  // through the memtap's own path: a source that cannot deliver them fails the clone here with its
  // reason, instead of leaving this thread in a page fault nobody will ever serve.
  if (mem_->memtap() != nullptr) {
    auto need = [&](uint64_t gpa, uint64_t len) -> Status {
      const uint64_t first = gpa / SF_PAGE_SIZE * SF_PAGE_SIZE;
      const uint64_t pages = (gpa + len - first + SF_PAGE_SIZE - 1) / SF_PAGE_SIZE;
      if (!mem_->contains(first, pages * SF_PAGE_SIZE)) return Status::Ok();  // the checks below say why
      if (Status s = prefetch(first, pages); !s.ok())
        return Status::Error(s.code, "guest memory unavailable: " + s.message);
      return Status::Ok();
    };
    for (uint32_t i = 0; i < config_.vcpus; ++i) {
      if (Status s = need(bootinfo_gpa(i), sizeof(sf_bootinfo)); !s.ok()) return s;
      if (d.vcpu[i].pending_call_nr != 0) {
        if (Status s = need(d.vcpu[i].pending_call_block, sizeof(sf_hc_block)); !s.ok()) return s;
      }
    }
    prefetch_first_touched(d);
  }
  std::vector<bool> started(config_.vcpus, false);
  for (uint32_t i = 0; i < config_.vcpus; ++i) {
    // The clone's identity and size: the guest reads its vmid and vCPU count from its bootinfo (a copy-on-write
    // page of its own), a vCPU it starts later included.
    auto bi = mem_->read<sf_bootinfo>(bootinfo_gpa(i));
    if (bi && bi->magic == SF_BOOTINFO_MAGIC) {
      bi->vmid = config_.vmid;
      bi->vcpus = config_.vcpus;
      mem_->write(bootinfo_gpa(i), *bi);
    }
    const VcpuDescriptor& v = d.vcpu[i];
    if (!v.started) continue;
    started[i] = true;
    if (Status s = restore_vcpu(vcpus_[i]->fd(), v); !s.ok()) {
      return Status::Error(s.code, "restoring vCPU " + std::to_string(i) + ": " + s.message);
    }
    if (v.pending_call_nr != 0) {
      if (Status s = answer_forked_call(*vcpus_[i], v, options); !s.ok()) return s;
    }
  }
  image_loaded_ = true;
  if (Status s = ticker_.start(
          kTickPeriod, [this] { serial_->flush(); }, "sf-vm-ticker", owner_tag());
      !s.ok()) {
    return s;
  }
  if (options.run_at_once) {
    for (uint32_t i = 0; i < config_.vcpus; ++i) {
      if (started[i] && control_->claim_start(i) != 0)
        return Status::Error(EINVAL, "the clone stopped while it was made");
    }
    if (Status s = control_->begin_running(); !s.ok()) return s;
  } else if (Status s = control_->begin_paused(started); !s.ok()) {
    return s;
  }
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
  if (options.run_at_once) {
    deliver_events();
    return Status::Ok();
  }
  Status s = control_->wait_quiescent();
  deliver_events();
  return s;
}

void Vm::Impl::prefetch_first_touched(const Descriptor& d) {
  // Copied here in one pass, these pages cost a fraction of the faults the vCPU would otherwise take one
  // after the other (fault, memtap wake-up, copy, wake) before its first instruction completes. Best effort:
  // a page that cannot be had now is left to the fault path, which reports a source that is gone.
  const TableEntryReader read_entry = [this](uint64_t gpa) -> std::optional<uint64_t> {
    if (gpa % sizeof(uint64_t) != 0 || !mem_->contains(gpa, sizeof(uint64_t))) return std::nullopt;
    if (!prefetch(gpa / SF_PAGE_SIZE * SF_PAGE_SIZE, 1).ok()) return std::nullopt;
    return mem_->read<uint64_t>(gpa);
  };
  for (uint32_t i = 0; i < config_.vcpus; ++i) {
    for (uint64_t page : first_touched_pages(d.vcpu[i], read_entry)) {
      if (mem_->contains(page, SF_PAGE_SIZE)) (void)prefetch(page, 1);
    }
  }
}

Status Vm::Impl::answer_forked_call(Vcpu& vcpu, const VcpuDescriptor& v, const CloneOptions& options) {
  // The descriptor is untrusted input: the block must lie in RAM like any guest pointer.
  if (!mem_->contains(v.pending_call_block, sizeof(sf_hc_block))) {
    return Status::Error(EINVAL,
                         "malformed descriptor: vCPU " + std::to_string(v.id) + "'s pending call block is outside RAM");
  }
  sf_hc_reply reply{};
  if (v.pending_call_nr == SF_HC_CLONE_MASTER && options.clone_reply) {
    reply = *options.clone_reply;
  } else {
    reply.status = -static_cast<int>(SF_EUNAVAIL);
    std::snprintf(reply.errmsg, sizeof reply.errmsg,
                  "this VM is a clone made while the call was in progress: retry it");
  }
  // Registers were captured after the doorbell completed: only rax (the status) and the block change.
  if (!write_guest_call_reply(*mem_, v.pending_call_block, reply)) {
    return Status::Error(EFAULT, "cannot write the clone's sf_clone answer into its memory");
  }
  return write_hypercall_result(vcpu.fd(), reply.status);
}

Result<std::unique_ptr<Vm>> Vm::create_from_snapshot(const Snapshot& snapshot, uint32_t vmid, VmCallbacks callbacks,
                                                     const CloneOptions& options) {
  auto d = parse_snapshot(snapshot);
  if (!d.ok()) return d.status();
  auto vcpus = clone_vcpus(d.value(), options);
  if (!vcpus.ok()) return vcpus.status();
  auto impl = std::make_unique<Impl>(clone_config(d.value(), vmid, vcpus.value()), std::move(callbacks));
  impl->set_clone_disk(snapshot.disk());
  if (Status s = impl->init_from(d.value(), snapshot, options); !s.ok()) {
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
  // nothing runs yet: on failure ~Impl releases it all
  if (Status s = impl->init_shell(/*memtap_ready=*/!shape.remote); !s.ok()) return s;
  // Its vCPU threads wait, parked, for the fork: a thread's creation (~0.1 ms) is off the clone's path.
  if (Status s = impl->prestart_vcpus(); !s.ok()) {
    if (impl->assembled()) impl->destroy();  // sends the threads already parked away
    return s;
  }
  return std::unique_ptr<Vm>(new Vm(std::move(impl)));
}

Status Vm::become_clone(const Snapshot& snapshot, uint32_t vmid, const CloneOptions& options) {
  auto d = parse_snapshot(snapshot);
  if (!d.ok()) return d.status();
  if (!impl_->is_shell()) return Status::Error(EINVAL, "not an unused clone shell");
  impl_->set_clone_disk(snapshot.disk());
  Status s = impl_->attach(d.value(), snapshot, vmid, options);
  if (!s.ok() && impl_->assembled()) impl_->destroy();  // joins vCPU threads that may already be parked
  return s;
}

Status Vm::become_remote_clone(std::span<const uint8_t> descriptor, uint32_t vmid, const CloneOptions& options,
                               std::shared_ptr<memory::PageSource> source, std::shared_ptr<devices::RemoteDisk> disk) {
  if (!source) return Status::Error(EINVAL, "no page source");
  auto d = parse_clone_descriptor(descriptor);
  if (!d.ok()) return d.status();
  if (source->bytes() < d->ram_bytes)
    return Status::Error(EINVAL, "the page source is smaller than the descriptor's RAM");
  if (!impl_->is_shell()) return Status::Error(EINVAL, "not an unused clone shell");
  if (disk) impl_->set_remote_disk(std::move(disk));
  Status s = impl_->attach_remote(d.value(), std::move(source), vmid, options);
  if (!s.ok() && impl_->assembled()) impl_->destroy();  // joins vCPU threads that may already be parked
  return s;
}

void Vm::Impl::set_remote_disk(std::shared_ptr<devices::RemoteDisk> disk) {
  clone_disk_ = disk;
  remote_disk_ = std::move(disk);
}

Result<std::unique_ptr<Vm>> Vm::create_from_descriptor(std::span<const uint8_t> descriptor, uint32_t vmid,
                                                       VmCallbacks callbacks, const CloneOptions& options,
                                                       std::shared_ptr<memory::PageSource> source,
                                                       std::shared_ptr<devices::RemoteDisk> disk) {
  if (!source) return Status::Error(EINVAL, "no page source");
  auto d = parse_clone_descriptor(descriptor);
  if (!d.ok()) return d.status();
  if (source->bytes() < d->ram_bytes)
    return Status::Error(EINVAL, "the page source is smaller than the descriptor's RAM");
  auto vcpus = clone_vcpus(d.value(), options);
  if (!vcpus.ok()) return vcpus.status();
  auto impl = std::make_unique<Impl>(clone_config(d.value(), vmid, vcpus.value()), std::move(callbacks));
  if (disk) impl->set_remote_disk(std::move(disk));
  if (Status s = impl->init_remote(d.value(), std::move(source), options); !s.ok()) {
    if (impl->assembled()) impl->destroy();
    return s;
  }
  return std::unique_ptr<Vm>(new Vm(std::move(impl)));
}

Result<Snapshot> Vm::fork_snapshot() { return impl_->fork(); }
Result<memory::MemtapStats> Vm::memtap_stats() const { return impl_->memtap_stats(); }
Status Vm::prefetch(uint64_t gpa, uint64_t npages) { return impl_->prefetch(gpa, npages); }
Status Vm::hint_fresh(uint64_t gpa, uint64_t npages) { return impl_->hint_fresh(gpa, npages); }
Status Vm::set_memtap_stall_for_test(bool stalled) { return impl_->set_stall(stalled); }
Result<std::vector<uint8_t>> Vm::capture_descriptor() { return impl_->capture(); }

}  // namespace sf::vmm
