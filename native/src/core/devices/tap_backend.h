// TapBackend: a NetBackend over an existing tap interface (sfld makes and deletes taps; the VMM only
// attaches: TUNSETIFF with IFF_TAP | IFF_NO_PI, no vnet header, no offloads). Boundary: the tap fd only.
#pragma once

#include <memory>
#include <string>

#include "../base/unique_fd.h"
#include "net_backend.h"

namespace sf::devices {

class TapBackend final : public NetBackend {
 public:
  // EINVAL "tap NAME does not exist: sfld creates it" when there is no such interface (TUNSETIFF would
  // otherwise create a transient one); other failures keep their errno (EBUSY: another process holds it,
  // EPERM: no CAP_NET_ADMIN for a tap owned by someone else).
  static Result<std::unique_ptr<TapBackend>> open(const std::string& name);

  int fd() const override { return fd_.get(); }
  Result<size_t> receive(std::span<uint8_t> out) override;
  Status send(std::span<const uint8_t> frame) override;
  const std::string& name() const { return name_; }

 private:
  TapBackend(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}
  UniqueFd fd_;
  std::string name_;
};

}  // namespace sf::devices
