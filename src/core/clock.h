// Clock: the hub's source of time, injectable so tests never sleep.
// Thread safety: implementations must be thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace livehub {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock milliseconds since the Unix epoch (event `ts`).
  virtual int64_t NowMs() const = 0;
  // Monotonic nanoseconds, for latency and ages.
  virtual int64_t MonoNs() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowMs() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }
  int64_t MonoNs() const override {
    using namespace std::chrono;
    return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
  }
  static SystemClock* Get() {
    static SystemClock clock;
    return &clock;
  }
};

// FakeClock: tests advance it by hand.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t now_ms = 1'700'000'000'000) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  int64_t MonoNs() const override { return now_ms_.load() * 1'000'000; }
  void AdvanceMs(int64_t ms) { now_ms_ += ms; }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace livehub
