#include "process/window.h"

#include <algorithm>
#include <cmath>

#include "core/json_writer.h"

namespace livehub {
namespace {

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::string Label(const std::string& name) { return "processor=\"" + PromLabelValue(name) + "\""; }

}  // namespace

WindowProcessor::WindowProcessor(WindowSpec spec, MetricsRegistry* metrics)
    : spec_(std::move(spec)), input_(*Pattern::Parse(spec_.input)) {
  late_stream_ = spec_.output + "/late";
  if (!spec_.time.processing_time && !spec_.time.from_schema) {
    time_path_ = *ParseFieldPath(spec_.time.field);
  }
  for (const std::string& k : spec_.key) key_paths_.push_back(*ParseFieldPath(k));
  for (const FieldAggSpec& f : spec_.fields) {
    field_paths_.push_back(*ParseFieldPath(f.field));
    field_sketch_.push_back(f.NeedsSketch());
  }
  const std::string l = Label(spec_.name);
  m_in_ = metrics->GetCounter("process_events_in_total", "Events read by each processor.", l);
  m_out_ = metrics->GetCounter("process_outputs_total", "Events each processor published.", l);
  m_late_ = metrics->GetCounter("window_late_events_total",
                                "Events that arrived after all their windows closed.", l);
  m_refused_ =
      metrics->GetCounter("window_refused_total", "Events refused for a window, by reason.",
                          l + ",reason=\"max_keys\"");
  m_no_time_ =
      metrics->GetCounter("process_skipped_total", "Events a processor skipped, by reason.",
                          l + ",reason=\"no_event_time\"");
  m_states_ = metrics->GetGauge("window_open_states", "Open (window, key) states.", l);
  m_watermark_ = metrics->GetGauge("window_watermark_ms", "Event-time watermark (ms).", l);
}

std::vector<std::string> WindowProcessor::outputs() const {
  std::vector<std::string> o{spec_.output};
  if (spec_.emit_late) o.push_back(late_stream_);
  return o;
}

void WindowProcessor::OnRecord(const InputRecord& r, std::vector<Output>* out) {
  m_in_->Add();
  std::optional<int64_t> t;
  if (reader_.Parse(r.data)) t = EventTimeOf(r, reader_, spec_.time, time_path_);
  if (!t) {
    m_no_time_->Add();
    return;
  }
  ++order_;
  input_since_tick_ = true;
  if (*t > max_event_ms_) max_event_ms_ = *t;

  const std::string key = GroupKeyJson(reader_, spec_.key, key_paths_);

  bool placed = false;  // into at least one open window
  if (spec_.kind == WindowKind::kSession) {
    AddSession(key, *t, &placed);
  } else {
    AddFixed(key, *t, &placed);
  }
  if (!placed && watermark_ != INT64_MIN) {
    // Not placed: late (all windows closed) or refused (counted there).
    const int64_t end = spec_.kind == WindowKind::kSession
                            ? *t + spec_.gap_ms
                            : (FloorDiv(*t, spec_.slide_ms) * spec_.slide_ms + spec_.size_ms);
    if (end + spec_.allowed_lateness_ms <= watermark_) EmitLate(r, *t, out);
  }
  Advance(max_event_ms_ - spec_.out_of_orderness_ms, out);
  m_states_->Set(static_cast<int64_t>(states_));
}

bool WindowProcessor::AdmitNewState() {
  if (states_ >= spec_.max_keys) {
    ++refused_;
    m_refused_->Add();
    return false;
  }
  ++states_;
  return true;
}

void WindowProcessor::Accumulate(KeyState* ks, int64_t t) {
  ++ks->count;
  ks->dirty = true;
  if (ks->fields.size() != field_paths_.size()) ks->fields.resize(field_paths_.size());
  for (size_t i = 0; i < field_paths_.size(); ++i) {
    if (auto x = reader_.Number(field_paths_[i]); x && std::isfinite(*x)) {
      ks->fields[i].Add(*x, t, order_, spec_.sketch_alpha, field_sketch_[i]);
    }
  }
}

void WindowProcessor::AddFixed(const std::string& key, int64_t t, bool* placed) {
  const int64_t slide = spec_.slide_ms, size = spec_.size_ms;
  const int64_t last_start = FloorDiv(t, slide) * slide;
  const int64_t n = (size + slide - 1) / slide;
  for (int64_t i = n - 1; i >= 0; --i) {  // ascending starts
    const int64_t start = last_start - i * slide;
    const int64_t end = start + size;
    if (end <= t) continue;
    if (watermark_ != INT64_MIN && end + spec_.allowed_lateness_ms <= watermark_) continue;
    FixedWindow& fw = fixed_[start];
    fw.end = end;
    auto it = fw.index.find(key);
    KeyState* ks;
    if (it == fw.index.end()) {
      if (!AdmitNewState()) continue;
      fw.index.emplace(key, fw.keys.size());
      fw.keys.push_back(KeyState{key, 0, {}, false});
      ks = &fw.keys.back();
    } else {
      ks = &fw.keys[it->second];
    }
    Accumulate(ks, t);
    *placed = true;
  }
}

void WindowProcessor::AddSession(const std::string& key, int64_t t, bool* placed) {
  const int64_t end = t + spec_.gap_ms;
  if (watermark_ != INT64_MIN && end + spec_.allowed_lateness_ms <= watermark_) return;
  auto sit = sessions_.find(key);
  std::vector<Session>* v = sit == sessions_.end() ? nullptr : &sit->second;
  // Sessions of this key that [t, end) overlaps (sorted by start, disjoint).
  size_t first = SIZE_MAX, last = 0;
  if (v) {
    for (size_t i = 0; i < v->size(); ++i) {
      if ((*v)[i].start < end && t < (*v)[i].end) {
        if (first == SIZE_MAX) first = i;
        last = i;
      }
    }
  }
  if (first == SIZE_MAX) {
    if (!AdmitNewState()) return;
    if (!v) v = &sessions_[key];
    Session s{t, end, KeyState{key, 0, {}, false}};
    auto pos = std::lower_bound(v->begin(), v->end(), t,
                                [](const Session& a, int64_t st) { return a.start < st; });
    pos = v->insert(pos, std::move(s));
    session_ends_.emplace(end, key, t);
    Accumulate(&pos->state, t);
    *placed = true;
    return;
  }
  // Merge sessions first..last and the new event into one.
  Session& into = (*v)[first];
  session_ends_.erase({into.end, key, into.start});
  int64_t new_start = std::min(into.start, t);
  int64_t new_end = std::max(into.end, end);
  for (size_t i = first + 1; i <= last; ++i) {
    Session& s = (*v)[i];
    session_ends_.erase({s.end, key, s.start});
    new_end = std::max(new_end, s.end);
    into.state.count += s.state.count;
    if (into.state.fields.size() < s.state.fields.size())
      into.state.fields.resize(s.state.fields.size());
    for (size_t f = 0; f < s.state.fields.size(); ++f)
      into.state.fields[f].Merge(s.state.fields[f]);
    --states_;
  }
  v->erase(v->begin() + static_cast<std::ptrdiff_t>(first) + 1,
           v->begin() + static_cast<std::ptrdiff_t>(last) + 1);
  Session& merged = (*v)[first];
  merged.start = new_start;
  merged.end = new_end;
  session_ends_.emplace(new_end, key, new_start);
  Accumulate(&merged.state, t);
  *placed = true;
}

void WindowProcessor::Advance(int64_t wm, std::vector<Output>* out) {
  if (wm <= watermark_) return;
  watermark_ = wm;
  m_watermark_->Set(wm);
  CloseReady(out);
}

void WindowProcessor::CloseReady(std::vector<Output>* out) {
  const int64_t lateness = spec_.allowed_lateness_ms;
  while (!fixed_.empty() && fixed_.begin()->second.end + lateness <= watermark_) {
    const auto& [start, fw] = *fixed_.begin();
    for (const KeyState& ks : fw.keys) Write(start, fw.end, ks, true, out);
    states_ -= fw.keys.size();
    fixed_.erase(fixed_.begin());
  }
  while (!session_ends_.empty() && std::get<0>(*session_ends_.begin()) + lateness <= watermark_) {
    auto [end, key, start] = *session_ends_.begin();
    session_ends_.erase(session_ends_.begin());
    auto sit = sessions_.find(key);
    if (sit == sessions_.end()) continue;
    auto& v = sit->second;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (it->start == start) {
        Write(start, end, it->state, true, out);
        v.erase(it);
        --states_;
        break;
      }
    }
    if (v.empty()) sessions_.erase(sit);
  }
  m_states_->Set(static_cast<int64_t>(states_));
}

