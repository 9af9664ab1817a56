// SipHash-2-4 from the paper's description (§2): initialisation, compression, finalisation.
// Boundary: pure computation over caller memory; reads nothing past `len`.
#include "siphash.h"

#include <cstring>

namespace sf::memserver {

namespace {

inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

// Bytes are read one at a time so the result does not depend on host byte order or alignment.
inline uint64_t load_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct State {
  uint64_t v0, v1, v2, v3;
  inline void round() {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  }
  inline void compress(uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

}  // namespace

uint64_t siphash24(const SipKey& key, const void* data, size_t len) {
  const uint64_t k0 = load_le64(key.data());
  const uint64_t k1 = load_le64(key.data() + 8);
  // The constants spell "somepseudorandomlygeneratedbytes".
  State s{k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull, k0 ^ 0x6c7967656e657261ull,
          k1 ^ 0x7465646279746573ull};
  const auto* in = static_cast<const uint8_t*>(data);
  const size_t whole = len & ~size_t{7};
  for (size_t i = 0; i < whole; i += 8) {
    uint64_t m;
    std::memcpy(&m, in + i, 8);  // unaligned-safe; the compiler turns this into one load
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    m = load_le64(in + i);
#endif
    s.compress(m);
  }
  // Last word: the remaining 0..7 bytes, zero-padded, with the message length (mod 256) in the top byte.
  uint64_t b = static_cast<uint64_t>(len & 0xff) << 56;
  for (size_t i = 0; i < (len & 7); ++i) b |= static_cast<uint64_t>(in[whole + i]) << (8 * i);
  s.compress(b);
  s.v2 ^= 0xff;
  s.round();
  s.round();
  s.round();
  s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

}  // namespace sf::memserver
