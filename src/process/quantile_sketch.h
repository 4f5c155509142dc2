// QuantileSketch: a mergeable quantile sketch with a relative-error bound,
// in the style of DDSketch (Masson, Rim, Lee, VLDB 2019). Written for
// livehub's window aggregates (p50/p95/p99).
//
// Bound: for a sketch built with accuracy `alpha`, Quantile(q) returns a
// value v' with |v' - v| <= alpha * |v|, where v is the exact q-quantile of
// the added values (rank floor(q * (n - 1)), "lower" quantile), as long as
// no bucket collapse happened (see below). Values with |x| < kMinIndexable
// are counted in a zero bucket and reported as 0.
//
// How: a positive x falls in bucket i = ceil(log_gamma(x)), gamma =
// (1 + alpha) / (1 - alpha), i.e. x in (gamma^(i-1), gamma^i]; the bucket's
// representative value 2 * gamma^i / (gamma + 1) is within alpha of every
// value in it. Negative values use a mirrored store. Merging two sketches of
// the same alpha adds bucket counts, so Merge(a, b) answers exactly as one
// sketch fed both streams would.
//
// Memory: each store is a dense array spanning the buckets seen, capped at
// `max_buckets` per store; past the cap the lowest buckets collapse into one
// (DDSketch's policy), which loses accuracy only for the smallest magnitudes.
// With alpha = 0.01 the range 1e-3 .. 1e6 needs ~1,040 buckets. collapsed()
// says whether it happened.
// Thread safety: not thread-safe; a value type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace livehub {

class QuantileSketch {
 public:
  static constexpr double kMinIndexable = 1e-9;

  explicit QuantileSketch(double alpha = 0.01, uint32_t max_buckets = 2048);

  void Add(double x);
  // Both sketches must have the same alpha (returns false, unchanged, if not).
  bool Merge(const QuantileSketch& other);
  // q in [0, 1]. NaN when empty.
  double Quantile(double q) const;

  uint64_t count() const { return count_; }
  double alpha() const { return alpha_; }
  bool collapsed() const { return collapsed_; }
  size_t bucket_count() const { return pos_.counts.size() + neg_.counts.size(); }

 private:
  // A dense run of bucket counts: counts[k] is bucket `offset + k`.
  struct Store {
    int32_t offset = 0;
    std::vector<uint64_t> counts;
    uint64_t total = 0;
  };
  int32_t Index(double magnitude) const;
  double Value(int32_t index) const;
  void AddToStore(Store* s, int32_t index, uint64_t n);

  double alpha_;
  double gamma_;
  double log_gamma_;
  uint32_t max_buckets_;
  Store pos_;
  Store neg_;
  uint64_t zero_ = 0;
  uint64_t count_ = 0;
  double min_ = 0;
  double max_ = 0;
  bool collapsed_ = false;
};

}  // namespace livehub
