#include "stream/event.h"

#include "core/json_writer.h"

namespace livehub {

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
  const uint64_t len = b.size() - Event::kJsonBegin;
  uint8_t hdr[10];
  size_t h = 0;
  hdr[h++] = 0x81;  // FIN + text
  if (len < 126) {
    hdr[h++] = static_cast<uint8_t>(len);
  } else if (len <= 0xffff) {
    hdr[h++] = 126;
    hdr[h++] = static_cast<uint8_t>(len >> 8);
    hdr[h++] = static_cast<uint8_t>(len);
  } else {
    hdr[h++] = 127;
    for (int i = 7; i >= 0; --i) hdr[h++] = static_cast<uint8_t>(len >> (8 * i));
  }
  ev->ws_begin = static_cast<uint32_t>(Event::kJsonBegin - h);
  for (size_t i = 0; i < h; ++i) b[ev->ws_begin + i] = static_cast<char>(hdr[i]);
  return ev;
}

}  // namespace livehub
