// Boot latency of the flat-guest VMM: create → boot → first console output → destroy, for 64 MiB and
// 1 GiB of RAM (without the in-kernel irqchip unless asked); prints p50/p90/min per phase and one JSON
// line. Not a test: nothing is asserted.
// Boundary: measurement only, through the public Vm API.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "vmm/vm.h"

namespace {

using Clock = std::chrono::steady_clock;

double us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

struct Sample {
  double to_console_us, destroy_us, total_us, create_us, boot_us;
};

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * (v.size() - 1))];
}

sf::vmm::GuestPrivilege g_privilege = sf::vmm::GuestPrivilege::kernel;
bool g_irqchip = false;

bool run_once(uint64_t ram, Sample* out) {
  std::mutex mu;
  std::condition_variable cv;
  bool got = false;
  Clock::time_point first{};
  sf::vmm::VmCallbacks cb;
  cb.on_console = [&](std::string_view) {
    std::lock_guard l(mu);
    if (!got) {
      got = true;
      first = Clock::now();
      cv.notify_all();
    }
  };
  sf::vmm::VmConfig cfg;
  cfg.ram_bytes = ram;
  cfg.cmdline = "byte";
  cfg.privilege = g_privilege;
  cfg.irqchip = g_irqchip;
  // The image is read once, outside the timed region (loading is part of create→boot, though).
  static std::vector<uint8_t> image = [] {
    std::vector<uint8_t> v;
    FILE* f = std::fopen(SF_TEST_GUEST_PATH, "rb");
    if (!f) return v;
    int c;
    while ((c = std::fgetc(f)) != EOF) v.push_back(static_cast<uint8_t>(c));
    std::fclose(f);
    return v;
  }();
  const auto t0 = Clock::now();
  auto vm = sf::vmm::Vm::create(cfg, cb);
  if (!vm.ok()) {
    std::fprintf(stderr, "create: %s\n", vm.status().message.c_str());
    return false;
  }
  const auto t_created = Clock::now();
  if (auto s = vm.value()->load_elf(image); !s.ok()) {
    std::fprintf(stderr, "load: %s\n", s.message.c_str());
    return false;
  }
  if (auto s = vm.value()->boot(); !s.ok()) {
    std::fprintf(stderr, "boot: %s\n", s.message.c_str());
    return false;
  }
  const auto t_booted = Clock::now();
  {
    std::unique_lock l(mu);
    if (!cv.wait_for(l, std::chrono::seconds(10), [&] { return got; })) {
      std::fprintf(stderr, "no console output\n");
      return false;
    }
  }
  const auto t_d0 = Clock::now();
  vm.value().reset();  // destroy + free
  const auto t_end = Clock::now();
  out->create_us = us(t_created - t0);
  out->boot_us = us(t_booted - t0);
  out->to_console_us = us(first - t0);
  out->destroy_us = us(t_end - t_d0);
  out->total_us = us(t_end - t0);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // Usage: sf_vmm_boot_bench [runs] [kernel|user] [irqchip]
  const int runs = argc > 1 ? std::atoi(argv[1]) : 50;
  if (argc > 2 && std::string(argv[2]) == "user") g_privilege = sf::vmm::GuestPrivilege::user;
  if (argc > 3 && std::string(argv[3]) == "irqchip") g_irqchip = true;
  std::string json = "{\"bench\":\"vmm_boot\",\"runs\":" + std::to_string(runs) + ",\"privilege\":\"" +
                     (g_privilege == sf::vmm::GuestPrivilege::user ? "user" : "kernel") +
                     "\",\"irqchip\":" + (g_irqchip ? "true" : "false");
  for (uint64_t ram : {64ull << 20, 1ull << 30}) {
    std::vector<double> create, booted, console, destroy, total;
    Sample warm;
    if (!run_once(ram, &warm)) return 1;  // first run pays one-time costs (CPUID query, page cache)
    for (int i = 0; i < runs; ++i) {
      Sample s;
      if (!run_once(ram, &s)) return 1;
      create.push_back(s.create_us);
      booted.push_back(s.boot_us);
      console.push_back(s.to_console_us);
      destroy.push_back(s.destroy_us);
      total.push_back(s.total_us);
    }
    const std::string name = ram == (64ull << 20) ? "64MiB" : "1GiB";
    std::printf(
        "%-6s create p50 %6.0f us | +load+boot() returned p50 %6.0f us | create+boot→first console byte "
        "p50 %6.0f us (p90 %6.0f, min %6.0f) | destroy p50 %6.0f us | total p50 %6.0f us\n",
        name.c_str(), pct(create, 0.5), pct(booted, 0.5), pct(console, 0.5), pct(console, 0.9), pct(console, 0.0),
        pct(destroy, 0.5), pct(total, 0.5));
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  ",\"%s\":{\"create_p50_us\":%.0f,\"first_console_p50_us\":%.0f,\"destroy_p50_us\":%.0f,"
                  "\"total_p50_us\":%.0f}",
                  name.c_str(), pct(create, 0.5), pct(console, 0.5), pct(destroy, 0.5), pct(total, 0.5));
    json += buf;
  }
  // Pause latency: a 2-vCPU guest (one vCPU spinning without exits, one making hypercalls).
  {
    std::mutex mu;
    std::condition_variable cv;
    bool spinning = false;
    sf::vmm::VmCallbacks cb;
    cb.on_console = [&](std::string_view s) {
      std::lock_guard l(mu);
      if (s.find("spinning") != std::string_view::npos) spinning = true;
      cv.notify_all();
    };
    sf::vmm::VmConfig cfg;
    cfg.ram_bytes = 64ull << 20;
    cfg.vcpus = 2;
    cfg.cmdline = "spin";
    cfg.privilege = g_privilege;
    cfg.irqchip = g_irqchip;
    auto vm = sf::vmm::Vm::create(cfg, cb);
    if (!vm.ok() || !vm.value()->load_elf_file(SF_TEST_GUEST_PATH).ok() || !vm.value()->boot().ok()) return 1;
    {
      std::unique_lock l(mu);
      cv.wait_for(l, std::chrono::seconds(10), [&] { return spinning; });
    }
    std::vector<double> pause, resume;
    for (int i = 0; i < runs; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      const auto t0 = Clock::now();
      if (!vm.value()->pause().ok()) return 1;
      const auto t1 = Clock::now();
      if (!vm.value()->resume().ok()) return 1;
      const auto t2 = Clock::now();
      pause.push_back(us(t1 - t0));
      resume.push_back(us(t2 - t1));
    }
    std::printf("pause (2 vCPUs running) p50 %6.0f us (p90 %6.0f, max %6.0f) | resume p50 %6.0f us\n", pct(pause, 0.5),
                pct(pause, 0.9), pct(pause, 1.0), pct(resume, 0.5));
    char buf[128];
    std::snprintf(buf, sizeof buf, ",\"pause_p50_us\":%.0f,\"resume_p50_us\":%.0f", pct(pause, 0.5), pct(resume, 0.5));
    json += buf;
  }
  std::printf("%s}\n", json.c_str());
  return 0;
}
