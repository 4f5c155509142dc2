#include "stream/stream_json.h"

namespace livehub {

const char* Freshness(const StreamStats& s, int64_t warn_after_ms, int64_t stale_after_ms) {
  if (s.watermark.latest_seq == 0) return "init";
  int64_t age = s.watermark.server_time_ms - s.watermark.latest_ts_ms;
  if (age >= stale_after_ms) return "stale";
  if (age >= warn_after_ms) return "warn";
  return "ok";
}

void WriteStreamStatusMembers(JsonWriter& w, const StreamStats& s, int64_t warn_after_ms,
                              int64_t stale_after_ms) {
  const Watermark& wm = s.watermark;
  w.Field("stream", wm.stream).Field("epoch", wm.epoch).Field("latest_seq", wm.latest_seq);
  w.Field("latest_ts_ms", wm.latest_ts_ms).Field("server_time_ms", wm.server_time_ms);
  w.Field("first_seq", s.first_seq);
  w.Field("history_events", static_cast<uint64_t>(s.history_events));
  w.Field("history_bytes", static_cast<uint64_t>(s.history_bytes));
  w.Field("retained_bytes", static_cast<uint64_t>(s.retained_bytes));
  w.Field("subscribers", static_cast<uint64_t>(s.subscribers));
  w.Field("events_in", s.events_in).Field("bytes_in", s.bytes_in).Field("evicted", s.evicted);
  w.Field("rate_per_s", s.rate_per_s).Field("created_ms", s.created_ms);
  w.Field("freshness", Freshness(s, warn_after_ms, stale_after_ms));
  if (s.keyed.keyed) {
    const KeyedStats& k = s.keyed;
    w.Key("keyed").BeginObject().Field("generation", k.generation).Field("state_seq", k.state_seq);
    w.Field("need_full", k.need_full);
    if (k.need_full) w.Field("need_full_reason", k.need_full_reason);
    w.Field("state_bytes", static_cast<uint64_t>(k.state_bytes)).Field("fulls", k.fulls);
    w.Field("diffs", k.diffs).Field("diffs_dropped", k.diffs_dropped).EndObject();
  }
}

void WriteHistoryMembers(JsonWriter& w, const Stream& stream, const std::vector<EventPtr>& events,
                         bool has_more, uint64_t next_seq) {
  w.Field("stream", stream.name()).Field("epoch", stream.epoch());
  w.Key("events").BeginArray();
  for (const EventPtr& ev : events) {
    w.BeginObject().Field("seq", ev->seq).Field("ts", ev->ts_ms).Key("data").Raw(ev->data());
    w.EndObject();
  }
  w.EndArray().Field("has_more", has_more).Field("next_seq", next_seq);
}

}  // namespace livehub
