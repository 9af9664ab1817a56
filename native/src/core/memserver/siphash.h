// SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012): the keyed MAC that
// authenticates every page-server datagram with the snapshot's 128-bit key (DESIGN §8).
// Boundary: the PRF only, written from the paper; no key management, no wire format.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace sf::memserver {

// The 128-bit key as 16 bytes; k0 is bytes 0..7 and k1 bytes 8..15, each little-endian (paper §2).
using SipKey = std::array<uint8_t, 16>;

// SipHash-2-4 of `len` bytes at `data`: 2 compression rounds per 8-byte word, 4 finalisation rounds.
uint64_t siphash24(const SipKey& key, const void* data, size_t len);

}  // namespace sf::memserver
