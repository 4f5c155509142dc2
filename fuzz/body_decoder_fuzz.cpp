// Fuzz target for DecodeBody, CompactJson and FormatFromContentType.
// Input layout: byte 0 picks the format (bits 0-1: JSON, NDJSON, CSV) and the
// limits (bits 2-3: defaults, tiny events, tiny batches); the rest is the body.
// Checked properties, besides "never crashes":
//  - a failure leaves no partial batch and has a known reason and a message;
//  - a success honours the limits, and every event is compact JSON that
//    round-trips through CompactJson unchanged;
//  - a JSON body decodes to exactly what CompactJson makes of it (one event,
//    or the elements of a top-level array joined back with ',').
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "codec/body_decoder.h"

namespace {

using livehub::BodyFormat;
using livehub::DecodeLimits;
using livehub::Status;

#define FUZZ_CHECK(cond, detail)                                                        \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, #cond, \
                   std::string(detail).c_str());                                        \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

bool IsKnownReason(const std::string& reason) {
  for (const char* known : {"bad_json", "bad_ndjson", "bad_csv", "empty_batch", "event_too_large",
                            "batch_too_large", "too_deep"}) {
    if (reason == known) return true;
  }
  return false;
}

DecodeLimits LimitsFor(uint8_t selector) {
  DecodeLimits limits;
  switch ((selector >> 2) & 3) {
    case 1:
      limits.max_event_bytes = 16;
      break;
    case 2:
      limits.max_batch_events = 3;
      break;
    default:
      break;
  }
  return limits;
}

void CheckJsonMatchesCompactJson(std::string_view body, const std::vector<std::string>& events) {
  std::string compact;
  if (!livehub::CompactJson(body, &compact).ok()) return;
  if (compact.empty() || compact.front() != '[') {
    FUZZ_CHECK(events.size() == 1 && events[0] == compact, compact);
    return;
  }
  std::string joined = "[";
  for (size_t i = 0; i < events.size(); ++i) {
    if (i > 0) joined += ',';
    joined += events[i];
  }
  joined += ']';
  FUZZ_CHECK(joined == compact, joined + " vs " + compact);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  const BodyFormat format = (selector & 3) == 1   ? BodyFormat::kNdjson
                            : (selector & 3) == 2 ? BodyFormat::kCsv
                                                  : BodyFormat::kJson;
  const DecodeLimits limits = LimitsFor(selector);
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);

  std::vector<std::string> events;
  const Status s = livehub::DecodeBody(format, body, limits, &events);
  if (!s.ok()) {
    FUZZ_CHECK(events.empty(), s.ToString());
    FUZZ_CHECK(IsKnownReason(s.reason()), s.ToString());
    FUZZ_CHECK(!s.message().empty(), s.reason());
    FUZZ_CHECK(!s.line().has_value() || *s.line() >= 1, s.ToString());
  } else {
    FUZZ_CHECK(!events.empty(), "success with no events");
    FUZZ_CHECK(events.size() <= limits.max_batch_events, std::to_string(events.size()));
    for (const std::string& event : events) {
      FUZZ_CHECK(event.size() <= limits.max_event_bytes, event);
      std::string again;
      const Status c = livehub::CompactJson(event, &again);
      FUZZ_CHECK(c.ok(), c.ToString() + " for " + event);
      FUZZ_CHECK(again == event, event + " became " + again);
    }
    const bool has_bom = body.substr(0, 3) == "\xEF\xBB\xBF";
    if (format == BodyFormat::kJson && !has_bom) CheckJsonMatchesCompactJson(body, events);
  }

  // Content types are client text too.
  livehub::Result<BodyFormat> type = livehub::FormatFromContentType(body);
  FUZZ_CHECK(type.ok() || type.status().reason() == "unsupported_media_type",
             type.status().ToString());
  return 0;
}
