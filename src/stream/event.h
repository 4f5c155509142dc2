// Event: one sequenced, immutable message of a stream, shared (never copied)
// by the history ring and every subscriber queue that holds it.
// Thread safety: immutable after construction; share via EventPtr.
//
// The event is serialised exactly once, at append time, into `buf`:
//   [padding][WebSocket frame header][{"type":"event",...,"data":DATA}]
// so a WebSocket subscriber writes ws_frame() as is and an SSE subscriber
// writes json() between its "event:/data:" prefix and its "id:" line.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace livehub {

class Stream;

struct Event {
  static constexpr size_t kJsonBegin = 10;  // room for the largest unmasked WS header

  Stream* stream = nullptr;  // streams outlive every event (never deleted)
  uint64_t seq = 0;
  int64_t ts_ms = 0;    // hub receive time, ms since the Unix epoch
  int64_t mono_ns = 0;  // monotonic publish time, for delivery latency
  std::string buf;
  uint32_t ws_begin = 0;
  uint32_t data_begin = 0;
  uint32_t data_len = 0;

  std::string_view ws_frame() const { return std::string_view(buf).substr(ws_begin); }
  std::string_view json() const { return std::string_view(buf).substr(kJsonBegin); }
  std::string_view data() const { return std::string_view(buf).substr(data_begin, data_len); }
  // Memory charged to history and queue budgets.
  size_t charge() const { return buf.capacity() + sizeof(Event) + 32; }
};

using EventPtr = std::shared_ptr<const Event>;

// Builds the event and its wire forms. `data` must be compact JSON.
EventPtr MakeEvent(Stream* stream, std::string_view name, std::string_view epoch, uint64_t seq,
                   int64_t ts_ms, int64_t mono_ns, std::string_view data);

}  // namespace livehub
