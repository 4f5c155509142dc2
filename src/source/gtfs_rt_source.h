// The `gtfs_rt` source: polls a GTFS-Realtime feed (a protobuf FeedMessage,
// proto/gtfs-realtime.proto) and publishes one JSON event per entity:
//   vehicle positions -> vehicles_stream (default transit/{feed}/vehicles/{key})
//   trip updates      -> trips_stream    (default transit/{feed}/trips/{key})
//   service alerts    -> alerts_stream   (default transit/{feed}/alerts)
// Stream templates know {feed}, {key} (the vehicle id for vehicles, the trip
// id for trips, else the entity id) and {entity_id}; values are made into
// one valid segment (characters outside [A-Za-z0-9._-] -> '_').
// A feed whose header.timestamp equals the last one is skipped (counted as
// `unchanged_feed`); positions/updates older than stale_after_s carry
// "stale": true.
// Declared here (rather than only in the .cpp) so the pure conversion is
// tested. Thread safety: the free functions are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "source/poll_source.h"

namespace transit_realtime {
class FeedMessage;
}

namespace livehub {

struct GtfsRtSettings {
  PollSettings poll;
  std::string feed;  // default: the source id
  int64_t stale_after_ms = 90'000;
  std::string vehicles_stream = "transit/{feed}/vehicles/{key}";
  std::string trips_stream = "transit/{feed}/trips/{key}";
  std::string alerts_stream = "transit/{feed}/alerts";
};

// `s` as one stream segment: characters outside [A-Za-z0-9._-] become '_'
// (bytes of multi-byte UTF-8 too); "" becomes "_".
std::string SanitizeSegment(std::string_view s);

// Checks a stream template: only {feed}, {key}, {entity_id}; braces closed.
Status ValidateGtfsTemplate(std::string_view tmpl);

// Substitutes the (sanitised) values into `tmpl`.
std::string RenderGtfsStream(std::string_view tmpl, std::string_view feed, std::string_view key,
                             std::string_view entity_id);

struct GtfsConversion {
  std::vector<std::pair<std::string, std::string>> records;  // stream, compact JSON
  uint64_t unsupported = 0;  // entities with no vehicle, trip_update or alert
};

// One record per entity of `feed` (see the file comment for the fields).
// `now_ms` decides `stale`.
GtfsConversion ConvertFeed(const transit_realtime::FeedMessage& feed, const GtfsRtSettings& s,
                           int64_t now_ms);

}  // namespace livehub
