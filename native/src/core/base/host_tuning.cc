// Host tuning: the shmem transparent-huge-page mode in sysfs. See host_tuning.h.
// Boundary: one file read, one file write; errors are reported as strings, never thrown.
#include "host_tuning.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sf {
namespace {

constexpr const char* kKnob = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";

// The file lists every mode and brackets the active one: "always within_size [advise] never deny force".
std::string active_mode(const std::string& text) {
  const size_t open = text.find('[');
  const size_t close = text.find(']', open);
  if (open == std::string::npos || close == std::string::npos) return "";
  return text.substr(open + 1, close - open - 1);
}

bool usable(const std::string& mode) {
  return mode == "advise" || mode == "within_size" || mode == "always" || mode == "force";
}

}  // namespace

ShmemHugePages probe_shmem_huge_pages() {
  ShmemHugePages out;
  const int fd = ::open(kKnob, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    out.error = std::string(kKnob) + ": " + std::strerror(errno);
    return out;
  }
  char buf[256] = {};
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) {
    out.error = std::string("read ") + kKnob + ": " + (n < 0 ? std::strerror(errno) : "empty");
    return out;
  }
  out.mode = active_mode(std::string(buf, static_cast<size_t>(n)));
  out.usable = usable(out.mode);
  return out;
}

ShmemHugePages allow_shmem_huge_pages() {
  ShmemHugePages now = probe_shmem_huge_pages();
  if (now.usable || !now.error.empty() || (now.mode != "never" && now.mode != "deny")) return now;
  const int fd = ::open(kKnob, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ::write(fd, "advise", 6) != 6) {
    now.error = std::string("cannot set ") + kKnob + " to advise (" + std::strerror(errno) +
                "): forks of large VMs will pause longer; run sfld as root or set it yourself";
    if (fd >= 0) ::close(fd);
    return now;
  }
  ::close(fd);
  ShmemHugePages after = probe_shmem_huge_pages();
  after.changed = after.usable;
  return after;
}

}  // namespace sf
