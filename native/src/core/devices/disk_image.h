// DiskImage: the read-only base layer of a VM's disk, a raw image file (the seed's disk_image) read with
// pread and never written: every VM's writes go to overlays above it (cow_overlay.h).
// Boundary: one file opened O_RDONLY; what the guest sees of it is VirtioBlk's business.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "../base/status.h"
#include "../base/unique_fd.h"
#include "blk_backend.h"

namespace sf::devices {

class DiskImage final : public BlockLayer {
 public:
  // Opens `path` read-only. Refused, with the reason: a missing or unreadable file, not a regular file,
  // empty, a size that is not a multiple of 512 bytes (a disk holds whole sectors; pad the image), or
  // over kMaxDiskBytes.
  static Result<std::shared_ptr<DiskImage>> open(const std::string& path);

  uint64_t size() const override { return size_; }
  Status read(uint64_t offset, std::span<uint8_t> out) override;
  bool block_present(uint64_t block) const override { return block < (size_ + kDiskBlockBytes - 1) / kDiskBlockBytes; }
  const std::string& path() const { return path_; }

 private:
  DiskImage(std::string path, UniqueFd fd, uint64_t size) : path_(std::move(path)), fd_(std::move(fd)), size_(size) {}

  const std::string path_;
  const UniqueFd fd_;
  const uint64_t size_;
};

}  // namespace sf::devices
