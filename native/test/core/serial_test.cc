// Tests of the 16550 subset: output batching (not one callback per byte), register read-back, LSR
// flags, queued input. Needs no KVM.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "vmm/guest_abi.h"
#include "vmm/serial.h"

namespace sf::vmm {
namespace {

constexpr uint16_t kBase = SF_SERIAL_PORT;

struct Sink {
  std::vector<std::string> chunks;
  Serial::Sink fn() {
    return [this](std::string_view s) { chunks.emplace_back(s); };
  }
  std::string all() const {
    std::string out;
    for (auto& c : chunks) out += c;
    return out;
  }
};

void put(Serial& s, std::string_view text) {
  for (char c : text) s.write(kBase, static_cast<uint8_t>(c));
}

TEST(Serial, OwnsItsEightPorts) {
  EXPECT_TRUE(Serial::owns(kBase));
  EXPECT_TRUE(Serial::owns(kBase + 7));
  EXPECT_FALSE(Serial::owns(kBase + 8));
  EXPECT_FALSE(Serial::owns(kBase - 1));
}

TEST(Serial, OutputIsBatchedPerLine) {
  Sink sink;
  Serial s(sink.fn());
  put(s, "hello");
  EXPECT_TRUE(sink.chunks.empty()) << "no newline yet: nothing handed over";
  put(s, " world\nsecond");
  ASSERT_EQ(sink.chunks.size(), 1u);
  EXPECT_EQ(sink.chunks[0], "hello world\n");
  s.flush();
  ASSERT_EQ(sink.chunks.size(), 2u);
  EXPECT_EQ(sink.chunks[1], "second");
  s.flush();
  EXPECT_EQ(sink.chunks.size(), 2u) << "flushing nothing calls nothing";
  EXPECT_EQ(s.bytes_out(), 18u);
}

TEST(Serial, LongLinesAreFlushedEvery4KiB) {
  Sink sink;
  Serial s(sink.fn());
  put(s, std::string(Serial::kFlushBytes * 2 + 10, 'a'));
  ASSERT_EQ(sink.chunks.size(), 2u);
  EXPECT_EQ(sink.chunks[0].size(), Serial::kFlushBytes);
  s.flush();
  EXPECT_EQ(sink.all().size(), Serial::kFlushBytes * 2 + 10);
}

TEST(Serial, BulkWritesKeepOrderWithPortOutput) {
  Sink sink;
  Serial s(sink.fn());
  put(s, "a");
  const std::string bulk = "b\nc\nd";
  s.write_console({reinterpret_cast<const uint8_t*>(bulk.data()), bulk.size()});
  put(s, "e\n");
  EXPECT_EQ(sink.all(), "ab\nc\nde\n");
  EXPECT_EQ(sink.chunks.size(), 3u) << "buffered 'a', the bulk write in one piece, then 'e\\n'";
}

TEST(Serial, LineStatusAndInput) {
  Sink sink;
  Serial s(sink.fn());
  EXPECT_EQ(s.read(kBase + 5), 0x60) << "THR empty + transmitter empty, no data";
  EXPECT_EQ(s.read(kBase), 0) << "empty receive buffer reads 0";
  s.input("hi");
  EXPECT_EQ(s.read(kBase + 5), 0x61);
  EXPECT_EQ(s.read(kBase), 'h');
  EXPECT_EQ(s.read(kBase), 'i');
  EXPECT_EQ(s.read(kBase + 5), 0x60);
}

TEST(Serial, InputIsCappedAndThreadSafe) {
  Serial s(nullptr);
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) writers.emplace_back([&] {
    for (int i = 0; i < 1000; ++i) s.input("xy");
  });
  for (auto& w : writers) w.join();
  size_t n = 0;
  while (s.read(kBase + 5) & 1) {
    s.read(kBase);
    ++n;
  }
  EXPECT_EQ(n, 8000u);
  s.input(std::string(Serial::kInputLimit + 5, 'z'));
  EXPECT_EQ(s.input_dropped(), 5u);
}

TEST(Serial, RegistersReadBack) {
  Serial s(nullptr);
  s.write(kBase + 7, 0x5a);
  EXPECT_EQ(s.read(kBase + 7), 0x5a) << "scratch";
  s.write(kBase + 1, 0xff);
  EXPECT_EQ(s.read(kBase + 1), 0x0f) << "IER keeps its four defined bits";
  s.write(kBase + 3, 0x80);  // DLAB
  s.write(kBase, 0x0c);
  s.write(kBase + 1, 0x00);
  EXPECT_EQ(s.read(kBase), 0x0c) << "divisor latch low";
  EXPECT_EQ(s.read(kBase + 1), 0x00) << "divisor latch high";
  s.write(kBase + 3, 0x03);
  EXPECT_EQ(s.read(kBase + 3), 0x03);
  EXPECT_EQ(s.read(kBase + 1), 0x0f) << "IER is back once DLAB is clear";
  EXPECT_EQ(s.read(kBase + 2) & 0xc1, 0x01) << "no interrupt pending, FIFOs off";
  s.write(kBase + 2, 0x07);
  EXPECT_EQ(s.read(kBase + 2) & 0xc1, 0xc1) << "FIFOs on";
  s.write(kBase + 4, 0xff);
  EXPECT_EQ(s.read(kBase + 4), 0x1f);
  EXPECT_EQ(s.read(kBase + 6) & 0xb0, 0xb0) << "DCD, DSR, CTS";
}

}  // namespace
}  // namespace sf::vmm
