// Record: one input event as a processor sees it, and the helpers that read
// fields out of its data: dotted paths, numbers, group keys and event time.
// The event time of a record comes from EventTimeOf() only, so its source
// (a configured field today, a schema's time index later) is one switch.
// Thread safety: RecordReader is not thread-safe (one per processor).
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace livehub {

// What a processor receives: an event of one of its input streams.
struct InputRecord {
  std::string_view stream;
  uint64_t seq = 0;
  int64_t ts_ms = 0;          // the hub's receive time
  std::string_view data;      // compact JSON
};

// What a processor produces: data (compact JSON) for a derived stream.
struct Output {
  std::string stream;
  std::string data;
  bool alert = false;  // also announced as an `alert` lifecycle event on $sys/events
};

enum class TimeUnit : uint8_t { kMs, kS, kIso8601 };

// Where event time comes from.
struct TimeSpec {
  bool processing_time = false;  // true: the hub's receive time (`ts`)
  std::string field;             // event-time field (dotted path), when !processing_time
  TimeUnit unit = TimeUnit::kMs; // of a numeric field; strings are always RFC 3339
};

// "a.b.c" -> {"a","b","c"}; InvalidArgument for an empty segment.
Result<std::vector<std::string>> ParseFieldPath(std::string_view path);

// Milliseconds since the Unix epoch from an RFC 3339 / ISO 8601 date-time
// ("2026-11-23T15:04:05.123Z", "...+01:00"); nullopt if it is not one.
std::optional<int64_t> ParseIso8601Ms(std::string_view s);

class RecordReader {
 public:
  // Parses `data`; false (and the record should be skipped) if it is not an
  // object.
  bool Parse(std::string_view data);
  // The element at `path`, or nullopt.
  std::optional<simdjson::dom::element> Get(const std::vector<std::string>& path) const;
  // A number (or a boolean as 0/1) at `path`.
  std::optional<double> Number(const std::vector<std::string>& path) const;
  // Appends the compact JSON of the value at `path` (`null` if missing).
  void AppendJson(const std::vector<std::string>& path, std::string* out) const;

 private:
  simdjson::dom::parser parser_;
  std::string scratch_;  // data + simdjson padding, reused
  simdjson::dom::element root_;
};

// The event time of a record in ms, per `spec`: the hub's `ts` in
// processing-time mode, else the field (nullopt if missing or unreadable).
std::optional<int64_t> EventTimeOf(const InputRecord& r, const RecordReader& reader,
                                   const TimeSpec& spec, const std::vector<std::string>& path);

}  // namespace livehub
