// Positioned I/O helpers of the file-backed disk layers and the range check every layer applies.
// Boundary: see blk_backend.h.
#include "blk_backend.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace sf::devices {

namespace {
// Linux moves at most this much per read/write call (MAX_RW_COUNT); asking for less keeps the loop's
// arithmetic obvious.
constexpr size_t kMaxIo = 1u << 30;
}  // namespace

Status pread_full(int fd, std::span<uint8_t> out, uint64_t offset, const char* what) {
  size_t done = 0;
  while (done < out.size()) {
    const size_t want = std::min(out.size() - done, kMaxIo);
    const ssize_t n = ::pread(fd, out.data() + done, want, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(std::string("reading ") + what, errno);
    }
    if (n == 0) {
      return Status::Error(EIO, std::string(what) + " ended at byte " + std::to_string(offset + done) +
                                    ", inside the disk: the file was truncated while in use");
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status pwrite_full(int fd, std::span<const uint8_t> in, uint64_t offset, const char* what) {
  size_t done = 0;
  while (done < in.size()) {
    const size_t want = std::min(in.size() - done, kMaxIo);
    const ssize_t n = ::pwrite(fd, in.data() + done, want, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(std::string("writing ") + what, errno);
    }
    // pwrite returning 0 for a non-zero count only happens on a full device without an error code.
    if (n == 0) return Status::Error(ENOSPC, std::string("writing ") + what + ": no space left");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status check_range(uint64_t offset, uint64_t len, uint64_t size) {
  if (offset > size || len > size - offset) {
    return Status::Error(EINVAL, "disk range [" + std::to_string(offset) + ", +" + std::to_string(len) +
                                     ") lies past the disk's end (" + std::to_string(size) + " bytes)");
  }
  return Status::Ok();
}

}  // namespace sf::devices
