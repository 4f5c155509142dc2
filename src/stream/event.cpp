#include "stream/event.h"

#include "codec/ws_codec.h"
#include "core/json_writer.h"

namespace livehub {

static_assert(Event::kJsonBegin >= ws::kMaxUnmaskedFrameHeaderBytes,
              "the serialised event leaves room for its WebSocket frame header");

EventPtr MakeEvent(Stream* stream, std::string_view name, std::string_view epoch, uint64_t seq,
                   int64_t ts_ms, int64_t mono_ns, std::string_view data) {
  auto ev = std::make_shared<Event>();
  ev->stream = stream;
  ev->seq = seq;
  ev->ts_ms = ts_ms;
  ev->mono_ns = mono_ns;
  std::string& b = ev->buf;
  b.reserve(Event::kJsonBegin + 96 + name.size() + epoch.size() + data.size());
  b.assign(Event::kJsonBegin, '\0');
  // What JsonWriter would write, with the constant keys appended as they
  // are (this runs once per published event).
  b.append(R"({"type":"event","stream":)");
  AppendJsonString(&b, name);
  b.append(R"(,"seq":)");
  AppendJsonUint(&b, seq);
  b.append(R"(,"epoch":)");
  AppendJsonString(&b, epoch);
  b.append(R"(,"ts":)");
  AppendJsonInt(&b, ts_ms);
  b.append(R"(,"data":)");
  ev->data_begin = static_cast<uint32_t>(b.size());
  ev->data_len = static_cast<uint32_t>(data.size());
  b.append(data);
  b.push_back('}');

  // Unmasked text frame header, written right before the JSON.
  char hdr[ws::kMaxFrameHeaderBytes];
  const size_t h = ws::WriteFrameHeader(hdr, ws::Opcode::kText, b.size() - Event::kJsonBegin);
  ev->ws_begin = static_cast<uint32_t>(Event::kJsonBegin - h);
  b.replace(ev->ws_begin, h, hdr, h);
  return ev;
}

}  // namespace livehub
