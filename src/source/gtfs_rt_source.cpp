// The `gtfs_rt` source: see gtfs_rt_source.h and poll_source.h.
// The last header.timestamp is kept as the cursor `header_timestamp` in the
// store, so a restart does not republish a feed that has not changed.
#include "source/gtfs_rt_source.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/clock.h"
#include "core/json_writer.h"
// <netdb.h> (through Asio) defines NO_DATA, a value name in the generated
// StopTimeUpdate.ScheduleRelationship enum.
#ifdef NO_DATA
#undef NO_DATA
#endif
#include "gtfs-realtime.pb.h"
#include "stream/pattern.h"

namespace livehub {

namespace tr = transit_realtime;

// ---------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------

std::string SanitizeSegment(std::string_view s) {
  if (s.empty()) return "_";
  std::string out(s);
  for (char& c : out) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return out;
}

Status ValidateGtfsTemplate(std::string_view t) {
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '}') return Status::InvalidArgument("bad_config", "unmatched '}'");
    if (t[i] != '{') continue;
    size_t close = t.find('}', i);
    if (close == std::string_view::npos) {
      return Status::InvalidArgument("bad_config", "unterminated '{'");
    }
    std::string_view name = t.substr(i + 1, close - i - 1);
    if (name != "feed" && name != "key" && name != "entity_id") {
      return Status::InvalidArgument("bad_config", "unknown placeholder {" + std::string(name) +
                                                       "} (known: {feed}, {key}, {entity_id})");
    }
    i = close;
  }
  return Status::Ok();
}

