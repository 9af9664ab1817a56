// Tests of the 16550 subset: output batching (not one callback per byte), register read-back, LSR
// flags, queued input, the idle back-off of LSR polls. Needs no KVM.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "base/guest_abi.h"
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
  for (int t = 0; t < 4; ++t)
    writers.emplace_back([&] {
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

// ---- idle back-off --------------------------------------------------------------------------------

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr uint16_t kLsr = kBase + 5;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// Milliseconds one LSR read takes.
double timed_lsr(Serial& s, const std::atomic<bool>* leave = nullptr, uint8_t* value = nullptr) {
  const auto t0 = Clock::now();
  const uint8_t v = s.read(kLsr, leave);
  if (value) *value = v;
  return ms_since(t0);
}

TEST(SerialBackoff, WaitsOnlyAfterTheThresholdAndGrowsToTheCap) {
  Serial s(nullptr, Serial::Backoff{4, 2ms, 8ms, 1s});
  const auto t0 = Clock::now();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(s.read(kLsr), 0x60);
  EXPECT_EQ(s.idle_waits(), 0u) << "the first reads are answered at once";
  EXPECT_LT(ms_since(t0), 2.0);
  // 2, 4, 8, then 8 (capped).
  const double expect[] = {2, 4, 8, 8, 8};
  for (double want : expect) {
    const double took = timed_lsr(s);
    EXPECT_GE(took, want * 0.99);
    EXPECT_LT(took, want + 40) << "capped at Backoff::max (plus scheduling slack)";
  }
  EXPECT_EQ(s.idle_waits(), 5u);
}

TEST(SerialBackoff, InputEndsAWaitAtOnceAndIsReported) {
  Serial s(nullptr, Serial::Backoff{1, 5s, 5s, 10s});
  s.read(kLsr);  // the one free read; the next one waits up to 5 s
  uint8_t lsr = 0;
  double took = 0;
  std::thread poller([&] { took = timed_lsr(s, nullptr, &lsr); });
  std::this_thread::sleep_for(20ms);
  const auto t_in = Clock::now();
  s.input("k");
  poller.join();
  const double latency = ms_since(t_in);
  EXPECT_EQ(lsr, 0x61) << "the read that waited reports the input";
  EXPECT_LT(latency, 100.0) << "input wakes the waiting read at once";
  EXPECT_GE(took, 15.0);
  EXPECT_EQ(s.read(kBase), 'k');
  EXPECT_LT(timed_lsr(s), 100.0) << "input reset the back-off: the next empty read is free again";
}

TEST(SerialBackoff, ALeaveRequestEndsAWaitAndSkipsFurtherWaits) {
  Serial s(nullptr, Serial::Backoff{1, 5s, 5s, 10s});
  std::atomic<bool> leave{false};
  s.read(kLsr, &leave);
  double took = 0;
  std::thread poller([&] { took = timed_lsr(s, &leave); });
  std::this_thread::sleep_for(20ms);
  const auto t_kick = Clock::now();
  leave = true;  // what RunControl does on pause/stop, then its waker calls wake()
  s.wake();
  poller.join();
  EXPECT_LT(ms_since(t_kick), 100.0);
  EXPECT_GE(took, 15.0);
  EXPECT_LT(timed_lsr(s, &leave), 100.0) << "while a leave is requested, polls are answered at once";
  leave = false;
  EXPECT_EQ(s.idle_waits(), 1u);
}

TEST(SerialBackoff, WakeWithoutALeaveRequestKeepsWaiting) {
  Serial s(nullptr, Serial::Backoff{1, 50ms, 50ms, 10s});
  std::atomic<bool> leave{false};
  s.read(kLsr, &leave);
  double took = 0;
  std::thread poller([&] { took = timed_lsr(s, &leave); });
  std::this_thread::sleep_for(5ms);
  s.wake();  // e.g. a probe: nothing for this vCPU to do
  poller.join();
  EXPECT_GE(took, 49.0);
}

TEST(SerialBackoff, AnyOtherAccessResetsIt) {
  Serial s(nullptr, Serial::Backoff{2, 300ms, 300ms, 10s});
  auto two_free_reads = [&] {
    const auto t0 = Clock::now();
    s.read(kLsr);
    s.read(kLsr);
    return ms_since(t0);
  };
  EXPECT_LT(two_free_reads(), 100.0);
  s.read(kBase + 7);  // scratch register read
  EXPECT_LT(two_free_reads(), 100.0);
  s.write(kBase, 'x');  // output
  EXPECT_LT(two_free_reads(), 100.0);
  s.read(kBase);  // RBR (empty)
  EXPECT_LT(two_free_reads(), 100.0);
  EXPECT_EQ(s.idle_waits(), 0u);
  EXPECT_GE(timed_lsr(s), 299.0) << "three LSR reads in a row: the third waits";
}

TEST(SerialBackoff, PollsFarApartAreNotIdlePolling) {
  // A guest that does other work between polls (sf_trygetchar() once per frame) is never delayed.
  Serial s(nullptr, Serial::Backoff{2, 300ms, 300ms, 5ms});
  for (int i = 0; i < 6; ++i) {
    EXPECT_LT(timed_lsr(s), 100.0);
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(s.idle_waits(), 0u);
}

TEST(SerialBackoff, CanBeDisabled) {
  Serial s(nullptr, Serial::Backoff{0, 1s, 1s, 10s});
  const auto t0 = Clock::now();
  for (int i = 0; i < 1000; ++i) s.read(kLsr);
  EXPECT_LT(ms_since(t0), 500.0);
  EXPECT_EQ(s.idle_waits(), 0u);
}

}  // namespace
}  // namespace sf::vmm
