// SseSession: one Server-Sent Events subscriber at /v1/sse. Each message is
// `event: <type>` + `data: <json>`; event, subscribed and gap messages carry
// `id: <cursor>`, a cursor from which resuming (Last-Event-ID header or
// last_event_id query) loses nothing on any subscribed stream.
// Cursor text: `stream@epoch:seq` joined by ',' (see ParseSseCursor).
// Thread safety: see SubscriberSession.
#pragma once

#include <string>
#include <vector>

#include "fanout/session.h"
#include "fanout/upgrade.h"

namespace livehub {

// The SSE handshake of /v1/sse: ?streams= (the patterns Admission checks,
// all or nothing), the resume cursor (Last-Event-ID header, or the
// last_event_id query for clients that cannot set headers) and ?max_hz=.
// On success it takes the socket and runs an SseSession, which answers
// 200 with `req.extra_header_lines` (CORS) in its head.
std::optional<HandshakeRefusal> AcceptSse(FanoutContext* ctx, asio::io_context& ioc,
                                          UpgradeRequest req, const SocketTaker& take);

// Parses a cursor produced by an SseSession. Empty text -> empty map.
// Error reason "bad_cursor" naming the bad entry.
Result<CursorMap> ParseSseCursor(std::string_view text);

// Parses a `max_hz` query value: a number in (0, kMaxHz].
Result<double> ParseMaxHz(std::string_view text);

class SseSession final : public SubscriberSession {
 public:
  SseSession(FanoutContext* ctx, asio::io_context& ioc, tcp::socket socket);
  ~SseSession() override { ctx_->sse_connections->Add(-1); }

  // Session thread: writes the response head, subscribes, starts I/O.
  // `resume` non-empty means a reconnect: streams missing from it start at
  // seq 1.
  void Run(std::vector<std::string> patterns, CursorMap resume, bool resuming, double max_hz = 0);
  // CORS header lines ("Name: value\r\n"...) for the response head; set
  // before Run. Default: "Access-Control-Allow-Origin: *".
  void SetCorsHeaders(std::string lines) { cors_headers_ = std::move(lines); }

 protected:
  void EncodeBatch(std::vector<OutItem>& items, std::string* scratch,
                   std::vector<asio::const_buffer>* bufs) override;
  void StartReading() override;
  void OnTick(int64_t now_ns) override;
  void SendClose(uint16_t code, std::string_view reason) override;
  const char* kind() const override { return "sse"; }

 private:
  void WaitReadable();
  std::shared_ptr<SseSession> self() {
    return std::static_pointer_cast<SseSession>(shared_from_this());
  }
  bool head_sent_ = false;
  std::string cors_headers_ = "Access-Control-Allow-Origin: *\r\n";
  std::string head_;  // written once; buffers point into it
};

}  // namespace livehub