std::string RenderGtfsStream(std::string_view t, std::string_view feed, std::string_view key,
                             std::string_view entity_id) {
  std::string out;
  for (size_t i = 0; i < t.size(); ++i) {
    size_t close = t[i] == '{' ? t.find('}', i) : std::string_view::npos;
    if (close == std::string_view::npos) {
      out.push_back(t[i]);
      continue;
    }
    std::string_view name = t.substr(i + 1, close - i - 1);
    if (name == "feed")
      out += SanitizeSegment(feed);
    else if (name == "key")
      out += SanitizeSegment(key);
    else if (name == "entity_id")
      out += SanitizeSegment(entity_id);
    i = close;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Entities -> JSON
// ---------------------------------------------------------------------------

namespace {

// Floats as their shortest round-trip text (52.52, not 52.52000045776367).
void FloatField(JsonWriter* w, std::string_view key, bool has, float v) {
  w->Key(key);
  if (!has || !std::isfinite(v)) {
    w->Null();
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  w->Raw(std::string_view(buf, r.ptr - buf));
}

void StringField(JsonWriter* w, std::string_view key, bool has, const std::string& v) {
  w->Key(key);
  if (has)
    w->String(v);
  else
    w->Null();
}

template <typename T>
void IntField(JsonWriter* w, std::string_view key, bool has, T v) {
  w->Key(key);
  if (!has)
    w->Null();
  else if constexpr (std::is_signed_v<T>)
    w->Int(static_cast<int64_t>(v));
  else
    w->Uint(static_cast<uint64_t>(v));
}

// The English translation, else the first; null when there is none.
void TextField(JsonWriter* w, std::string_view key, bool has, const tr::TranslatedString& t) {
  w->Key(key);
  if (!has || t.translation_size() == 0) {
    w->Null();
    return;
  }
  const tr::TranslatedString::Translation* pick = &t.translation(0);
  for (const auto& tl : t.translation()) {
    if (tl.language() == "en" || tl.language().starts_with("en-")) {
      pick = &tl;
      break;
    }
  }
  w->String(pick->text());
}

bool IsStale(uint64_t ts_s, int64_t now_ms, int64_t stale_after_ms) {
  if (ts_s == 0) return false;  // unknown age
  // Past what int64 milliseconds hold (a corrupt or hostile feed): far in
  // the future, so not stale — and no overflow.
  if (ts_s > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / 1000)) return false;
  return now_ms - static_cast<int64_t>(ts_s) * 1000 > stale_after_ms;
}

std::string VehicleJson(const tr::FeedEntity& e, const tr::FeedHeader& h, const GtfsRtSettings& s,
                        int64_t now_ms) {
  const tr::VehiclePosition& v = e.vehicle();
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Field("entity_id", e.id());
  StringField(&w, "vehicle_id", v.vehicle().has_id(), v.vehicle().id());
  StringField(&w, "vehicle_label", v.vehicle().has_label(), v.vehicle().label());
  StringField(&w, "trip_id", v.trip().has_trip_id(), v.trip().trip_id());
  StringField(&w, "route_id", v.trip().has_route_id(), v.trip().route_id());
  const bool pos = v.has_position();
  FloatField(&w, "lat", pos, v.position().latitude());
  FloatField(&w, "lon", pos, v.position().longitude());
  FloatField(&w, "bearing", pos && v.position().has_bearing(), v.position().bearing());
  FloatField(&w, "speed", pos && v.position().has_speed(), v.position().speed());
  IntField(&w, "timestamp", v.has_timestamp(), v.timestamp());
  StringField(&w, "current_status", v.has_current_status(),
              tr::VehiclePosition_VehicleStopStatus_Name(v.current_status()));
  IntField(&w, "current_stop_sequence", v.has_current_stop_sequence(), v.current_stop_sequence());
  StringField(&w, "stop_id", v.has_stop_id(), v.stop_id());
  uint64_t ts = v.has_timestamp() ? v.timestamp() : h.timestamp();
  w.Field("stale", IsStale(ts, now_ms, s.stale_after_ms));
  if (e.is_deleted()) w.Field("deleted", true);
  w.EndObject();
  return out;
}

void StopTimeEventFields(JsonWriter* w, std::string_view prefix, bool has,
                         const tr::TripUpdate::StopTimeEvent& ev) {
  IntField(w, std::string(prefix) + "_delay", has && ev.has_delay(), ev.delay());
  IntField(w, std::string(prefix) + "_time", has && ev.has_time(), ev.time());
}

std::string TripJson(const tr::FeedEntity& e, const tr::FeedHeader& h, const GtfsRtSettings& s,
                     int64_t now_ms) {
  const tr::TripUpdate& t = e.trip_update();
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Field("entity_id", e.id());
  StringField(&w, "trip_id", t.trip().has_trip_id(), t.trip().trip_id());
  StringField(&w, "route_id", t.trip().has_route_id(), t.trip().route_id());
  StringField(&w, "start_date", t.trip().has_start_date(), t.trip().start_date());
  StringField(&w, "start_time", t.trip().has_start_time(), t.trip().start_time());
  StringField(&w, "schedule_relationship", t.trip().has_schedule_relationship(),
              tr::TripDescriptor_ScheduleRelationship_Name(t.trip().schedule_relationship()));
  StringField(&w, "vehicle_id", t.vehicle().has_id(), t.vehicle().id());
  IntField(&w, "timestamp", t.has_timestamp(), t.timestamp());
  // The trip's delay, else the first stop's prediction.
  bool has_delay = t.has_delay();
  int32_t delay = t.delay();
  if (!has_delay && t.stop_time_update_size() > 0) {
    const auto& u = t.stop_time_update(0);
    if (u.departure().has_delay()) {
      has_delay = true;
      delay = u.departure().delay();
    } else if (u.arrival().has_delay()) {
      has_delay = true;
      delay = u.arrival().delay();
    }
  }
  IntField(&w, "delay", has_delay, delay);
  w.Key("stop_time_updates").BeginArray();
  for (const auto& u : t.stop_time_update()) {
    w.BeginObject();
    IntField(&w, "stop_sequence", u.has_stop_sequence(), u.stop_sequence());
    StringField(&w, "stop_id", u.has_stop_id(), u.stop_id());
    StopTimeEventFields(&w, "arrival", u.has_arrival(), u.arrival());
    StopTimeEventFields(&w, "departure", u.has_departure(), u.departure());
    StringField(&w, "schedule_relationship", u.has_schedule_relationship(),
                tr::TripUpdate_StopTimeUpdate_ScheduleRelationship_Name(u.schedule_relationship()));
    w.EndObject();
  }
  w.EndArray();
  uint64_t ts = t.has_timestamp() ? t.timestamp() : h.timestamp();
  w.Field("stale", IsStale(ts, now_ms, s.stale_after_ms));
  if (e.is_deleted()) w.Field("deleted", true);
  w.EndObject();
  return out;
}

std::string AlertJson(const tr::FeedEntity& e) {
  const tr::Alert& a = e.alert();
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Field("id", e.id());
  w.Field("cause", tr::Alert_Cause_Name(a.cause()));
  w.Field("effect", tr::Alert_Effect_Name(a.effect()));
  StringField(&w, "severity", a.has_severity_level(),
              tr::Alert_SeverityLevel_Name(a.severity_level()));
  TextField(&w, "header", a.has_header_text(), a.header_text());
  TextField(&w, "description", a.has_description_text(), a.description_text());
  TextField(&w, "url", a.has_url(), a.url());
  w.Key("informed_entities").BeginArray();
  for (const auto& ie : a.informed_entity()) {
    w.BeginObject();
    if (ie.has_agency_id()) w.Field("agency_id", ie.agency_id());
    if (ie.has_route_id()) w.Field("route_id", ie.route_id());
    if (ie.has_route_type()) w.Field("route_type", static_cast<int64_t>(ie.route_type()));
    if (ie.has_stop_id()) w.Field("stop_id", ie.stop_id());
    if (ie.has_direction_id()) w.Field("direction_id", static_cast<uint64_t>(ie.direction_id()));
    if (ie.has_trip() && ie.trip().has_trip_id()) w.Field("trip_id", ie.trip().trip_id());
    w.EndObject();
  }
  w.EndArray();
  w.Key("active_periods").BeginArray();
  for (const auto& p : a.active_period()) {
    w.BeginObject();
    IntField(&w, "start", p.has_start(), p.start());
    IntField(&w, "end", p.has_end(), p.end());
    w.EndObject();
  }
  w.EndArray();
  if (e.is_deleted()) w.Field("deleted", true);
  w.EndObject();
  return out;
}

}  // namespace

GtfsConversion ConvertFeed(const tr::FeedMessage& feed, const GtfsRtSettings& s, int64_t now_ms) {
  GtfsConversion c;
  const tr::FeedHeader& h = feed.header();
  for (const tr::FeedEntity& e : feed.entity()) {
    if (e.has_vehicle()) {
      const auto& v = e.vehicle();
      std::string key =
          v.vehicle().has_id() && !v.vehicle().id().empty() ? v.vehicle().id() : e.id();
      c.records.emplace_back(RenderGtfsStream(s.vehicles_stream, s.feed, key, e.id()),
                             VehicleJson(e, h, s, now_ms));
    }
    if (e.has_trip_update()) {
      const auto& t = e.trip_update();
      std::string key =
          t.trip().has_trip_id() && !t.trip().trip_id().empty() ? t.trip().trip_id() : e.id();
      c.records.emplace_back(RenderGtfsStream(s.trips_stream, s.feed, key, e.id()),
                             TripJson(e, h, s, now_ms));
    }
    if (e.has_alert()) {
      c.records.emplace_back(RenderGtfsStream(s.alerts_stream, s.feed, e.id(), e.id()),
                             AlertJson(e));
    }
    if (!e.has_vehicle() && !e.has_trip_update() && !e.has_alert()) ++c.unsupported;
  }
  return c;
}

// ---------------------------------------------------------------------------
// The source
// ---------------------------------------------------------------------------

namespace {

constexpr char kCursorKey[] = "header_timestamp";

class GtfsRtSource : public PollingSource {
 public:
  GtfsRtSource(SourceContext* ctx, SourceOptions options, GtfsRtSettings s)
      : PollingSource(ctx, std::move(options), s.poll), s_(std::move(s)) {}

 protected:
  void DoStart() override {
    if (auto c = LoadCursor(kCursorKey)) {
      uint64_t v = 0;
      auto r = std::from_chars(c->data(), c->data() + c->size(), v);
      if (r.ec == std::errc()) last_header_ts_ = v;
    }
    PollingSource::DoStart();
  }

  void Describe(JsonWriter* w) const override {
    DescribePoll(w);
    w->Field("feed", s_.feed).Field("stale_after_ms", s_.stale_after_ms);
    w->Field("vehicles_stream", s_.vehicles_stream).Field("trips_stream", s_.trips_stream);
    w->Field("alerts_stream", s_.alerts_stream);
    w->Key("header_timestamp");
    if (last_header_ts_)
      w->Uint(last_header_ts_);
    else
      w->Null();
    w->Field("entities", entities_);
  }

  bool OnBody(const FetchResult& r) override {
    tr::FeedMessage feed;
    if (!feed.ParseFromString(r.body)) {
      CountDrop("bad_protobuf", 1,
                "not a GTFS-Realtime FeedMessage (" + std::to_string(r.body.size()) + " bytes)");
      return true;
    }
    const uint64_t ts = feed.header().timestamp();
    if (ts != 0 && ts == last_header_ts_) {
      // Not data loss: the feed has not changed since the last poll.
      CountDrop("unchanged_feed", 1, "header.timestamp " + std::to_string(ts) + " as before");
      return true;
    }
    GtfsConversion c = ConvertFeed(feed, s_, SystemClock::Get()->NowMs());
    if (c.unsupported) CountDrop("unsupported_entity", c.unsupported);
    entities_ += c.records.size();
    bool go_on = true;
    if (!c.records.empty()) go_on = IngestRecords(std::move(c.records), r.body.size());
    if (ts != 0) {
      last_header_ts_ = ts;
      SaveCursor(kCursorKey, std::to_string(ts));
    }
    return go_on;
  }

 private:
  GtfsRtSettings s_;
  uint64_t last_header_ts_ = 0;
  uint64_t entities_ = 0;
};

std::any ParseGtfsRt(ConfigWalker& w, const YAML::Node& n, const std::string& path,
                     SourceOptions* common) {
  GtfsRtSettings s;
  s.poll.interval_ms = 30'000;
  std::map<std::string, ConfigWalker::Handler> handlers = {
      {"feed", w.Scalar<std::string>(&s.feed)},
      {"stale_after_s", w.Seconds(&s.stale_after_ms)},
      {"vehicles_stream", w.Scalar<std::string>(&s.vehicles_stream)},
      {"trips_stream", w.Scalar<std::string>(&s.trips_stream)},
      {"alerts_stream", w.Scalar<std::string>(&s.alerts_stream)},
  };
  AddPollConfigKeys(w, &s.poll, &handlers);
  if (n.IsNull()) return w.Fail(path, "is required (at least url)"), std::any(s);
  w.Map(n, path, handlers);
  FinishPollConfig(w, path, &s.poll, common);
  if (!w.status().ok()) return s;
  if (s.feed.empty()) s.feed = common->id;
  for (auto [key, tmpl] :
       {std::pair{"vehicles_stream", &s.vehicles_stream},
        std::pair{"trips_stream", &s.trips_stream}, std::pair{"alerts_stream", &s.alerts_stream}}) {
    if (Status st = ValidateGtfsTemplate(*tmpl); !st.ok()) {
      return w.Fail(path + "." + key, st.message()), std::any(s);
    }
    std::string sample = RenderGtfsStream(*tmpl, s.feed, "k", "e");
    if (Status st = ValidateStreamName(sample); !st.ok()) {
      return w.Fail(path + "." + key, "does not make a valid stream name: " + st.message()),
             std::any(s);
    }
  }
  return s;
}

}  // namespace

SourceType GtfsRtSourceType() {
  return {"gtfs_rt", ParseGtfsRt,
          [](SourceContext* ctx, SourceOptions o) -> std::unique_ptr<Source> {
            auto s = std::any_cast<GtfsRtSettings>(o.settings);
            return std::make_unique<GtfsRtSource>(ctx, std::move(o), std::move(s));
          }};
}

}  // namespace livehub