void WindowProcessor::EmitEarly(std::vector<Output>* out) {
  for (auto& [start, fw] : fixed_) {
    for (KeyState& ks : fw.keys) {
      if (ks.dirty) Write(start, fw.end, ks, false, out);
      ks.dirty = false;
    }
  }
  // Sessions in (end, key, start) order, as they would close.
  for (const auto& [end, key, start] : session_ends_) {
    for (Session& s : sessions_[key]) {
      if (s.start == start && s.state.dirty) {
        Write(s.start, s.end, s.state, false, out);
        s.state.dirty = false;
      }
    }
  }
}

void WindowProcessor::OnTick(int64_t now_ms, std::vector<Output>* out) {
  if (input_since_tick_) {
    last_input_wall_ms_ = now_ms;
    input_since_tick_ = false;
  }
  if (spec_.time.processing_time) {
    Advance(now_ms - kProcessingGraceMs - spec_.out_of_orderness_ms, out);
  } else if (spec_.idle_timeout_ms > 0 && max_event_ms_ != INT64_MIN &&
             last_input_wall_ms_ != INT64_MIN &&
             now_ms - last_input_wall_ms_ >= spec_.idle_timeout_ms) {
    // Idle: event time is taken to keep pace with the wall clock.
    Advance(max_event_ms_ + (now_ms - last_input_wall_ms_), out);
  }
  if (spec_.early_every_ms > 0) {
    if (last_early_ms_ == INT64_MIN) {
      last_early_ms_ = now_ms;
    } else if (now_ms - last_early_ms_ >= spec_.early_every_ms) {
      EmitEarly(out);
      last_early_ms_ = now_ms;
    }
  }
}

