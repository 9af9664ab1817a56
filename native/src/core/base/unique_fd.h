// UniqueFd: sole owner of one file descriptor; closes it when destroyed.
// Boundary: ownership only, no I/O helpers. Every fd the core opens lives in one of these,
// so early returns on error paths can never leak a descriptor.
#pragma once

#include <unistd.h>

#include <utility>

namespace sf {

class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  ~UniqueFd() { reset(); }

  // Move-only: two owners of one fd would close it twice (and maybe someone else's reuse of it).
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  // Hands the fd to the caller, who now must close it.
  int release() noexcept { return std::exchange(fd_, -1); }

  // Closes the current fd (if any) and adopts `fd`. close() errors are ignored on purpose:
  // on Linux the fd is gone even when close() reports EINTR/EIO, so retrying would be wrong.
  void reset(int fd = -1) noexcept {
    const int old = std::exchange(fd_, fd);
    if (old >= 0) ::close(old);
  }

 private:
  int fd_ = -1;
};

}  // namespace sf
