// TapBackend: attach to an existing tap and move frames through its fd (see tap_backend.h).
// Boundary: the tun/tap ioctls and read/write; no frame is looked at here.
#include "tap_backend.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>

namespace sf::devices {

Result<std::unique_ptr<TapBackend>> TapBackend::open(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return Status::Error(EINVAL, "tap name \"" + name + "\" must be 1 to " + std::to_string(IFNAMSIZ - 1) + " bytes");
  }
  // TUNSETIFF on a name that does not exist creates a transient tap; the contract is that sfld made it.
  if (::if_nametoindex(name.c_str()) == 0) {
    return Status::Error(EINVAL, "tap " + name + " does not exist: sfld creates it (ip tuntap add dev " + name +
                                     " mode tap) before the VM starts");
  }
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return Status::FromErrno("open /dev/net/tun (for tap " + name + ")", errno);
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) {
    const int err = errno;
    std::string why = "attach to tap " + name;
    if (err == EINVAL) why += " (is it a tap? tun devices and other interfaces cannot be attached)";
    if (err == EBUSY) why += " (another process has it open: one VM per tap)";
    return Status::FromErrno(why, err);
  }
  return std::unique_ptr<TapBackend>(new TapBackend(std::move(fd), name));
}

Result<size_t> TapBackend::receive(std::span<uint8_t> out) {
  for (;;) {
    const ssize_t n = ::read(fd_.get(), out.data(), out.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return size_t{0};
    return Status::FromErrno("read tap " + name_, errno);
  }
}

Status TapBackend::send(std::span<const uint8_t> frame) {
  for (;;) {
    const ssize_t n = ::write(fd_.get(), frame.data(), frame.size());
    if (n >= 0) return Status::Ok();
    if (errno == EINTR) continue;
    return Status::FromErrno("write tap " + name_, errno);
  }
}

}  // namespace sf::devices
