#include "source/mock_generator.h"

#include <simdjson.h>

#include <cmath>

namespace livehub {
namespace {

Status Bad(std::string_view key, std::string_view want) {
  return Status::InvalidArgument("bad_control",
                                 "'" + std::string(key) + "' must be " + std::string(want));
}

}  // namespace

Status ApplyMockControl(std::string_view json, MockOptions* o, MockActions* actions) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS) {
    return Status::InvalidArgument("bad_json", "control body must be a JSON object");
  }
  simdjson::dom::object obj;
  if (root.get(obj) != simdjson::SUCCESS) {
    return Status::InvalidArgument("bad_json", "control body must be a JSON object");
  }
  MockOptions next = *o;
  MockActions act;
  for (auto field : obj) {
    // Named copies: clang 14 cannot capture structured bindings in a lambda.
    std::string_view key = field.key;
    auto value = field.value;
    double num = 0;
    bool is_num = value.is_number();
    if (is_num)
      num = value.is_int64()    ? double(int64_t(value))
            : value.is_uint64() ? double(uint64_t(value))
                                : double(value);
    auto number = [&](double lo, double hi, std::string_view want, double* out) -> Status {
      if (!is_num || !(num >= lo && num <= hi)) return Bad(key, want);
      *out = num;
      return Status::Ok();
    };
    double v = 0;
    Status st;
    if (key == "running" || key == "disconnect") {
      bool b;
      if (value.get(b) != simdjson::SUCCESS) return Bad(key, "true or false");
      if (key == "running")
        next.running = b;
      else
        act.disconnect = b;
    } else if (key == "interval_ms") {
      if (!(st = number(1, 3'600'000, "1..3600000", &v)).ok()) return st;
      next.interval_ms = static_cast<int64_t>(v);
    } else if (key == "rate") {
      if (!(st = number(0.001, 1000, "a tick rate in 0.001..1000 per second", &v)).ok()) return st;
      next.interval_ms = std::max<int64_t>(1, static_cast<int64_t>(std::llround(1000 / v)));
    } else if (key == "batch_size") {
      if (!(st = number(1, 10'000, "1..10000", &v)).ok()) return st;
      next.batch_size = static_cast<int>(v);
    } else if (key == "streams") {
      if (!(st = number(1, 10'000, "1..10000", &v)).ok()) return st;
      next.streams = static_cast<int>(v);
    } else if (key == "payload_bytes") {
      if (!(st = number(0, 1 << 20, "0..1048576", &v)).ok()) return st;
      next.payload_bytes = static_cast<size_t>(v);
    } else if (key == "drop_pct") {
      if (!(st = number(0, 100, "0..100", &v)).ok()) return st;
      next.drop_pct = v;
    } else if (key == "jitter_ms") {
      if (!(st = number(0, 60'000, "0..60000", &v)).ok()) return st;
      next.jitter_ms = static_cast<int64_t>(v);
    } else if (key == "burst_every") {
      if (!(st = number(0, 1'000'000, "0..1000000 ticks", &v)).ok()) return st;
      next.burst_every = static_cast<int>(v);
    } else if (key == "burst_size") {
      if (!(st = number(0, 100'000, "0..100000", &v)).ok()) return st;
      next.burst_size = static_cast<int>(v);
    } else if (key == "skip") {
      if (!(st = number(0, 1e12, "a count of sequences to skip", &v)).ok()) return st;
      act.skip = static_cast<uint64_t>(v);
    } else if (key == "stall_s") {
      if (!(st = number(0, 3600, "0..3600 seconds", &v)).ok()) return st;
      act.stall_ms = static_cast<int64_t>(v * 1000);
    } else if (key == "shape") {
      std::string_view s;
      if (value.get(s) != simdjson::SUCCESS || (s != "sensor" && s != "ticker" && s != "counter")) {
        return Bad(key, "sensor, ticker or counter");
      }
      next.shape = std::string(s);
    } else {
      return Status::InvalidArgument(
          "bad_control", "unknown control '" + std::string(key) +
                             "' (known: running, rate, interval_ms, batch_size, streams, "
                             "payload_bytes, shape, drop_pct, jitter_ms, burst_every, "
                             "burst_size, skip, stall_s, disconnect)");
    }
  }
  *o = next;
  if (actions) *actions = act;
  return Status::Ok();
}

void DescribeMock(const MockOptions& o, JsonWriter* w) {
  w->Key("mock").BeginObject();
  w->Field("running", o.running).Field("interval_ms", o.interval_ms);
  w->Field("rate", o.interval_ms > 0 ? 1000.0 / o.interval_ms : 0.0);
  w->Field("streams", o.streams).Field("batch_size", o.batch_size).Field("shape", o.shape);
  w->Field("payload_bytes", static_cast<uint64_t>(o.payload_bytes));
  w->Field("drop_pct", o.drop_pct).Field("jitter_ms", o.jitter_ms);
  w->Field("burst_every", o.burst_every).Field("burst_size", o.burst_size);
  w->EndObject();
}

MockGenerator::MockGenerator(MockOptions o) : o_(std::move(o)), rng_(o_.seed) {}

int64_t MockGenerator::NextDelayMs() {
  if (o_.jitter_ms <= 0) return o_.interval_ms;
  std::uniform_int_distribution<int64_t> j(0, o_.jitter_ms);
  return o_.interval_ms + j(rng_);
}

void MockGenerator::Record(size_t i, int64_t now_ms, std::string* out) {
  std::normal_distribution<double> noise(0, 1);
  JsonWriter w(out);
  w.BeginObject().Field("mock_seq", seq_[i]).Field("t", now_ms);
  if (o_.shape == "ticker") {
    value_[i] = std::max(0.01, value_[i] * (1 + 0.001 * noise(rng_)));
    w.Field("price", std::round(value_[i] * 100) / 100);
    w.Field("size", std::round(std::abs(noise(rng_)) * 1000) / 1000);
  } else if (o_.shape == "counter") {
    w.Field("value", static_cast<int64_t>(seq_[i]));
  } else {
    value_[i] += 0.05 * std::sin(static_cast<double>(ticks_) / 50) + 0.1 * noise(rng_);
    w.Field("value", std::round(value_[i] * 100) / 100);
  }
  size_t base = out->size() + 1;
  if (o_.payload_bytes > base + 10) w.Field("pad", std::string(o_.payload_bytes - base - 10, 'x'));
  w.EndObject();
}

std::vector<std::pair<std::string, std::string>> MockGenerator::Tick(int64_t now_ms) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!o_.running) return out;
  ++ticks_;
  if (seq_.size() != static_cast<size_t>(o_.streams)) {
    seq_.resize(o_.streams, 0);
    value_.resize(o_.streams, 20.0);
  }
  int per_stream = o_.batch_size;
  if (o_.burst_every > 0 && ticks_ % o_.burst_every == 0) per_stream += o_.burst_size;
  std::uniform_real_distribution<double> u(0, 100);
  for (size_t i = 0; i < seq_.size(); ++i) {
    std::string msg = "[";
    bool any = false;
    for (int k = 0; k < per_stream; ++k) {
      seq_[i] += 1 + pending_skip_;
      pending_skip_ = 0;
      ++made_;
      if (o_.drop_pct > 0 && u(rng_) < o_.drop_pct) {
        ++lost_;
        continue;
      }
      if (any) msg.push_back(',');
      Record(i, now_ms, &msg);
      any = true;
    }
    if (!any) continue;
    msg.push_back(']');
    out.emplace_back("m" + std::to_string(i + 1), std::move(msg));
  }
  return out;
}

}  // namespace livehub
