// A clone on "another host": its descriptor alone plus pages from a memserver over UDP through a host
// mirror (real KVM, real sockets on loopback). It finishes exactly like its parent; when the memserver
// is gone while it still needs pages, it ends as crashed with the reason, promptly.
#include <chrono>
#include <cstdio>

#include "memserver/memserver.h"
#include "memserver/mirror.h"
#include "memserver/remote_source.h"
#include "test_support.h"
#include "vmm/descriptor.h"
#include "vmm/vm.h"

namespace sf::vmm::test {
namespace {

using memserver::Memserver;
using memserver::MemserverConfig;
using memserver::Mirror;
using memserver::RemotePageSource;
using memserver::RemoteSourceConfig;

constexpr uint64_t kRam = 64ull << 20;
constexpr uint64_t kCounterGpa = 0x300000;

struct Served {
  std::unique_ptr<Memserver> server;
  std::shared_ptr<RemotePageSource> source;
};

// What the master's host and the clone's host set up from the snapshot and its descriptor.
Served serve(const Snapshot& snap, std::chrono::milliseconds timeout) {
  auto d = parse(snap.descriptor());
  EXPECT_TRUE(d.ok() && d->identity);
  MemserverConfig sc;
  sc.snapshot_fd = snap.memfd();
  sc.ram_bytes = snap.ram_bytes();
  sc.snapshot_id = d->identity->snapshot_id;
  sc.key = d->identity->key;
  auto server = Memserver::create(sc);
  EXPECT_TRUE(server.ok()) << server.status().message;
  auto mirror = Mirror::create(sc.snapshot_id, sc.ram_bytes);
  EXPECT_TRUE(mirror.ok());
  RemoteSourceConfig rc;
  rc.server = server.value()->endpoint();
  rc.snapshot_id = sc.snapshot_id;
  rc.key = sc.key;
  rc.timeout = timeout;
  auto source = RemotePageSource::create(rc, mirror.value());
  EXPECT_TRUE(source.ok()) << source.status().message;
  return {std::move(server).value(), std::move(source).value()};
}

uint64_t counter(Vm& vm) {
  uint64_t v = 0;
  EXPECT_TRUE(vm.read_guest(kCounterGpa, {reinterpret_cast<uint8_t*>(&v), 8}).ok());
  return v;
}

VmConfig config() {
  VmConfig c;
  c.ram_bytes = kRam;
  c.privilege = GuestPrivilege::user;
  return c;
}

TEST(RemoteClone, RunsFromADescriptorAndAMemserverLikeItsParent) {
  SF_REQUIRE_KVM();
  Harness hp, hc;
  auto parent = boot_guest(hp, "forkcount", config());
  ASSERT_TRUE(parent);
  const auto t0 = std::chrono::steady_clock::now();
  while (counter(*parent) < 2000 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20)) {
  }
  auto snap = parent->fork_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status().message;
  Served s = serve(snap.value(), std::chrono::milliseconds(2000));
  CloneOptions lazy;
  lazy.lazy = true;
  auto clone = Vm::create_from_descriptor(snap->descriptor(), 2, hc.callbacks(), lazy, s.source);
  ASSERT_TRUE(clone.ok()) << clone.status().message;
  EXPECT_FALSE(clone.value()->fork_snapshot().ok()) << "a remote clone cannot fork again (yet)";
  ASSERT_TRUE(clone.value()->resume().ok());
  auto pf = hp.wait_final(), cf = hc.wait_final();
  ASSERT_TRUE(pf && cf);
  EXPECT_EQ(cf->state, VmState::exited) << cf->reason;
  const size_t at = hp.console().find("forkcount ");
  ASSERT_NE(at, std::string::npos) << hp.console();
  EXPECT_NE(hc.console().find(hp.console().substr(at)), std::string::npos) << hc.console();
  const auto st = s.source->stats();
  const auto srv = s.server->stats();
  std::printf("[ remote clone ] %llu requests, %llu pages served, %llu bytes sent\n",
              static_cast<unsigned long long>(st.requests_sent), static_cast<unsigned long long>(srv.pages_served),
              static_cast<unsigned long long>(srv.bytes_sent));
  EXPECT_GT(srv.pages_served, 0u);
  EXPECT_LT(srv.pages_served, kRam / 4096 / 10) << "only what the clone touched crosses the network";
}

TEST(RemoteClone, EndsAsCrashedWithTheReasonWhenItsMemserverIsGone) {
  SF_REQUIRE_KVM();
  Harness hp, hc;
  auto parent = boot_guest(hp, "forkcount", config());
  ASSERT_TRUE(parent);
  auto snap = parent->fork_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status().message;
  Served s = serve(snap.value(), std::chrono::milliseconds(300));
  CloneOptions lazy;
  lazy.lazy = true;
  auto clone = Vm::create_from_descriptor(snap->descriptor(), 3, hc.callbacks(), lazy, s.source);
  ASSERT_TRUE(clone.ok()) << clone.status().message;
  s.server->stop();  // the master's host is gone before the clone has any page
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(clone.value()->resume().ok());
  auto cf = hc.wait_final();
  ASSERT_TRUE(cf);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(cf->state, VmState::crashed);
  EXPECT_NE(cf->reason.find("guest memory unavailable"), std::string::npos) << cf->reason;
  EXPECT_LT(waited, 5.0);
  clone.value()->destroy();  // returns: nothing stays stuck in a fault
  EXPECT_EQ(clone.value()->state(), VmState::destroyed);
}

TEST(RemoteClone, HostileDescriptorsAndSourcesAreRefused) {
  SF_REQUIRE_KVM();
  Harness hp, hc;
  auto parent = boot_guest(hp, "forkcount", config());
  ASSERT_TRUE(parent);
  auto snap = parent->fork_snapshot();
  ASSERT_TRUE(snap.ok());
  Served s = serve(snap.value(), std::chrono::milliseconds(300));
  CloneOptions lazy;
  lazy.lazy = true;
  std::vector<uint8_t> cut(snap->descriptor().begin(), snap->descriptor().end() - 1);
  EXPECT_FALSE(Vm::create_from_descriptor(cut, 1, hc.callbacks(), lazy, s.source).ok());
  EXPECT_FALSE(Vm::create_from_descriptor(snap->descriptor(), 1, hc.callbacks(), lazy, nullptr).ok());
}

}  // namespace
}  // namespace sf::vmm::test
