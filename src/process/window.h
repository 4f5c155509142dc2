// WindowProcessor: tumbling, hopping and session windows over the events of
// a stream pattern, grouped by key fields, with aggregates per field; the
// results are events of a derived stream (docs/processing.md).
//
// Time: event time from TimeSpec (or the hub's `ts` in processing-time mode).
// watermark = max event time seen - out_of_orderness (never decreases).
// A window [start, end) emits its final result once watermark >= end +
// allowed_lateness; a record whose every window is already past that point
// is late: counted and, with emit_late, published to `<output>/late`.
// Idleness: with no input for idle_timeout (wall clock, measured at ticks),
// event time is taken to advance with the wall clock from the last record,
// so an idle source does not hold windows open forever.
// Processing-time mode: the watermark also follows the wall clock at each
// tick (minus kProcessingGraceMs for records still on their way).
//
// Bound: at most max_keys (window, key) states are open at once; a record
// that would open one more is refused for that window and counted
// (`livehub_window_refused_total`), never evicting state already held.
// Thread safety: not thread-safe (see Processor).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "metrics/metrics.h"
#include "process/aggregate.h"
#include "process/processor.h"

namespace livehub {

enum class WindowKind : uint8_t { kTumbling, kHopping, kSession };

struct WindowSpec {
  std::string name;
  std::string input;   // pattern
  std::string output;  // stream
  WindowKind kind = WindowKind::kTumbling;
  int64_t size_ms = 60'000;      // tumbling, hopping
  int64_t slide_ms = 0;          // hopping
  int64_t gap_ms = 0;            // session
  std::vector<std::string> key;  // group-by fields (dotted paths)
  TimeSpec time;
  int64_t out_of_orderness_ms = 0;
  int64_t allowed_lateness_ms = 0;
  int64_t idle_timeout_ms = 30'000;  // 0: never
  std::vector<FieldAggSpec> fields;
  int64_t early_every_ms = 0;  // 0: results on close only
  size_t max_keys = 100'000;
  double sketch_alpha = 0.01;
  bool emit_late = true;
};

class WindowProcessor final : public Processor {
 public:
  static constexpr int64_t kProcessingGraceMs = 250;
  static constexpr int64_t kMaxWindowsPerRecord = 1000;  // size / slide bound

  // `spec` must have been validated (ParseProcessConfig does).
  WindowProcessor(WindowSpec spec, MetricsRegistry* metrics);

  const std::string& name() const override { return spec_.name; }
  const Pattern& input() const override { return input_; }
  std::vector<std::string> outputs() const override;
  void OnRecord(const InputRecord& r, std::vector<Output>* out) override;
  void OnTick(int64_t now_ms, std::vector<Output>* out) override;

  int64_t watermark() const { return watermark_; }
  size_t open_states() const { return states_; }
  uint64_t late_count() const { return late_; }
  uint64_t refused_count() const { return refused_; }

 private:
  struct KeyState {
    std::string key_json;  // {"station":"12"}
    uint64_t count = 0;
    std::vector<FieldAgg> fields;
    bool dirty = false;  // changed since the last early result
  };
  // One fixed (tumbling/hopping) window: its keys in first-seen order.
  struct FixedWindow {
    int64_t end = 0;
    std::vector<KeyState> keys;
    std::unordered_map<std::string, size_t> index;
  };
  struct Session {
    int64_t start = 0, end = 0;
    KeyState state;
  };

  void Accumulate(KeyState* ks, int64_t t);
  bool AdmitNewState();
  void AddFixed(const std::string& key, int64_t t, bool* placed);
  void AddSession(const std::string& key, int64_t t, bool* placed);
  void Advance(int64_t wm, std::vector<Output>* out);
  void CloseReady(std::vector<Output>* out);
  void EmitEarly(std::vector<Output>* out);
  void Write(int64_t start, int64_t end, const KeyState& ks, bool final, std::vector<Output>* out);
  void EmitLate(const InputRecord& r, int64_t t, std::vector<Output>* out);

  const WindowSpec spec_;
  Pattern input_;
  std::string late_stream_;
  std::vector<std::string> time_path_;
  std::vector<std::vector<std::string>> key_paths_;
  std::vector<std::vector<std::string>> field_paths_;
  std::vector<bool> field_sketch_;
  RecordReader reader_;

  int64_t max_event_ms_ = INT64_MIN;
  int64_t watermark_ = INT64_MIN;
  uint64_t order_ = 0;  // arrival order of records
  bool input_since_tick_ = false;
  int64_t last_input_wall_ms_ = INT64_MIN;
  int64_t last_early_ms_ = INT64_MIN;

  std::map<int64_t, FixedWindow> fixed_;                              // by start
  std::map<std::string, std::vector<Session>> sessions_;              // by key; sorted by start
  std::set<std::tuple<int64_t, std::string, int64_t>> session_ends_;  // (end, key, start)
  size_t states_ = 0;
  uint64_t late_ = 0;
  uint64_t refused_ = 0;

  Counter* m_in_;
  Counter* m_out_;
  Counter* m_late_;
  Counter* m_refused_;
  Counter* m_no_time_;
  Gauge* m_states_;
  Gauge* m_watermark_;
};

}  // namespace livehub
