// The page-server wire format: SipHash-2-4 against the published reference vectors, encode/decode
// round trips, and decoders that reject every truncation, extension, bit flip, foreign snapshot,
// wrong key and inconsistent field with the right reason.
// Boundary: tests of memserver/siphash.h, memserver/page_wire.h and memserver/udp.h (parsing only).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "memserver/page_wire.h"
#include "memserver/siphash.h"
#include "memserver/udp.h"

namespace sf::memserver::test {
namespace {

SipKey seq_key() {
  SipKey k;
  for (int i = 0; i < 16; ++i) k[i] = static_cast<uint8_t>(i);
  return k;
}

// SipHash-2-4 with key 00 01 .. 0f over messages 00 01 .. (len − 1), len = 0..63: the reference
// implementation's vectors.h (vectors_sip64), read as little-endian 64-bit values.
constexpr uint64_t kSipVectors[64] = {
    0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a, 0x85676696d7fb7e2d, 0xcf2794e0277187b7,
    0x18765564cd99a68d, 0xcbc9466e58fee3ce, 0xab0200f58b01d137, 0x93f5f5799a932462, 0x9e0082df0ba9e4b0,
    0x7a5dbbc594ddb9f3, 0xf4b32f46226bada7, 0x751e8fbc860ee5fb, 0x14ea5627c0843d90, 0xf723ca908e7af2ee,
    0xa129ca6149be45e5, 0x3f2acc7f57c29bdb, 0x699ae9f52cbe4794, 0x4bc1b3f0968dd39c, 0xbb6dc91da77961bd,
    0xbed65cf21aa2ee98, 0xd0f2cbb02e3b67c7, 0x93536795e3a33e88, 0xa80c038ccd5ccec8, 0xb8ad50c6f649af94,
    0xbce192de8a85b8ea, 0x17d835b85bbb15f3, 0x2f2e6163076bcfad, 0xde4daaaca71dc9a5, 0xa6a2506687956571,
    0xad87a3535c49ef28, 0x32d892fad841c342, 0x7127512f72f27cce, 0xa7f32346f95978e3, 0x12e0b01abb051238,
    0x15e034d40fa197ae, 0x314dffbe0815a3b4, 0x027990f029623981, 0xcadcd4e59ef40c4d, 0x9abfd8766a33735c,
    0x0e3ea96b5304a7d0, 0xad0c42d6fc585992, 0x187306c89bc215a9, 0xd4a60abcf3792b95, 0xf935451de4f21df2,
    0xa9538f0419755787, 0xdb9acddff56ca510, 0xd06c98cd5c0975eb, 0xe612a3cb9ecba951, 0xc766e62cfcadaf96,
    0xee64435a9752fe72, 0xa192d576b245165a, 0x0a8787bf8ecb74b2, 0x81b3e73d20b49b6f, 0x7fa8220ba3b2ecea,
    0x245731c13ca42499, 0xb78dbfaf3a8d83bd, 0xea1ad565322a1a0b, 0x60e61c23a3795013, 0x6606d7e446282b93,
    0x6ca4ecb15c5f91e1, 0x9f626da15c9625f3, 0xe51b38608ef25f57, 0x958a324ceb064572,
};

TEST(SipHash, ReferenceVectors) {
  const SipKey key = seq_key();
  uint8_t msg[64];
  for (int i = 0; i < 64; ++i) msg[i] = static_cast<uint8_t>(i);
  for (size_t len = 0; len < 64; ++len) EXPECT_EQ(siphash24(key, msg, len), kSipVectors[len]) << "length " << len;
  // The paper's worked example (Appendix A): the 15-byte message 00..0e gives a129ca6149be45e5.
  EXPECT_EQ(siphash24(key, msg, 15), 0xa129ca6149be45e5ull);
  // Unaligned input gives the same answer.
  uint8_t shifted[65];
  std::memcpy(shifted + 1, msg, 64);
  EXPECT_EQ(siphash24(key, shifted + 1, 63), kSipVectors[63]);
}

constexpr uint64_t kSnap = 0x1122334455667788ull;

SnapshotKey test_key() {
  SnapshotKey k;
  for (int i = 0; i < 16; ++i) k[i] = static_cast<uint8_t>(0xa0 + i);
  return k;
}

std::vector<uint8_t> make_request(const PageRequest& r, const SnapshotKey& key = test_key()) {
  std::vector<uint8_t> b(kRequestBytes);
  EXPECT_EQ(encode_request(r, key, b), kRequestBytes);
  return b;
}

std::vector<uint8_t> make_fragment(const PageFragment& f, const SnapshotKey& key = test_key()) {
  std::vector<uint8_t> b(kFragmentOverhead + f.length);
  EXPECT_EQ(encode_fragment(f, key, b), b.size());
  return b;
}

// Recomputes the MAC after a test edits fields: an authentic sender with inconsistent fields.
void reseal(std::vector<uint8_t>& b, const SnapshotKey& key = test_key()) {
  const uint64_t mac = siphash24(key, b.data(), b.size() - kMacBytes);
  for (int i = 0; i < 8; ++i) b[b.size() - kMacBytes + i] = static_cast<uint8_t>(mac >> (8 * i));
}

PageRequest sample_request() {
  PageRequest r;
  r.snapshot_id = kSnap;
  r.first_page = 1234;
  r.npages = 17;
  r.client_id = 0xdeadbeef;
  r.seq = 42;
  return r;
}

std::vector<uint8_t> page_bytes() {
  std::vector<uint8_t> p(kWirePage);
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i * 31 + 7);
  return p;
}

PageFragment sample_fragment(const std::vector<uint8_t>& page) {
  PageFragment f;
  f.snapshot_id = kSnap;
  f.page = 99;
  f.client_id = 7;
  f.seq = 8;
  f.count = 1;
  f.offset = 1424;
  f.length = 1424;
  f.payload = {page.data() + 1424, 1424};
  return f;
}

TEST(PageWire, RequestRoundTrip) {
  const auto b = make_request(sample_request());
  PageRequest got;
  ASSERT_EQ(decode_request(b, kSnap, test_key(), &got), WireError::ok);
  EXPECT_EQ(got.snapshot_id, kSnap);
  EXPECT_EQ(got.first_page, 1234u);
  EXPECT_EQ(got.npages, 17u);
  EXPECT_EQ(got.client_id, 0xdeadbeefu);
  EXPECT_EQ(got.seq, 42u);
  // The encoder refuses what the decoder would refuse.
  PageRequest bad = sample_request();
  std::vector<uint8_t> out(kRequestBytes);
  bad.npages = 0;
  EXPECT_EQ(encode_request(bad, test_key(), out), 0u);
  bad.npages = kMaxRequestPages + 1;
  EXPECT_EQ(encode_request(bad, test_key(), out), 0u);
  bad = sample_request();
  bad.first_page = UINT64_MAX - 3;
  EXPECT_EQ(encode_request(bad, test_key(), out), 0u);
  EXPECT_EQ(encode_request(sample_request(), test_key(), {out.data(), kRequestBytes - 1}), 0u);
}

TEST(PageWire, FragmentRoundTrip) {
  const auto page = page_bytes();
  const auto b = make_fragment(sample_fragment(page));
  EXPECT_EQ(b.size(), kFragmentOverhead + 1424);
  PageFragment got;
  ASSERT_EQ(decode_fragment(b, kSnap, test_key(), &got), WireError::ok);
  EXPECT_FALSE(got.zero);
  EXPECT_EQ(got.page, 99u);
  EXPECT_EQ(got.client_id, 7u);
  EXPECT_EQ(got.seq, 8u);
  EXPECT_EQ(got.count, 1u);
  EXPECT_EQ(got.offset, 1424u);
  EXPECT_EQ(got.length, 1424u);
  ASSERT_EQ(got.payload.size(), 1424u);
  EXPECT_EQ(std::memcmp(got.payload.data(), page.data() + 1424, 1424), 0);

  PageFragment z;
  z.snapshot_id = kSnap;
  z.page = 4000;
  z.count = 300;
  z.zero = true;
  const auto zb = make_fragment(z);
  EXPECT_EQ(zb.size(), kFragmentOverhead);
  ASSERT_EQ(decode_fragment(zb, kSnap, test_key(), &got), WireError::ok);
  EXPECT_TRUE(got.zero);
  EXPECT_EQ(got.page, 4000u);
  EXPECT_EQ(got.count, 300u);
  EXPECT_TRUE(got.payload.empty());

  // A whole page in one datagram (large-MTU paths).
  PageFragment whole = sample_fragment(page);
  whole.offset = 0;
  whole.length = kWirePage;
  whole.payload = page;
  const auto wb = make_fragment(whole);
  ASSERT_EQ(decode_fragment(wb, kSnap, test_key(), &got), WireError::ok);
  EXPECT_EQ(std::memcmp(got.payload.data(), page.data(), kWirePage), 0);

  // Encoder refusals: unaligned, past the page, zero with payload, data with a run count.
  std::vector<uint8_t> out(kFragmentOverhead + kWirePage);
  PageFragment bad = sample_fragment(page);
  bad.offset = 4;
  EXPECT_EQ(encode_fragment(bad, test_key(), out), 0u);
  bad = sample_fragment(page);
  bad.offset = 4096 - 8;
  EXPECT_EQ(encode_fragment(bad, test_key(), out), 0u);
  bad = sample_fragment(page);
  bad.count = 2;
  EXPECT_EQ(encode_fragment(bad, test_key(), out), 0u);
  z.length = 8;
  EXPECT_EQ(encode_fragment(z, test_key(), out), 0u);
}

TEST(PageWire, FragmentPayloadFitsTheDatagram) {
  EXPECT_EQ(fragment_payload(1472), 1424u);  // Ethernet: a page in 3 fragments
  EXPECT_EQ(fragment_payload(kFragmentOverhead + kWirePage), kWirePage);
  EXPECT_EQ(fragment_payload(kMaxDatagram), kWirePage);
  EXPECT_EQ(fragment_payload(kFragmentOverhead), 0u);
  EXPECT_EQ(fragment_payload(kFragmentOverhead + 7), 0u);
  EXPECT_EQ(fragment_payload(kFragmentOverhead + 9), 8u);
}

TEST(PageWire, EveryTruncationExtensionAndBitFlipIsRejected) {
  const auto page = page_bytes();
  const std::vector<std::vector<uint8_t>> valid = {make_request(sample_request()),
                                                   make_fragment(sample_fragment(page))};
  for (size_t which = 0; which < valid.size(); ++which) {
    const auto& v = valid[which];
    auto decode = [&](std::span<const uint8_t> in) {
      PageRequest r;
      PageFragment f;
      return which == 0 ? decode_request(in, kSnap, test_key(), &r) : decode_fragment(in, kSnap, test_key(), &f);
    };
    ASSERT_EQ(decode(v), WireError::ok);
    for (size_t len = 0; len < v.size(); ++len) {
      ASSERT_EQ(decode({v.data(), len}), WireError::truncated) << which << " truncated to " << len;
    }
    std::vector<uint8_t> longer = v;
    longer.push_back(0);
    EXPECT_EQ(decode(longer), WireError::oversized);
    std::vector<uint8_t> huge(kMaxDatagram + 1, 0);
    std::memcpy(huge.data(), v.data(), v.size());
    EXPECT_EQ(decode(huge), WireError::oversized);
    for (size_t bit = 0; bit < v.size() * 8; ++bit) {
      std::vector<uint8_t> flipped = v;
      flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      ASSERT_NE(decode(flipped), WireError::ok) << which << " bit " << bit;
    }
  }
}

TEST(PageWire, EachRejectionHasItsReason) {
  PageRequest r;
  PageFragment f;
  const auto good = make_request(sample_request());
  auto edited = [&](size_t at, uint8_t v, bool seal) {
    auto b = good;
    b[at] = v;
    if (seal) reseal(b);
    return decode_request(b, kSnap, test_key(), &r);
  };
  EXPECT_EQ(edited(0, 'X', true), WireError::bad_magic);
  EXPECT_EQ(edited(4, 2, true), WireError::bad_version);  // a future version
  EXPECT_EQ(edited(5, 2, true), WireError::bad_type);     // a page reply sent to a server
  EXPECT_EQ(edited(5, 77, true), WireError::bad_type);
  EXPECT_EQ(edited(8, 0x89, true), WireError::foreign_snapshot);  // another (older) snapshot
  EXPECT_EQ(edited(16, 0x55, false), WireError::bad_mac);         // first_page changed in flight
  EXPECT_EQ(decode_request(make_request(sample_request()), kSnap + 1, test_key(), &r), WireError::foreign_snapshot);
  SnapshotKey other = test_key();
  other[15] ^= 1;
  EXPECT_EQ(decode_request(make_request(sample_request(), other), kSnap, test_key(), &r), WireError::bad_mac);
  // Authentic but inconsistent: zero pages, too many pages, reserved bits, flags.
  {
    auto b = good;
    std::memset(b.data() + 24, 0, 4);
    reseal(b);
    EXPECT_EQ(decode_request(b, kSnap, test_key(), &r), WireError::malformed);
    b[25] = 0x10;  // 4096 pages > kMaxRequestPages
    reseal(b);
    EXPECT_EQ(decode_request(b, kSnap, test_key(), &r), WireError::malformed);
  }
  EXPECT_EQ(edited(36, 1, true), WireError::malformed);  // reserved
  EXPECT_EQ(edited(6, 1, true), WireError::malformed);   // flags
  {
    auto b = good;
    std::memset(b.data() + 16, 0xff, 8);  // first_page + npages overflows
    reseal(b);
    EXPECT_EQ(decode_request(b, kSnap, test_key(), &r), WireError::malformed);
  }

  const auto page = page_bytes();
  const auto frag = make_fragment(sample_fragment(page));
  auto fedit = [&](size_t at, uint8_t v) {
    auto b = frag;
    b[at] = v;
    reseal(b);
    return decode_fragment(b, kSnap, test_key(), &f);
  };
  EXPECT_EQ(decode_fragment(good, kSnap, test_key(), &f), WireError::bad_type);  // a request at a client
  EXPECT_EQ(fedit(36, 0x91), WireError::malformed);                              // offset 0x591: not 8-aligned
  EXPECT_EQ(fedit(37, 0x0f), WireError::malformed);                              // offset 0xf90 + 1424 > 4096
  EXPECT_EQ(fedit(32, 2), WireError::malformed);                                 // data with a run count
  EXPECT_EQ(fedit(6, 1), WireError::malformed);                                  // zero flag with a payload
  EXPECT_EQ(fedit(6, 2), WireError::malformed);                                  // the disk flag, no disk
  EXPECT_EQ(fedit(6, 4), WireError::malformed);                                  // unknown flag
  {
    auto b = frag;
    b[38] = 0;  // length 1280 instead of 1424: the datagram is now longer than its fields say
    b[39] = 5;
    EXPECT_EQ(decode_fragment(b, kSnap, test_key(), &f), WireError::oversized);
    b[38] = 0xff;  // length 0x5ff: longer than the datagram
    EXPECT_EQ(decode_fragment(b, kSnap, test_key(), &f), WireError::truncated);
  }
  {
    PageFragment z;
    z.snapshot_id = kSnap;
    z.zero = true;
    z.page = 1;
    z.count = 1;
    auto b = make_fragment(z);
    std::memset(b.data() + 32, 0, 4);  // a run of zero pages
    reseal(b);
    EXPECT_EQ(decode_fragment(b, kSnap, test_key(), &f), WireError::malformed);
    b = make_fragment(z);
    b[36] = 8;  // offset on a zero run
    reseal(b);
    EXPECT_EQ(decode_fragment(b, kSnap, test_key(), &f), WireError::malformed);
  }
  EXPECT_STREQ(wire_error_name(WireError::bad_mac), "bad_mac");
}

TEST(PageWire, RandomGarbageNeverDecodes) {
  std::mt19937_64 rng(12345);
  PageRequest r;
  PageFragment f;
  std::vector<uint8_t> b;
  for (int i = 0; i < 50000; ++i) {
    b.resize(rng() % 4200);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    // Half of them start like ours, so the later checks get exercised too.
    if (b.size() >= 16 && (i & 1)) {
      const uint8_t hdr[6] = {0x53, 0x46, 0x50, 0x47, kWireVersion, static_cast<uint8_t>(1 + (i & 2) / 2)};
      std::memcpy(b.data(), hdr, 6);
      for (int k = 0; k < 8; ++k) b[8 + k] = static_cast<uint8_t>(kSnap >> (8 * k));
      if (b.size() >= 40 && (i & 4)) {  // a consistent length field
        const size_t payload = b.size() - kFragmentOverhead;
        if (b.size() >= kFragmentOverhead && payload <= kWirePage) {
          b[38] = static_cast<uint8_t>(payload);
          b[39] = static_cast<uint8_t>(payload >> 8);
        }
      }
    }
    ASSERT_NE(decode_request(b, kSnap, test_key(), &r), WireError::ok) << i;
    ASSERT_NE(decode_fragment(b, kSnap, test_key(), &f), WireError::ok) << i;
  }
}

TEST(PageWire, RandomKeysDiffer) {
  auto a = random_snapshot_key();
  auto b = random_snapshot_key();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a.value(), b.value());
}

TEST(Endpoint, ParseAndFormat) {
  auto e = Endpoint::parse("127.0.0.1:4242");
  ASSERT_TRUE(e.ok()) << e.status().message;
  EXPECT_EQ(e->addr, 0x7f000001u);
  EXPECT_EQ(e->port, 4242);
  EXPECT_EQ(e->to_string(), "127.0.0.1:4242");
  EXPECT_EQ(Endpoint::parse("10.1.2.3").value(), (Endpoint{0x0a010203u, 0}));
  for (const char* bad : {"", "1.2.3", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:x", "host:80", "1.2.3.4:80x"}) {
    EXPECT_FALSE(Endpoint::parse(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace sf::memserver::test
