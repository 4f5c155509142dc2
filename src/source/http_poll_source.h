// The `http_poll` source: GETs a URL every interval (see PollingSource for
// the request-rate cap, conditional requests, health and backoff) and
// publishes the records in each new body: a JSON value or array, the array a
// JSON Pointer (RFC 6901) names inside the body, NDJSON, or csv/text through
// the common decoding.
// Declared here (rather than only in the .cpp) so the pure parts are tested.
// Thread safety: ExtractRecords is thread-safe (thread_local parser).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "codec/body_decoder.h"
#include "core/status.h"
#include "source/poll_source.h"

namespace livehub {

struct HttpPollSettings {
  PollSettings poll;
  std::string records_pointer;  // "" = the whole body
};

// Returns kOk if `pointer` is "" or a syntactically valid JSON Pointer.
Status ValidateJsonPointer(std::string_view pointer);

// The records of a JSON `body`: the value `pointer` names (the whole body for
// ""); an array gives one record per element (none for []), anything else
// one record. Each record is compact JSON. Errors: bad_json (the body),
// no_records (the pointer names nothing), event_too_large, batch_too_large.
Status ExtractRecords(std::string_view body, std::string_view pointer, const DecodeLimits& limits,
                      std::vector<std::string>* out);

}  // namespace livehub