void WindowProcessor::Write(int64_t start, int64_t end, const KeyState& ks, bool final,
                            std::vector<Output>* out) {
  std::string data;
  JsonWriter w(&data);
  w.BeginObject().Field("start", start).Field("end", end);
  w.Key("key").Raw(ks.key_json);
  w.Field("count", ks.count);
  w.Key("values").BeginObject();
  for (size_t i = 0; i < spec_.fields.size(); ++i) {
    w.Key(spec_.fields[i].field);
    if (i < ks.fields.size()) {
      ks.fields[i].Write(spec_.fields[i], &w);
    } else {
      FieldAgg().Write(spec_.fields[i], &w);
    }
  }
  w.EndObject();
  w.Field("final", final);
  w.EndObject();
  out->push_back(Output{spec_.output, std::move(data)});
  m_out_->Add();
}

void WindowProcessor::EmitLate(const InputRecord& r, int64_t t, std::vector<Output>* out) {
  ++late_;
  m_late_->Add();
  if (!spec_.emit_late) return;
  std::string data;
  JsonWriter w(&data);
  w.BeginObject().Field("stream", r.stream).Field("seq", r.seq).Field("event_time", t);
  w.Field("watermark", watermark_);
  w.Key("data").Raw(r.data);
  w.EndObject();
  out->push_back(Output{late_stream_, std::move(data)});
  m_out_->Add();
}

}  // namespace livehub
