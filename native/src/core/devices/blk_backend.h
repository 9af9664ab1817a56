// BlockLayer: one layer of a VM's disk (a read-only base image, a copy-on-write overlay, later blocks
// fetched from another host's memserver), and the positioned I/O helpers the file-backed layers share.
// Boundary: the interface between virtio-blk and whatever holds the bytes; no virtio, no guest memory.
#pragma once

#include <cstdint>
#include <span>

#include "../base/status.h"

namespace sf::devices {

// The guest addresses a disk in 512-byte sectors (virtio-blk's unit whatever blk_size says).
inline constexpr uint64_t kSectorBytes = 512;
// Overlays track presence and copy up at this granularity: the page size, so a disk block and a memory
// page travel the same way through the memserver later (DESIGN §4.7).
inline constexpr uint64_t kDiskBlockBytes = 4096;
// The largest disk accepted (1 TiB): far beyond any seed's image. An overlay's presence bitmap costs
// one bit per block: 32 MiB per VM at this size, 32 KiB for a 1 GiB disk.
inline constexpr uint64_t kMaxDiskBytes = 1ull << 40;

// A stack of layers is one disk: each layer answers for the blocks it holds and asks the layer below
// for the rest. Layers are shared (std::shared_ptr) because after a fork one frozen layer sits under
// the master's new overlay and under every local clone's, and a memserver may read it too.
//
// Threads: read() and the const calls may run on several threads at once (the device threads of the
// VMs sharing a frozen layer). write()/flush()/freeze() of one layer come from one writer at a time (the
// device thread of the one VM whose top layer it is). A read racing a write of the same bytes may see
// old, new or mixed bytes, as on a real disk: a guest orders its own requests.
class BlockLayer {
 public:
  virtual ~BlockLayer() = default;

  // Bytes, a multiple of kSectorBytes; fixed for the layer's life.
  virtual uint64_t size() const = 0;
  // Fills `out` with [offset, offset + out.size()). The whole range must lie inside size() (EINVAL
  // otherwise); a failure (EIO, a remote layer's ETIMEDOUT) means no byte of `out` can be trusted.
  virtual Status read(uint64_t offset, std::span<uint8_t> out) = 0;
  // Stores `in` at offset. Read-only layers say EROFS.
  virtual Status write(uint64_t offset, std::span<const uint8_t> in) {
    (void)offset, (void)in;
    return Status::Error(EROFS, "this disk layer is read-only");
  }
  // What was written so far reaches the layer's storage. A read-only layer has nothing to flush.
  virtual Status flush() { return Status::Ok(); }
  // Whether write() may succeed (false for a base image and for a frozen overlay).
  virtual bool writable() const { return false; }
  // Fork: the layer stops taking writes for good (reads go on) so it can be the disk snapshot under
  // new overlays. Idempotent; a read-only layer is frozen already.
  virtual void freeze() {}
  // Whether this layer itself holds 4 KiB block `block` (a base image: every block; an overlay: those
  // written or copied up; a remote layer: those fetched so far), so a reader can tell what a read costs
  // without reading. Past the end: false.
  virtual bool block_present(uint64_t block) const = 0;
};

// pread/pwrite until every byte moved (EINTR and short transfers retried). A read that meets the end
// of the file early is EIO: the file shrank under us. `what` names the file in the message.
Status pread_full(int fd, std::span<uint8_t> out, uint64_t offset, const char* what);
Status pwrite_full(int fd, std::span<const uint8_t> in, uint64_t offset, const char* what);

// EINVAL unless [offset, offset + len) lies inside [0, size) (overflow-safe).
Status check_range(uint64_t offset, uint64_t len, uint64_t size);

}  // namespace sf::devices
