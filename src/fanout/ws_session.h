// WsSession: one WebSocket subscriber connection at /v1/ws speaking the JSON
// protocol of docs/protocol.md (subscribe, unsubscribe, subscriptions,
// publish, status, history, ping).
// Thread safety: see SubscriberSession; everything here runs on the session
// thread.
#pragma once

#include <string>

#include "codec/ws_codec.h"
#include "fanout/session.h"
#include "fanout/upgrade.h"

namespace livehub {

// The WebSocket handshake of /v1/ws (RFC 6455): a GET with
// `Connection: Upgrade`, `Upgrade: websocket`, a Sec-WebSocket-Key and
// version 13, a subscriber Admission allows. On success it takes the
// socket, answers 101 and runs a WsSession subscribed to ?streams=.
std::optional<HandshakeRefusal> AcceptWebSocket(FanoutContext* ctx, asio::io_context& ioc,
                                                UpgradeRequest req, const SocketTaker& take);

class WsSession final : public SubscriberSession {
 public:
  // `handshake_response` is the 101 reply (written first); `leftover` holds
  // bytes the client sent after its upgrade request.
  WsSession(FanoutContext* ctx, asio::io_context& ioc, tcp::socket socket);
  ~WsSession() override { ctx_->ws_connections->Add(-1); }

  // Session thread: queues the handshake reply, starts I/O and subscribes
  // to `initial_patterns` (from ?streams=).
  void Run(std::string handshake_response, std::string leftover,
           std::vector<std::string> initial_patterns);

 protected:
  void EncodeBatch(std::vector<OutItem>& items, std::string* scratch,
                   std::vector<asio::const_buffer>* bufs) override;
  void StartReading() override;
  void OnTick(int64_t now_ns) override;
  void SendClose(uint16_t code, std::string_view reason) override;
  const char* kind() const override { return "ws"; }

 private:
  void WaitReadable();
  void OnReadable(boost::system::error_code ec);
  bool Feed(std::string_view bytes);  // false once the session is closing
  void OnMessage(ws::Opcode op, std::string_view payload);
  // Client ops: HandleOp parses one and dispatches by name to an Op*
  // handler (the table is in ws_session.cpp).
  struct Op;
  void HandleOp(std::string_view text);
  void OpSubscribe(const Op& op);
  void OpUnsubscribe(const Op& op);
  void OpSubscriptions(const Op& op);
  void OpPublish(const Op& op);
  void OpStatus(const Op& op);
  void OpHistory(const Op& op);
  void OpPing(const Op& op);
  void OpRefresh(const Op& op);
  // Helpers of the handlers: each sends the error itself and returns
  // false / null when the op cannot go on.
  void BadRequest(int64_t id, std::string message);
  bool StreamField(const Op& op, std::string_view* name);
  bool StreamsField(const Op& op, std::vector<std::string>* streams);
  Stream* ReadableStream(const Op& op);
  std::shared_ptr<WsSession> self() {
    return std::static_pointer_cast<WsSession>(shared_from_this());
  }

  ws::FrameParser parser_;
  bool ping_outstanding_ = false;
  int64_t ping_sent_ns_ = 0;
  bool reading_stopped_ = false;
};

}  // namespace livehub
