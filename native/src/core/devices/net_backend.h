// NetBackend: where a virtio-net device's frames go and come from (a tap today). Boundary: an interface
// of non-blocking frame I/O plus a pollable fd; the NIC thread decides when to call it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "../base/status.h"

namespace sf::devices {

class NetBackend {
 public:
  virtual ~NetBackend() = default;
  // Readable (POLLIN) when a frame waits.
  virtual int fd() const = 0;
  // One Ethernet frame into `out` (no virtio header): its length, 0 when none waits, or an error.
  // A frame longer than `out` is cut (the caller sizes `out` for the largest frame it accepts).
  virtual Result<size_t> receive(std::span<uint8_t> out) = 0;
  // One Ethernet frame. EAGAIN when the backend cannot take it now (the caller drops it).
  virtual Status send(std::span<const uint8_t> frame) = 0;
};

}  // namespace sf::devices
