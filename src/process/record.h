// Record: one input event as a processor sees it, and the helpers that read
// fields out of its data: dotted paths, numbers, group keys and event time.
// The event time of a record comes from EventTimeOf() only, so its source
// (a configured field today, a schema's time index later) is one switch.
// Thread safety: RecordReader is not thread-safe (one per processor).
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <functional>
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
  int64_t ts_ms = 0;      // the hub's receive time
  std::string_view data;  // compact JSON
};

// What a processor produces: data (compact JSON) for a derived stream.
struct Output {
  std::string stream;
  std::string data;
  bool alert = false;  // also announced as an `alert` lifecycle event on $sys/events
};

enum class TimeUnit : uint8_t { kMs, kS, kIso8601 };

// The time-index field of a stream's schema (a dotted path), if it has one.
using TimeIndexLookup = std::function<std::optional<std::string>(std::string_view stream)>;

// Where event time comes from.
struct TimeSpec {
  // The `time_field` value that means "the input stream's schema time index".
  static constexpr std::string_view kFromSchema = "$schema";

  bool processing_time = false;   // true: the hub's receive time (`ts`)
  std::string field;              // event-time field (dotted path), when !processing_time
  TimeUnit unit = TimeUnit::kMs;  // of a numeric field; strings are always RFC 3339
  // `time_field: $schema`: the field is each record's stream's schema time
  // index, looked up through `schema_index` (set by ProcessManager; unset or
  // no time index for a stream: the record has no event time).
  bool from_schema = false;
  TimeIndexLookup schema_index;

  static TimeSpec ProcessingTime() {
    TimeSpec t;
    t.processing_time = true;
    return t;
  }
  static TimeSpec Field(std::string field, TimeUnit unit = TimeUnit::kMs) {
    TimeSpec t;
    t.field = std::move(field);
    t.unit = unit;
    return t;
  }
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

// The group key of the record `reader` holds: `{"name":value,...}`, one
// member per configured key field in order (`names[i]` as configured,
// `paths[i]` its parsed path), `null` for a missing field. Equal keys are
// equal strings, so it indexes per-key state.
std::string GroupKeyJson(const RecordReader& reader, const std::vector<std::string>& names,
                         const std::vector<std::vector<std::string>>& paths);

// The event time of a record in ms, per `spec`: the hub's `ts` in
// processing-time mode, else the field (nullopt if missing or unreadable).
// With `spec.from_schema`, `path` is ignored: the field is the stream's
// schema time index.
std::optional<int64_t> EventTimeOf(const InputRecord& r, const RecordReader& reader,
                                   const TimeSpec& spec, const std::vector<std::string>& path);

}  // namespace livehub
