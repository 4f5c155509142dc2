// MetricsRegistry: counters, gauges and histograms rendered in the Prometheus
// text format at GET /metrics. Every metric is prefixed `livehub_`.
// Thread safety: thread-safe. Counter/Histogram pointers are stable for the
// registry's lifetime, so hot paths look a metric up once and keep it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace livehub {

class Counter {
 public:
  void Add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Add(int64_t n) { v_.fetch_add(n, std::memory_order_relaxed); }
  void Set(int64_t n) { v_.store(n, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Histogram of durations; bounds in seconds, observations in nanoseconds.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds_s);
  void ObserveNs(int64_t ns);
  // Index of the bucket an observation falls in (0..bucket_count()-1).
  size_t BucketFor(int64_t ns) const;
  size_t bucket_count() const { return bounds_ns_.size() + 1; }
  // Adds pre-bucketed observations (counts has bucket_count() entries), so a
  // hot path can aggregate a batch locally and touch the atomics once.
  void AddBatch(const uint32_t* counts, uint64_t n, uint64_t sum_ns) {
    AddBatch(counts, 0, bucket_count() - 1, n, sum_ns);
  }
  // The same when only buckets first..last (inclusive) may be non-zero.
  void AddBatch(const uint32_t* counts, size_t first, size_t last, uint64_t n, uint64_t sum_ns);
  void Render(std::string* out, std::string_view name, std::string_view labels) const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_s_;
  std::vector<int64_t> bounds_ns_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // one per bound, plus +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

// Default latency buckets: 50 µs .. 10 s.
std::vector<double> LatencyBuckets();

class MetricsRegistry {
 public:
  // `name` without the livehub_ prefix; `labels` like `reason="bad_json"`.
  Counter* GetCounter(std::string_view name, std::string_view help, std::string_view labels = {});
  Gauge* GetGauge(std::string_view name, std::string_view help, std::string_view labels = {});
  Histogram* GetHistogram(std::string_view name, std::string_view help,
                          std::string_view labels = {});
  // A collector appends whole families (with # HELP/# TYPE) computed at
  // scrape time, e.g. per-stream figures.
  void AddCollector(std::function<void(std::string*)> collector);

  std::string Render() const;

 private:
  struct Family {
    std::string help;
    std::string type;
    std::map<std::string, std::unique_ptr<Counter>> counters;
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
  };
  Family& GetFamily(std::string_view name, std::string_view help, const char* type);

  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
  std::vector<std::function<void(std::string*)>> collectors_;
};

// Appends "# HELP livehub_<name> help\n# TYPE livehub_<name> type\n".
void AppendFamilyHeader(std::string* out, std::string_view name, std::string_view help,
                        std::string_view type);
// Escapes a label value (\\, \" and \n).
std::string PromLabelValue(std::string_view v);

}  // namespace livehub
