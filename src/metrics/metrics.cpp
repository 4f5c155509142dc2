#include "metrics/metrics.h"

#include <algorithm>
#include <cstdio>

namespace livehub {

std::vector<double> LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
}

Histogram::Histogram(std::vector<double> bounds_s)
    : bounds_s_(std::move(bounds_s)), buckets_(new std::atomic<uint64_t>[bounds_s_.size() + 1]) {
  for (double b : bounds_s_) bounds_ns_.push_back(static_cast<int64_t>(b * 1e9));
  for (size_t i = 0; i <= bounds_s_.size(); ++i) buckets_[i] = 0;
}

size_t Histogram::BucketFor(int64_t ns) const {
  size_t i = 0;
  while (i < bounds_ns_.size() && ns > bounds_ns_[i]) ++i;
  return i;
}

void Histogram::AddBatch(const uint32_t* counts, size_t first, size_t last, uint64_t n,
                         uint64_t sum_ns) {
  last = std::min(last, bucket_count() - 1);
  for (size_t i = first; i <= last; ++i) {
    if (counts[i]) buckets_[i].fetch_add(counts[i], std::memory_order_relaxed);
  }
  count_.fetch_add(n, std::memory_order_relaxed);
  sum_ns_.fetch_add(sum_ns, std::memory_order_relaxed);
}

void Histogram::ObserveNs(int64_t ns) {
  if (ns < 0) ns = 0;
  size_t i = BucketFor(ns);
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
}

void Histogram::Render(std::string* out, std::string_view name, std::string_view labels) const {
  std::string prefix = "livehub_" + std::string(name);
  std::string sep = labels.empty() ? "" : ",";
  uint64_t cum = 0;
  char num[64];
  for (size_t i = 0; i <= bounds_s_.size(); ++i) {
    cum += buckets_[i].load(std::memory_order_relaxed);
    std::string le = "+Inf";
    if (i < bounds_s_.size()) {
      snprintf(num, sizeof num, "%g", bounds_s_[i]);
      le = num;
    }
    *out += prefix + "_bucket{" + std::string(labels) + sep + "le=\"" + le + "\"} " +
            std::to_string(cum) + "\n";
  }
  std::string lb = labels.empty() ? "" : "{" + std::string(labels) + "}";
  snprintf(num, sizeof num, "%.9f", sum_ns_.load(std::memory_order_relaxed) / 1e9);
  *out += prefix + "_sum" + lb + " " + num + "\n";
  *out += prefix + "_count" + lb + " " + std::to_string(count_.load()) + "\n";
}

void AppendFamilyHeader(std::string* out, std::string_view name, std::string_view help,
                        std::string_view type) {
  *out += "# HELP livehub_";
  *out += name;
  *out += ' ';
  *out += help;
  *out += "\n# TYPE livehub_";
  *out += name;
  *out += ' ';
  *out += type;
  *out += '\n';
}

std::string PromLabelValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

MetricsRegistry::Family& MetricsRegistry::GetFamily(std::string_view name, std::string_view help,
                                                    const char* type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{}).first;
    it->second.help = std::string(help);
    it->second.type = type;
  }
  return it->second;
}

Counter* MetricsRegistry::GetCounter(std::string_view name, std::string_view help,
                                     std::string_view labels) {
  std::lock_guard lock(mu_);
  auto& slot = GetFamily(name, help, "counter").counters[std::string(labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return slot.get();
}

Gauge* MetricsRegistry::GetGauge(std::string_view name, std::string_view help,
                                 std::string_view labels) {
  std::lock_guard lock(mu_);
  auto& slot = GetFamily(name, help, "gauge").gauges[std::string(labels)];
  if (!slot) slot = std::make_unique<Gauge>();
  return slot.get();
}

Histogram* MetricsRegistry::GetHistogram(std::string_view name, std::string_view help,
                                         std::string_view labels) {
  std::lock_guard lock(mu_);
  auto& slot = GetFamily(name, help, "histogram").histograms[std::string(labels)];
  if (!slot) slot = std::make_unique<Histogram>(LatencyBuckets());
  return slot.get();
}

void MetricsRegistry::AddCollector(std::function<void(std::string*)> collector) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string MetricsRegistry::Render() const {
  std::string out;
  std::vector<std::function<void(std::string*)>> collectors;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, fam] : families_) {
      AppendFamilyHeader(&out, name, fam.help, fam.type);
      // (clang before 16 cannot capture a structured binding)
      auto series = [&family = name](const std::string& labels) {
        return "livehub_" + family + (labels.empty() ? "" : "{" + labels + "}");
      };
      for (const auto& [labels, c] : fam.counters) {
        out += series(labels) + " " + std::to_string(c->value()) + "\n";
      }
      for (const auto& [labels, g] : fam.gauges) {
        out += series(labels) + " " + std::to_string(g->value()) + "\n";
      }
      for (const auto& [labels, h] : fam.histograms) h->Render(&out, name, labels);
    }
    collectors = collectors_;
  }
  for (const auto& c : collectors) c(&out);
  return out;
}

}  // namespace livehub
