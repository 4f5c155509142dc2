#include "process/aggregate.h"

#include <cmath>
#include <limits>

namespace livehub {
namespace {

struct OpName {
  AggOp op;
  const char* name;
};
constexpr OpName kOps[] = {
    {AggOp::kCount, "count"}, {AggOp::kSum, "sum"},       {AggOp::kAvg, "avg"},
    {AggOp::kMin, "min"},     {AggOp::kMax, "max"},       {AggOp::kFirst, "first"},
    {AggOp::kLast, "last"},   {AggOp::kStddev, "stddev"}, {AggOp::kP50, "p50"},
    {AggOp::kP95, "p95"},     {AggOp::kP99, "p99"}};

}  // namespace

Result<AggOp> ParseAggOp(std::string_view name) {
  std::string known;
  for (const OpName& o : kOps) {
    if (name == o.name) return o.op;
    known += (known.empty() ? "" : ", ") + std::string(o.name);
  }
  return Status::InvalidArgument(
      "bad_config", "unknown aggregate '" + std::string(name) + "' (known: " + known + ")");
}

const char* AggOpName(AggOp op) {
  for (const OpName& o : kOps) {
    if (o.op == op) return o.name;
  }
  return "?";
}

bool FieldAggSpec::NeedsSketch() const {
  for (AggOp op : ops) {
    if (op == AggOp::kP50 || op == AggOp::kP95 || op == AggOp::kP99) return true;
  }
  return false;
}

void FieldAgg::Add(double x, int64_t time_ms, uint64_t order, double sketch_alpha, bool sketch) {
  if (count_ == 0) {
    min_ = max_ = first_ = last_ = x;
    first_time_ = last_time_ = time_ms;
    first_order_ = last_order_ = order;
  } else {
    if (x < min_) min_ = x;
    if (x > max_) max_ = x;
    if (time_ms < first_time_ || (time_ms == first_time_ && order < first_order_)) {
      first_ = x;
      first_time_ = time_ms;
      first_order_ = order;
    }
    if (time_ms > last_time_ || (time_ms == last_time_ && order > last_order_)) {
      last_ = x;
      last_time_ = time_ms;
      last_order_ = order;
    }
  }
  ++count_;
  sum_ += x;
  const double delta = x - mean_;
  mean_ += delta / static_cast<double>(count_);
  m2_ += delta * (x - mean_);
  if (sketch) {
    if (!sketch_) sketch_ = std::make_unique<QuantileSketch>(sketch_alpha);
    sketch_->Add(x);
  }
}

void FieldAgg::Merge(const FieldAgg& o) {
  if (o.count_ == 0) return;
  if (count_ == 0) {
    count_ = o.count_;
    sum_ = o.sum_;
    mean_ = o.mean_;
    m2_ = o.m2_;
    min_ = o.min_;
    max_ = o.max_;
    first_ = o.first_, last_ = o.last_;
    first_time_ = o.first_time_, last_time_ = o.last_time_;
    first_order_ = o.first_order_, last_order_ = o.last_order_;
    if (o.sketch_) sketch_ = std::make_unique<QuantileSketch>(*o.sketch_);
    return;
  }
  // Chan et al.'s parallel variance.
  const double n1 = static_cast<double>(count_), n2 = static_cast<double>(o.count_);
  const double delta = o.mean_ - mean_;
  mean_ += delta * n2 / (n1 + n2);
  m2_ += o.m2_ + delta * delta * n1 * n2 / (n1 + n2);
  count_ += o.count_;
  sum_ += o.sum_;
  if (o.min_ < min_) min_ = o.min_;
  if (o.max_ > max_) max_ = o.max_;
  if (o.first_time_ < first_time_ ||
      (o.first_time_ == first_time_ && o.first_order_ < first_order_)) {
    first_ = o.first_, first_time_ = o.first_time_, first_order_ = o.first_order_;
  }
  if (o.last_time_ > last_time_ || (o.last_time_ == last_time_ && o.last_order_ > last_order_)) {
    last_ = o.last_, last_time_ = o.last_time_, last_order_ = o.last_order_;
  }
  if (o.sketch_) {
    if (!sketch_) sketch_ = std::make_unique<QuantileSketch>(o.sketch_->alpha());
    sketch_->Merge(*o.sketch_);
  }
}

void FieldAgg::Write(const FieldAggSpec& spec, JsonWriter* w) const {
  w->BeginObject();
  for (AggOp op : spec.ops) {
    w->Key(AggOpName(op));
    if (op == AggOp::kCount) {
      w->Uint(count_);
      continue;
    }
    if (count_ == 0) {
      w->Null();
      continue;
    }
    switch (op) {
      case AggOp::kSum:
        w->Double(sum_);
        break;
      case AggOp::kAvg:
        w->Double(mean_);
        break;
      case AggOp::kMin:
        w->Double(min_);
        break;
      case AggOp::kMax:
        w->Double(max_);
        break;
      case AggOp::kFirst:
        w->Double(first_);
        break;
      case AggOp::kLast:
        w->Double(last_);
        break;
      // Population standard deviation.
      case AggOp::kStddev:
        w->Double(std::sqrt(m2_ / static_cast<double>(count_)));
        break;
      case AggOp::kP50:
        w->Double(sketch_ ? sketch_->Quantile(0.50) : NAN);
        break;
      case AggOp::kP95:
        w->Double(sketch_ ? sketch_->Quantile(0.95) : NAN);
        break;
      case AggOp::kP99:
        w->Double(sketch_ ? sketch_->Quantile(0.99) : NAN);
        break;
      case AggOp::kCount:
        break;
    }
  }
  w->EndObject();
}

}  // namespace livehub
