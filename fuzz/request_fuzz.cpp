// Fuzz target for what a client puts in a request line or header: the
// request target (path + query, percent-decoding), the SSE Last-Event-ID
// cursor, the SSE max_hz parameter, and stream names / patterns.
// Checked properties, besides "never crashes":
//  - a cursor that parses re-parses from the text livehub would send for it;
//  - a pattern that parses matches its own text when it has no wildcard;
//  - max_hz, when accepted, is within (0, kMaxHz].
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "fanout/sse_session.h"
#include "http/rest_api.h"
#include "stream/pattern.h"

using namespace livehub;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  std::string path;
  std::map<std::string, std::string, std::less<>> query;
  (void)ParseTarget(in, &path, &query);

  auto cursor = ParseSseCursor(in);
  if (cursor.ok()) {
    std::string text;
    for (const auto& [stream, c] : *cursor) {
      if (!text.empty()) text.push_back(',');
      text += stream + "@" + c.epoch + ":" + std::to_string(c.seq);
    }
    auto again = ParseSseCursor(text);
    if (!again.ok() || again->size() != cursor->size()) std::abort();
    for (const auto& [stream, c] : *cursor) {
      auto it = again->find(stream);
      if (it == again->end() || it->second.seq != c.seq || it->second.epoch != c.epoch) {
        std::abort();
      }
    }
  }

  auto hz = ParseMaxHz(in);
  if (hz.ok() && !(*hz > 0 && *hz <= kMaxHz)) std::abort();

  auto pattern = Pattern::Parse(in);
  if (pattern.ok() && in.find('*') == std::string_view::npos && ValidateStreamName(in).ok() &&
      !pattern->Matches(in)) {
    std::abort();
  }
  return 0;
}
