// Aggregates of one numeric field within one window and key: count, sum,
// avg, min, max, first, last, stddev and p50/p95/p99 (QuantileSketch).
// Every aggregate is mergeable (session windows merge), and every result is
// a pure function of the values added and their (event time, arrival)
// order, so replaying the same input gives the same output.
// Thread safety: not thread-safe; value types owned by one processor.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_writer.h"
#include "core/status.h"
#include "process/quantile_sketch.h"

namespace livehub {

enum class AggOp : uint8_t {
  kCount,
  kSum,
  kAvg,
  kMin,
  kMax,
  kFirst,
  kLast,
  kStddev,
  kP50,
  kP95,
  kP99
};

// "count", "sum", ... "p99"; InvalidArgument naming the known ones otherwise.
Result<AggOp> ParseAggOp(std::string_view name);
const char* AggOpName(AggOp op);

// The aggregates asked for one field.
struct FieldAggSpec {
  std::string field;  // dotted path into the event's data, e.g. "temp" or "m.v"
  std::vector<AggOp> ops;
  bool NeedsSketch() const;
};

// The running state of one field.
class FieldAgg {
 public:
  // order: the arrival order of the event (ties of first/last on time).
  void Add(double x, int64_t time_ms, uint64_t order, double sketch_alpha, bool sketch);
  void Merge(const FieldAgg& other);
  // Writes {"avg":..,"p95":..} for the ops asked.
  void Write(const FieldAggSpec& spec, JsonWriter* w) const;

  uint64_t count() const { return count_; }

 private:
  uint64_t count_ = 0;
  double sum_ = 0;
  double mean_ = 0;  // Welford
  double m2_ = 0;
  double min_ = 0;
  double max_ = 0;
  double first_ = 0, last_ = 0;
  int64_t first_time_ = 0, last_time_ = 0;
  uint64_t first_order_ = 0, last_order_ = 0;
  std::unique_ptr<QuantileSketch> sketch_;
};

}  // namespace livehub
