// DiskImage: opening and checking a raw base image, and reading it.
// Boundary: see disk_image.h.
#include "disk_image.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <utility>

namespace sf::devices {

Result<std::shared_ptr<DiskImage>> DiskImage::open(const std::string& path) {
  // O_NOFOLLOW is not used: a seed may well name its image through a symlink. O_NONBLOCK keeps a FIFO
  // named by mistake from hanging the open; the type check below refuses it.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return Status::FromErrno("disk image " + path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno("disk image " + path + ": fstat", errno);
  if (!S_ISREG(st.st_mode)) {
    return Status::Error(EINVAL, "disk image " + path + " is not a regular file (give a raw image file, e.g. " +
                                     "one made with tar cf or truncate)");
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size == 0) return Status::Error(EINVAL, "disk image " + path + " is empty: a disk needs at least one sector");
  if (size % kSectorBytes != 0) {
    return Status::Error(EINVAL, "disk image " + path + " is " + std::to_string(size) +
                                     " bytes, not a multiple of 512 (a disk holds whole sectors): pad it, e.g. " +
                                     "truncate -s %512 " + path);
  }
  if (size > kMaxDiskBytes) {
    return Status::Error(EFBIG, "disk image " + path + " is " + std::to_string(size) + " bytes, over the limit of " +
                                    std::to_string(kMaxDiskBytes) + " (1 TiB)");
  }
  // Reads are blocking from here on (a regular file ignores O_NONBLOCK anyway; clear it to say so).
  ::fcntl(fd.get(), F_SETFL, 0);
  return std::shared_ptr<DiskImage>(new DiskImage(path, std::move(fd), size));
}

Status DiskImage::read(uint64_t offset, std::span<uint8_t> out) {
  if (Status s = check_range(offset, out.size(), size_); !s.ok()) return s;
  return pread_full(fd_.get(), out, offset, path_.c_str());
}

}  // namespace sf::devices
