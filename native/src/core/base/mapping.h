// Mapping: sole owner of one mmap()ed range; unmaps it when destroyed.
// Boundary: ownership only. Guest RAM and every vCPU's kvm_run page live in one of these, so no error
// path or teardown order can leak a mapping.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace sf {

class Mapping {
 public:
  Mapping() noexcept = default;
  Mapping(void* addr, size_t size) noexcept : addr_(addr), size_(size) {}
  ~Mapping() { reset(); }

  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  Mapping(Mapping&& other) noexcept
      : addr_(std::exchange(other.addr_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  Mapping& operator=(Mapping&& other) noexcept {
    if (this != &other) {
      reset();
      addr_ = std::exchange(other.addr_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }

  void* get() const noexcept { return addr_; }
  uint8_t* bytes() const noexcept { return static_cast<uint8_t*>(addr_); }
  size_t size() const noexcept { return size_; }
  bool valid() const noexcept { return addr_ != nullptr; }

  void reset() noexcept {
    if (addr_ != nullptr) ::munmap(addr_, size_);
    addr_ = nullptr;
    size_ = 0;
  }

 private:
  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace sf
