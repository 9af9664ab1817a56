// Test-only datagram loss for mcdist (issue 5: "5 % random packet loss injected by a test-only
// knob"): decides per datagram whether to act as if the network had lost it.
// Boundary: a seeded PRNG and a fraction; one thread at a time; production configs leave it at 0.
#pragma once

#include <cstdint>

namespace sf::memserver {

class LossKnob {
 public:
  // `fraction` in [0, 1] (clamped); 0 never drops and draws no random numbers.
  explicit LossKnob(double fraction = 0.0, uint64_t seed = 0x5eed5eed5eed5eedull)
      : threshold_(to_threshold(fraction)), state_(seed != 0 ? seed : 1) {}

  bool enabled() const { return threshold_ != 0; }
  // True for about `fraction` of the calls.
  bool drop() {
    if (threshold_ == 0) return false;
    // xorshift64*: plenty for picking victims, and reproducible from the seed.
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return (state_ * 0x2545f4914f6cdd1dull) < threshold_;
  }

 private:
  static uint64_t to_threshold(double f) {
    if (!(f > 0.0)) return 0;
    if (f >= 1.0) return UINT64_MAX;
    return static_cast<uint64_t>(f * 18446744073709551616.0);
  }
  uint64_t threshold_;
  uint64_t state_;
};

}  // namespace sf::memserver
