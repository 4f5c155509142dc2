#include "process/alert.h"

#include <cmath>

#include "core/json_writer.h"

namespace livehub {
namespace {

std::string Num(double v) {
  std::string s;
  JsonWriter(&s).Double(v);
  return s;
}

}  // namespace

const char* AlertLevelName(AlertLevel l) {
  switch (l) {
    case AlertLevel::kInfo:
      return "info";
    case AlertLevel::kWarning:
      return "warning";
    case AlertLevel::kCritical:
      return "critical";
  }
  return "?";
}

AlertProcessor::AlertProcessor(AlertSpec spec, MetricsRegistry* metrics)
    : spec_(std::move(spec)), input_(*Pattern::Parse(spec_.input)) {
  if (!spec_.time.processing_time && !spec_.time.from_schema) {
    time_path_ = *ParseFieldPath(spec_.time.field);
  }
  for (const std::string& k : spec_.key) key_paths_.push_back(*ParseFieldPath(k));
  if (!spec_.field.empty()) field_path_ = *ParseFieldPath(spec_.field);
  const std::string l = "processor=\"" + PromLabelValue(spec_.name) + "\"";
  m_in_ = metrics->GetCounter("process_events_in_total", "Events read by each processor.", l);
  m_refused_ = metrics->GetCounter("alert_refused_total",
                                   "Events of a new key refused by an alert rule (max_keys).", l);
  m_skipped_ =
      metrics->GetCounter("process_skipped_total", "Events a processor skipped, by reason.",
                          l + ",reason=\"no_event_time\"");
  // Severity counters exist (at 0) from the start, so dashboards see them.
  for (AlertLevel lv : {AlertLevel::kInfo, AlertLevel::kWarning, AlertLevel::kCritical}) {
    m_level_[static_cast<int>(lv)] = metrics->GetCounter(
        "alerts_total", "Alerts raised, by rule and level.",
        "rule=\"" + PromLabelValue(spec_.name) + "\",level=\"" + AlertLevelName(lv) + "\"");
  }
}

AlertProcessor::KeyState* AlertProcessor::StateFor(const std::string& key) {
  auto it = keys_.find(key);
  if (it != keys_.end()) return &it->second;
  if (keys_.size() >= spec_.max_keys) {
    m_refused_->Add();
    return nullptr;
  }
  return &keys_[key];
}

void AlertProcessor::OnRecord(const InputRecord& r, std::vector<Output>* out) {
  m_in_->Add();
  if (!reader_.Parse(r.data)) return;
  std::optional<int64_t> t = EventTimeOf(r, reader_, spec_.time, time_path_);
  if (!t) {
    m_skipped_->Add();
    return;
  }
  if (spec_.kind == AlertKind::kSourceHealth) return Health(r, *t, out);
  const std::string key = GroupKeyJson(reader_, spec_.key, key_paths_);
  if (spec_.kind == AlertKind::kThreshold) {
    Threshold(r, key, *t, out);
  } else {
    Anomaly(r, key, *t, out);
  }
}

void AlertProcessor::Threshold(const InputRecord& r, const std::string& key, int64_t t,
                               std::vector<Output>* out) {
  std::optional<bool> when = Evaluate(spec_.when, reader_);
  if (!when) return;  // field missing or of another type: no change
  KeyState* ks = StateFor(key);
  if (!ks) return;
  const std::optional<double> value = reader_.Number(spec_.when.path);
  if (ks->firing) {
    std::optional<bool> clear =
        spec_.clear ? Evaluate(*spec_.clear, reader_) : std::optional<bool>(!*when);
    if (clear && *clear) {
      ks->firing = false;
      const std::string msg =
          "cleared: " + (spec_.clear ? spec_.clear->text : "not (" + spec_.when.text + ")");
      Emit("ThresholdAlert", "resolved", AlertLevel::kInfo, t, r.stream, key, value.value_or(0),
           value.has_value(), msg, {}, out);
    }
    return;
  }
  if (!*when) {
    ks->pending = false;
    return;
  }
  if (!ks->pending) {
    ks->pending = true;
    ks->pending_since = t;
  }
  if (t - ks->pending_since < spec_.for_ms) return;
  ks->firing = true;
  ks->pending = false;
  std::string msg = spec_.when.text;
  if (value) msg += " (value " + Num(*value) + ")";
  if (spec_.for_ms > 0)
    msg += " for " + Num(static_cast<double>(t - ks->pending_since) / 1000) + " s";
  std::string extra = ",\"since\":" + std::to_string(ks->pending_since);
  Emit("ThresholdAlert", "firing", spec_.level, t, r.stream, key, value.value_or(0),
       value.has_value(), msg, extra, out);
}

void AlertProcessor::Anomaly(const InputRecord& r, const std::string& key, int64_t t,
                             std::vector<Output>* out) {
  std::optional<double> x = reader_.Number(field_path_);
  if (!x || !std::isfinite(*x)) return;
  KeyState* ks = StateFor(key);
  if (!ks) return;
  double mean = 0, sd = 0;
  bool scored = false;
  if (spec_.kind == AlertKind::kZScore) {
    if (ks->values.size() >= spec_.min_samples && !ks->values.empty()) {
      double sum = 0;
      for (double v : ks->values) sum += v;
      mean = sum / static_cast<double>(ks->values.size());
      double ss = 0;
      for (double v : ks->values) ss += (v - mean) * (v - mean);
      sd = std::sqrt(ss / static_cast<double>(ks->values.size()));
      scored = true;
    }
    ks->values.push_back(*x);
    if (ks->values.size() > spec_.window) ks->values.pop_front();
  } else {
    if (ks->n >= spec_.min_samples) {
      mean = ks->mean;
      sd = std::sqrt(ks->var);
      scored = true;
    }
    if (ks->n == 0) {
      ks->mean = *x;
      ks->var = 0;
    } else {
      const double d = *x - ks->mean;
      ks->mean += spec_.alpha * d;
      ks->var = (1 - spec_.alpha) * (ks->var + spec_.alpha * d * d);
    }
    ++ks->n;
  }
  if (!scored) return;
  const double dev = *x - mean;
  double score;
  if (sd > 0) {
    score = dev / sd;
  } else if (dev != 0) {
    score = dev > 0 ? INFINITY : -INFINITY;  // constant history, then a change
  } else {
    return;
  }
  if (std::fabs(score) < spec_.threshold) return;
  const char* method = spec_.kind == AlertKind::kZScore ? "zscore" : "ewma";
  std::string msg =
      spec_.field + " = " + Num(*x) + " is " +
      (std::isfinite(score) ? Num(std::round(score * 100) / 100) : std::string("inf")) +
      " sd from the " + method + " mean " + Num(mean);
  std::string extra;
  JsonWriter w(&extra);
  w.Field("method", method).Field("mean", mean).Field("stddev", sd);
  w.Key("score").Double(std::isfinite(score) ? score : (score > 0 ? 1e308 : -1e308));
  Emit("AnomalyDetected", "firing", spec_.level, t, r.stream, key, *x, true, msg, "," + extra, out);
}

void AlertProcessor::Health(const InputRecord& r, int64_t t, std::vector<Output>* out) {
  auto ev = reader_.Get({"event"});
  auto src = reader_.Get({"source"});
  auto st = reader_.Get({"state"});
  if (!ev || !src || !st || !ev->is_string() || !src->is_string() || !st->is_string()) return;
  if (ev->get_string().value_unsafe() != "health") return;
  const std::string source(src->get_string().value_unsafe());
  const std::string_view state = st->get_string().value_unsafe();
  if (!spec_.sources.empty()) {
    bool wanted = false;
    for (const std::string& s : spec_.sources) wanted |= s == source;
    if (!wanted) return;
  }
  std::string key;
  JsonWriter(&key).BeginObject().Field("source", source).EndObject();
  KeyState* ks = StateFor(key);
  if (!ks) return;
  const bool up_state = state == "receiving" || state == "subscribed";
  const bool down_state = state == "stalled" || state == "disconnected";
  std::string extra;
  JsonWriter w(&extra);
  w.Field("source", source).Field("source_state", state);
  if (auto e = reader_.Get({"last_error"}); e && e->is_string()) {
    w.Field("last_error", e->get_string().value_unsafe());
  }
  if (down_state && ks->up && !ks->down) {
    ks->down = true;
    Emit("DataSourceDown", "firing", spec_.level, t, r.stream, key, 0, false,
         "source '" + source + "' is " + std::string(state), "," + extra, out);
  } else if (state == "receiving" && ks->down) {
    ks->down = false;
    Emit("DataSourceRecovered", "resolved", AlertLevel::kInfo, t, r.stream, key, 0, false,
         "source '" + source + "' is receiving again", "," + extra, out);
  }
  if (up_state) ks->up = true;
}

void AlertProcessor::Emit(const char* type, const char* state, AlertLevel level, int64_t t,
                          std::string_view stream, const std::string& key, double value,
                          bool has_value, const std::string& message, std::string_view extra,
                          std::vector<Output>* out) {
  std::string data;
  JsonWriter w(&data);
  w.BeginObject().Field("type", type).Field("state", state).Field("time", t);
  w.Field("level", AlertLevelName(level)).Field("rule", spec_.name).Field("stream", stream);
  w.Key("key").Raw(key);
  w.Key("value");
  if (has_value)
    w.Double(value);
  else
    w.Null();
  w.Field("message", message);
  data.append(extra);
  w.EndObject();
  out->push_back(Output{spec_.output, std::move(data), true});
  m_level_[static_cast<int>(level)]->Add();
}

}  // namespace livehub
