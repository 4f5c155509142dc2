// AlertProcessor: one alert rule over a stream pattern, writing alert events
// to an alert stream (docs/processing.md, "Alerts"):
//   threshold     `when` holds (for `for_ms` of event time) -> ThresholdAlert
//                 "firing"; `clear` holds (default: `when` no longer holds)
//                 -> ThresholdAlert "resolved". Hysteresis = a separate clear.
//   zscore        |x - mean| / stddev over the key's previous `window` values
//                 >= threshold -> AnomalyDetected
//   ewma          the same against an exponentially weighted mean/variance
//   source_health `$sys/events` health: a source entering stalled or
//                 disconnected after being up -> DataSourceDown; back to
//                 receiving -> DataSourceRecovered
// Every alert is {type, time, level, rule, stream, key, value, message, ...}.
// State is per key (group-by fields), at most max_keys keys; a record of a
// new key past that is refused and counted (`livehub_alert_refused_total`).
// Thread safety: not thread-safe (see Processor).
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "metrics/metrics.h"
#include "process/condition.h"
#include "process/processor.h"

namespace livehub {

enum class AlertKind : uint8_t { kThreshold, kZScore, kEwma, kSourceHealth };
enum class AlertLevel : uint8_t { kInfo, kWarning, kCritical };
const char* AlertLevelName(AlertLevel l);

struct AlertSpec {
  std::string name;
  AlertKind kind = AlertKind::kThreshold;
  std::string input;   // pattern (source_health: "$sys/events")
  std::string output;  // alert stream
  std::vector<std::string> key;
  AlertLevel level = AlertLevel::kWarning;
  TimeSpec time = TimeSpec::ProcessingTime();  // event time for for_s (default: hub ts)
  size_t max_keys = 10'000;
  size_t recent = 50;  // GET /v1/alerts/{stream} shows this many, newest first
  // threshold
  Condition when;
  std::optional<Condition> clear;
  int64_t for_ms = 0;
  // zscore / ewma
  std::string field;
  size_t window = 100;      // zscore: values kept per key
  double alpha = 0.1;       // ewma smoothing
  double threshold = 3.0;   // |score| at or above which it fires
  size_t min_samples = 10;  // values seen before scoring
  // source_health
  std::vector<std::string> sources;  // source ids; empty: all
};

class AlertProcessor final : public Processor {
 public:
  AlertProcessor(AlertSpec spec, MetricsRegistry* metrics);

  const std::string& name() const override { return spec_.name; }
  const Pattern& input() const override { return input_; }
  std::vector<std::string> outputs() const override { return {spec_.output}; }
  bool is_alert() const override { return true; }
  const AlertSpec& spec() const { return spec_; }

  void OnRecord(const InputRecord& r, std::vector<Output>* out) override;
  void OnTick(int64_t, std::vector<Output>*) override {}

 private:
  struct KeyState {
    // threshold
    bool firing = false;
    bool pending = false;
    int64_t pending_since = 0;
    // zscore
    std::deque<double> values;
    // ewma
    uint64_t n = 0;
    double mean = 0, var = 0;
    // source_health
    bool up = false, down = false;
  };

  KeyState* StateFor(const std::string& key);
  void Threshold(const InputRecord& r, const std::string& key, int64_t t, std::vector<Output>* out);
  void Anomaly(const InputRecord& r, const std::string& key, int64_t t, std::vector<Output>* out);
  void Health(const InputRecord& r, int64_t t, std::vector<Output>* out);
  void Emit(const char* type, const char* state, AlertLevel level, int64_t t,
            std::string_view stream, const std::string& key, double value, bool has_value,
            const std::string& message, std::string_view extra, std::vector<Output>* out);

  const AlertSpec spec_;
  Pattern input_;
  std::vector<std::string> time_path_;
  std::vector<std::vector<std::string>> key_paths_;
  std::vector<std::string> field_path_;
  RecordReader reader_;
  std::unordered_map<std::string, KeyState> keys_;
  Counter* m_in_;
  Counter* m_refused_;
  Counter* m_skipped_;
  Counter* m_level_[3];  // alerts_total by level
};

}  // namespace livehub
