// SseParser: an incremental parser for the text/event-stream format (the
// WHATWG HTML "server-sent events" rules). Bytes may be fed in chunks split
// anywhere (even inside a CRLF or the BOM); events are dispatched on blank
// lines. Lines end with CRLF, LF or CR. A leading UTF-8 BOM is skipped.
// `id` values containing NUL are ignored; `retry` takes only ASCII digits.
// An event larger than `max_event_bytes` is reported with `oversize` set and
// no data (the rest of it is skipped, never buffered).
// Thread safety: not thread-safe; one owner.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace livehub {

struct SseEvent {
  std::string type;  // "message" unless the event set one
  std::string data;  // data lines joined with '\n'
  std::string id;    // the last event id in effect when it was dispatched
  bool oversize = false;
};

class SseParser {
 public:
  explicit SseParser(size_t max_event_bytes = 1u << 20) : max_event_bytes_(max_event_bytes) {}

  // Parses `bytes`, calling `on_event` for each dispatched event.
  void Feed(std::string_view bytes, const std::function<void(SseEvent&)>& on_event);

  // A new connection: drops any partial line/event and expects a BOM again.
  // The last event id is kept (it is what a reconnect resumes from).
  void Reset();

  const std::string& last_event_id() const { return last_id_; }
  void set_last_event_id(std::string id) { last_id_ = std::move(id); }
  // The last `retry:` value seen (ms), if any.
  std::optional<int64_t> retry_ms() const { return retry_ms_; }
  uint64_t comments() const { return comments_; }

 private:
  void Line(std::string_view line, const std::function<void(SseEvent&)>& on_event);
  void Dispatch(const std::function<void(SseEvent&)>& on_event);

  size_t max_event_bytes_;
  std::string line_;
  bool line_too_long_ = false;
  bool after_cr_ = false;  // the previous chunk ended in CR: skip one LF
  size_t bom_seen_ = 0;    // BOM bytes matched at the stream's start
  bool bom_done_ = false;
  std::string data_;
  std::string type_;
  bool oversize_ = false;
  std::string last_id_;
  std::optional<int64_t> retry_ms_;
  uint64_t comments_ = 0;
};

}  // namespace livehub
