// Fuzz target for what an upstream feed sends to the connectors: the SSE
// parser of the `sse` source (text/event-stream bytes) and the GTFS-Realtime
// conversion of the `gtfs_rt` source (protobuf FeedMessage bytes).
// Checked properties, besides "never crashes":
//  - the SSE parser gives the same events whether the bytes come whole or
//    split into chunks at arbitrary points (here: sizes from the input);
//  - every GTFS-RT record is valid JSON on a valid stream name.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "codec/body_decoder.h"
#include "source/gtfs_rt_source.h"
#include "source/sse_parser.h"
#include "stream/pattern.h"
// <netdb.h> (through Asio) defines NO_DATA, an enum value in the generated code.
#ifdef NO_DATA
#undef NO_DATA
#endif
#include "gtfs-realtime.pb.h"

using namespace livehub;

namespace {

std::vector<SseEvent> ParseSse(std::string_view in, size_t chunk) {
  SseParser p(4096);
  std::vector<SseEvent> out;
  for (size_t i = 0; i < in.size(); i += chunk) {
    p.Feed(in.substr(i, chunk), [&](SseEvent& ev) { out.push_back(ev); });
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  auto whole = ParseSse(in, in.size() + 1);
  size_t chunk = size ? 1 + data[0] % 7 : 1;
  auto split = ParseSse(in, chunk);
  if (whole.size() != split.size()) std::abort();
  for (size_t i = 0; i < whole.size(); ++i) {
    if (whole[i].type != split[i].type || whole[i].data != split[i].data ||
        whole[i].id != split[i].id || whole[i].oversize != split[i].oversize) {
      std::abort();
    }
  }

  transit_realtime::FeedMessage feed;
  if (feed.ParseFromArray(data, static_cast<int>(size))) {
    GtfsRtSettings s;
    s.feed = "fz";
    GtfsConversion c = ConvertFeed(feed, s, 1'700'000'000'000);
    std::string compact;
    for (const auto& [stream, json] : c.records) {
      if (!ValidateStreamName(stream).ok()) std::abort();
      if (!CompactJson(json, &compact).ok()) std::abort();
    }
  }
  return 0;
}
