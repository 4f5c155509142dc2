#include "process/quantile_sketch.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace livehub {

QuantileSketch::QuantileSketch(double alpha, uint32_t max_buckets)
    : alpha_(alpha),
      gamma_((1 + alpha) / (1 - alpha)),
      log_gamma_(std::log((1 + alpha) / (1 - alpha))),
      max_buckets_(std::max<uint32_t>(max_buckets, 16)) {}

int32_t QuantileSketch::Index(double magnitude) const {
  return static_cast<int32_t>(std::ceil(std::log(magnitude) / log_gamma_));
}

double QuantileSketch::Value(int32_t index) const {
  return 2.0 * std::pow(gamma_, index) / (gamma_ + 1);
}

void QuantileSketch::AddToStore(Store* s, int32_t index, uint64_t n) {
  if (s->counts.empty()) {
    s->offset = index;
    s->counts.assign(1, 0);
  } else if (index < s->offset) {
    const size_t grow = static_cast<size_t>(s->offset - index);
    s->counts.insert(s->counts.begin(), grow, 0);
    s->offset = index;
  } else if (index >= s->offset + static_cast<int32_t>(s->counts.size())) {
    s->counts.resize(static_cast<size_t>(index - s->offset) + 1, 0);
  }
  s->counts[static_cast<size_t>(index - s->offset)] += n;
  s->total += n;
  if (s->counts.size() > max_buckets_) {
    // Collapse the lowest buckets into the lowest one kept.
    const size_t drop = s->counts.size() - max_buckets_;
    uint64_t folded = 0;
    for (size_t k = 0; k <= drop; ++k) folded += s->counts[k];
    s->counts.erase(s->counts.begin(), s->counts.begin() + static_cast<std::ptrdiff_t>(drop));
    s->counts[0] = folded;
    s->offset += static_cast<int32_t>(drop);
    collapsed_ = true;
  }
}

void QuantileSketch::Add(double x) {
  if (!std::isfinite(x)) return;
  if (count_ == 0) {
    min_ = max_ = x;
  } else {
    min_ = std::min(min_, x);
    max_ = std::max(max_, x);
  }
  ++count_;
  const double m = std::fabs(x);
  if (m < kMinIndexable) {
    ++zero_;
  } else if (x > 0) {
    AddToStore(&pos_, Index(m), 1);
  } else {
    AddToStore(&neg_, Index(m), 1);
  }
}

bool QuantileSketch::Merge(const QuantileSketch& other) {
  if (other.alpha_ != alpha_) return false;
  if (other.count_ == 0) return true;
  if (count_ == 0) {
    min_ = other.min_;
    max_ = other.max_;
  } else {
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
  count_ += other.count_;
  zero_ += other.zero_;
  for (size_t k = 0; k < other.pos_.counts.size(); ++k) {
    if (other.pos_.counts[k]) {
      AddToStore(&pos_, other.pos_.offset + static_cast<int32_t>(k), other.pos_.counts[k]);
    }
  }
  for (size_t k = 0; k < other.neg_.counts.size(); ++k) {
    if (other.neg_.counts[k]) {
      AddToStore(&neg_, other.neg_.offset + static_cast<int32_t>(k), other.neg_.counts[k]);
    }
  }
  collapsed_ |= other.collapsed_;
  return true;
}

double QuantileSketch::Quantile(double q) const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  q = std::clamp(q, 0.0, 1.0);
  // The lower q-quantile: the value of rank floor(q * (n - 1)), 0-based.
  const uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_ - 1));
  double v = 0;
  uint64_t seen = 0;
  bool found = false;
  // Ascending order: negatives by decreasing magnitude, zeros, positives.
  for (size_t k = neg_.counts.size(); k-- > 0 && !found;) {
    seen += neg_.counts[k];
    if (seen > rank) {
      v = -Value(neg_.offset + static_cast<int32_t>(k));
      found = true;
    }
  }
  if (!found) {
    seen += zero_;
    if (seen > rank) found = true;  // v = 0
  }
  for (size_t k = 0; k < pos_.counts.size() && !found; ++k) {
    seen += pos_.counts[k];
    if (seen > rank) {
      v = Value(pos_.offset + static_cast<int32_t>(k));
      found = true;
    }
  }
  // The exact extremes are known: never answer outside them.
  return std::clamp(v, min_, max_);
}

}  // namespace livehub
