// Decoding of publish bodies (HTTP POST /v1/publish, `livehub publish`) into
// events. Each decoded event is compact JSON text (no insignificant
// whitespace), ready to be embedded verbatim as an event's `data`.
// Thread safety: free functions; thread-safe (parsers are thread_local).
//
// Formats (chosen from the Content-Type; see FormatFromContentType):
//   kJson   one JSON value -> one event; a top-level JSON array -> one event
//           per element (an empty array is an error: nothing to publish).
//   kNdjson one JSON value per line; blank lines (also "\r\n") are skipped.
//   kCsv    RFC 4180: first row is the header; every later row -> one object
//           {header[i]: value}. Values: "" -> null, true/false -> bool,
//           a JSON-valid number -> number, anything else -> string. Quoted
//           fields are always strings (so "007" stays "007"). With column
//           types (a stream's schema, see CsvColumnTypes) a typed column
//           is converted to its type instead, or refused with
//           schema_type_mismatch naming the line, column and types.
// Errors never yield a partial batch: on error `out` is left empty.
// Error reasons: bad_json, bad_ndjson, bad_csv, empty_batch,
// event_too_large, batch_too_large, unsupported_media_type.
// Errors carry the 1-based line (Status::line()) where one applies.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace livehub {

enum class BodyFormat { kJson, kNdjson, kCsv };

struct DecodeLimits {
  size_t max_event_bytes = 1 << 20;   // per decoded event (compact JSON size)
  size_t max_batch_events = 100'000;  // events per body
  size_t max_depth = 64;              // JSON nesting ("too_deep" past it)
};

// "application/json" (or empty / missing) -> kJson; "application/x-ndjson",
// "application/ndjson", "application/jsonl" -> kNdjson; "text/csv" -> kCsv.
// Parameters after ';' are ignored; matching is case-insensitive.
// Anything else -> InvalidArgument("unsupported_media_type", ...).
Result<BodyFormat> FormatFromContentType(std::string_view content_type);

// CSV column types by header name; columns not listed are inferred.
// kInt: an integer ("007" -> 7); kFloat: a number ("1." and ".5" accepted);
// kBool: true/false (any case) or 1/0; kString: always a string (quoted or
// not); kTimestamp: an integer stays a number, anything else a string
// (checked by the schema); kJson: JSON text if it is valid JSON, else a
// string. An empty unquoted cell is null for every type.
enum class CsvType : uint8_t { kInfer, kInt, kFloat, kBool, kString, kTimestamp, kJson };
using CsvColumnTypes = std::unordered_map<std::string, CsvType>;

Status DecodeBody(BodyFormat format, std::string_view body, const DecodeLimits& limits,
                  std::vector<std::string>* out, const CsvColumnTypes* csv_types = nullptr);

// Validates one JSON value and writes its compact form to *out.
// Used for WebSocket `publish` ops and anywhere a single value arrives.
Status CompactJson(std::string_view json, std::string* out);

}  // namespace livehub
