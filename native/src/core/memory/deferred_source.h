// DeferredSource: a page source whose real source is named later, so that a clone shell's memtap (its
// userfaultfd registration and service thread) is ready before the fork it will take its pages from.
// Boundary: forwards to one synchronous source bound once; before that nothing may fault (no vCPU runs).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "page_source.h"

namespace sf::memory {

class DeferredSource final : public PageSource {
 public:
  explicit DeferredSource(uint64_t bytes) : bytes_(bytes) {}

  // Names the source every later fetch goes to. Once only; it must be synchronous (the memtap was built
  // for one) and cover this source's size.
  Status bind(std::shared_ptr<PageSource> target) {
    if (!target) return Status::Error(EINVAL, "deferred page source: no source");
    if (target->is_async())
      return Status::Error(EINVAL, "deferred page source: an asynchronous source cannot be bound");
    if (target->bytes() < bytes_) return Status::Error(EINVAL, "deferred page source: the source is smaller than RAM");
    std::lock_guard lock(mu_);
    if (owned_) return Status::Error(EALREADY, "deferred page source: already bound");
    owned_ = std::move(target);
    target_.store(owned_.get(), std::memory_order_release);
    return Status::Ok();
  }
  bool bound() const { return target_.load(std::memory_order_acquire) != nullptr; }

  uint64_t bytes() const override { return bytes_; }
  Status get(uint64_t first, uint64_t n, uint8_t* scratch, const uint8_t** out,
             const std::atomic<bool>& cancel) override {
    PageSource* t = target_.load(std::memory_order_acquire);
    if (t == nullptr) return Status::Error(EAGAIN, "a clone shell's memory was touched before it became a clone");
    return t->get(first, n, scratch, out, cancel);
  }
  void interrupt() override {
    if (PageSource* t = target_.load(std::memory_order_acquire)) t->interrupt();
  }

 private:
  const uint64_t bytes_;
  std::mutex mu_;
  std::shared_ptr<PageSource> owned_;         // keeps the bound source alive
  std::atomic<PageSource*> target_{nullptr};  // published once owned_ is set
};

}  // namespace sf::memory
