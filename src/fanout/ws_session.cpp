#include "fanout/ws_session.h"

#include <simdjson.h>

#include "core/json_read.h"
#include "core/json_writer.h"
#include "core/log.h"
#include "fanout/publisher.h"
#include "stream/stream_json.h"

namespace livehub {
namespace {

constexpr size_t kReadChunk = 64 << 10;
constexpr uint64_t kMaxHistoryLimit = 10'000;
constexpr uint64_t kDefaultHistoryLimit = 1'000;

}  // namespace

WsSession::WsSession(FanoutContext* ctx, asio::io_context& ioc, tcp::socket socket)
    : SubscriberSession(ctx, ioc, std::move(socket)),
      parser_(ws::FrameParser::Role::kServer, ctx->options.max_ws_message_bytes) {
  ctx_->ws_connections->Add(1);
}

std::optional<HandshakeRefusal> AcceptWebSocket(FanoutContext* ctx, asio::io_context& ioc,
                                                UpgradeRequest req, const SocketTaker& take) {
  if (req.method != "GET" || !HeaderHasToken(req.header("Connection"), "upgrade") ||
      !HeaderHasToken(req.header("Upgrade"), "websocket")) {
    return HandshakeRefusal{
        Status::UpgradeRequired("/v1/ws is a WebSocket endpoint: send a GET with "
                                "'Connection: Upgrade' and 'Upgrade: websocket'"),
        {{"Upgrade", "websocket"}}};
  }
  const std::string_view key = req.header("Sec-WebSocket-Key");
  if (key.empty() || req.header("Sec-WebSocket-Version") != "13") {
    return HandshakeRefusal{
        Status::InvalidArgument(
            "bad_websocket_handshake",
            "WebSocket handshake needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13"),
        {{"Sec-WebSocket-Version", "13"}}};
  }
  if (Status st = ctx->admission->AdmitSubscriber(*req.access); !st.ok()) {
    return HandshakeRefusal{st, {}};
  }
  std::string response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      ws::AcceptKey(key) + "\r\n\r\n";
  std::vector<std::string> patterns = SplitCommaList(req.Query("streams"));
  auto session = std::make_shared<WsSession>(ctx, ioc, take());
  session->SetAccess(std::move(req.access));
  session->AdoptPeer(std::move(req.ticket), std::move(req.peer));
  session->Run(std::move(response), std::move(req.leftover), std::move(patterns));
  return std::nullopt;
}

void WsSession::Run(std::string handshake_response, std::string leftover,
                    std::vector<std::string> initial_patterns) {
  EnqueueRaw(std::move(handshake_response));
  Start();
  if (!initial_patterns.empty()) Subscribe(-1, initial_patterns, {});
  if (!leftover.empty()) Feed(leftover);
}

// ---------------------------------------------------------------------------
// Reading: wait for readability, then read into a per-thread buffer, so an
// idle connection holds no read buffer at all.
// ---------------------------------------------------------------------------

void WsSession::StartReading() {
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  WaitReadable();
}

void WsSession::WaitReadable() {
  if (closed_local() || reading_stopped_) return;
  socket_.async_wait(tcp::socket::wait_read,
                     [self = self()](boost::system::error_code ec) { self->OnReadable(ec); });
}

void WsSession::OnReadable(boost::system::error_code ec) {
  if (closed_local()) return;
  if (ec) return CloseNow("read failed: " + ec.message());
  thread_local std::unique_ptr<char[]> buf(new char[kReadChunk]);
  for (int rounds = 0; rounds < 16; ++rounds) {
    size_t n = socket_.read_some(asio::buffer(buf.get(), kReadChunk), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) {
      return CloseNow(ec == asio::error::eof ? "peer closed the connection"
                                             : "read failed: " + ec.message());
    }
    NoteRead(MonoNowNs());
    ping_outstanding_ = false;
    if (!Feed(std::string_view(buf.get(), n))) return;
    if (n < kReadChunk) break;
  }
  WaitReadable();
}

bool WsSession::Feed(std::string_view bytes) {
  Status st = parser_.Feed(bytes, [this](ws::Opcode op, std::string_view payload) {
    if (!reading_stopped_) OnMessage(op, payload);
  });
  if (!st.ok()) {
    ctx_->hub->metrics()
        ->GetCounter("client_errors_total", "Client requests rejected, by reason.",
                     "reason=\"" + st.reason() + "\"")
        ->Add();
    CountRefusal(ctx_->hub->metrics(), st.reason());
    reading_stopped_ = true;
    uint16_t code = st.detail() ? static_cast<uint16_t>(*st.detail()) : ws::kCloseProtocolError;
    CloseAfterFlush(code, st.message());
    return false;
  }
  return !reading_stopped_;
}

void WsSession::OnMessage(ws::Opcode op, std::string_view payload) {
  switch (op) {
    case ws::Opcode::kText:
      HandleOp(payload);
      return;
    case ws::Opcode::kBinary:
      return BadRequest(-1, "binary messages are not supported; send JSON text frames");
    case ws::Opcode::kPing:
      EnqueueRaw(ws::EncodeFrame(ws::Opcode::kPong, payload));
      return;
    case ws::Opcode::kPong:
      return;
    case ws::Opcode::kClose: {
      // Echo the client's code (RFC 6455 §5.5.1), then close.
      uint16_t code = ws::kCloseNormal;
      if (payload.size() >= 2) {
        code = static_cast<uint16_t>((static_cast<uint8_t>(payload[0]) << 8) |
                                     static_cast<uint8_t>(payload[1]));
      }
      reading_stopped_ = true;
      CloseAfterFlush(code, "");
      return;
    }
    default:
      return;
  }
}

// ---------------------------------------------------------------------------
// Ops
// ---------------------------------------------------------------------------

// One parsed client op: its id (-1 if none), name and JSON object.
struct WsSession::Op {
  int64_t id;
  std::string_view name;
  simdjson::dom::element doc;
};

void WsSession::HandleOp(std::string_view text) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.max_depth() != ctx_->options.max_json_depth) {
    // Depth counts the document itself, so a flat op is depth 2.
    auto aerr =
        parser.allocate(std::max<size_t>(parser.capacity(), 4096), ctx_->options.max_json_depth);
    (void)aerr;  // a failed allocation fails the parse that follows
  }
  // An empty frame's view may carry a null pointer, which simdjson would
  // hand to memcpy; give it a real (empty) buffer instead.
  if (text.empty()) text = std::string_view("", 0);
  if (auto err = parser.parse(text.data(), text.size()).get(doc); err) {
    if (err == simdjson::DEPTH_ERROR) {
      CountRefusal(ctx_->hub->metrics(), "too_deep");
      return SendRefusal(
          -1, Status::InvalidArgument("too_deep",
                                      "message nests deeper than limits.max_json_depth (" +
                                          std::to_string(ctx_->options.max_json_depth) + ")"));
    }
    return BadRequest(-1,
                      std::string("message is not valid JSON: ") + simdjson::error_message(err));
  }
  if (!doc.is_object()) {
    return BadRequest(-1, "message must be a JSON object with an \"op\" field");
  }
  Op op{-1, {}, doc};
  if (simdjson::dom::element idv; !doc["id"].get(idv)) {
    if (idv.get(op.id) || op.id < 0) {
      return BadRequest(-1, "\"id\" must be a non-negative integer");
    }
  }
  if (doc["op"].get(op.name)) return BadRequest(op.id, "missing string field \"op\"");

  using Handler = void (WsSession::*)(const Op&);
  static constexpr std::pair<std::string_view, Handler> kOps[] = {
      {"subscribe", &WsSession::OpSubscribe},
      {"unsubscribe", &WsSession::OpUnsubscribe},
      {"subscriptions", &WsSession::OpSubscriptions},
      {"publish", &WsSession::OpPublish},
      {"status", &WsSession::OpStatus},
      {"history", &WsSession::OpHistory},
      {"ping", &WsSession::OpPing},
      {"refresh", &WsSession::OpRefresh},
  };
  for (const auto& [name, handler] : kOps) {
    if (name == op.name) return (this->*handler)(op);
  }
  SendRefusal(op.id, Status::InvalidArgument("unknown_op",
                                             "unknown op '" + std::string(op.name) +
                                                 "' (known: subscribe, unsubscribe, subscriptions, "
                                                 "publish, status, history, ping, refresh)"));
}

void WsSession::BadRequest(int64_t id, std::string message) {
  SendRefusal(id, Status::InvalidArgument("bad_request", std::move(message)));
}

bool WsSession::StreamField(const Op& op, std::string_view* name) {
  if (!op.doc["stream"].get(*name)) return true;
  BadRequest(op.id, "op '" + std::string(op.name) + "' needs a string field \"stream\"");
  return false;
}

bool WsSession::StreamsField(const Op& op, std::vector<std::string>* streams) {
  if (!AppendStringArray(op.doc["streams"], streams)) {
    BadRequest(op.id, "'streams' must be an array of strings");
    return false;
  }
  if (streams->empty()) {
    BadRequest(op.id, "op '" + std::string(op.name) + "' needs a non-empty \"streams\"");
    return false;
  }
  return true;
}

void WsSession::OpSubscribe(const Op& op) {
  std::vector<std::string> streams;
  if (!StreamsField(op, &streams)) return;
  CursorMap from;
  if (simdjson::dom::element fv; !op.doc["from"].get(fv)) {
    simdjson::dom::object fo;
    if (fv.get(fo)) return BadRequest(op.id, "\"from\" must be an object {stream: {epoch, seq}}");
    for (auto field : fo) {
      StreamCursor c;
      std::string_view epoch;
      if (field.value["epoch"].get(epoch) || field.value["seq"].get(c.seq)) {
        return BadRequest(op.id, "\"from\"." + std::string(field.key) +
                                     " must be {\"epoch\": string, \"seq\": non-negative integer}");
      }
      c.epoch = std::string(epoch);
      from.emplace(std::string(field.key), std::move(c));
    }
  }
  double max_hz = 0;
  if (simdjson::dom::element hv; !op.doc["max_hz"].get(hv)) {
    if (hv.get(max_hz) || !(max_hz > 0 && max_hz <= kMaxHz)) {
      return BadRequest(op.id,
                        "\"max_hz\" must be a number of deliveries per second per stream, "
                        "greater than 0 and at most " +
                            std::to_string(static_cast<int>(kMaxHz)));
    }
  }
  bool snapshot = false;
  if (simdjson::dom::element sv; !op.doc["snapshot"].get(sv)) {
    if (sv.get(snapshot)) return BadRequest(op.id, "\"snapshot\" must be true or false");
  }
  Subscribe(op.id, streams, from, false, max_hz, snapshot);
}

void WsSession::OpUnsubscribe(const Op& op) {
  std::vector<std::string> streams;
  if (StreamsField(op, &streams)) Unsubscribe(op.id, streams);
}

void WsSession::OpSubscriptions(const Op& op) {
  std::string reply;
  JsonWriter w(&reply);
  w.BeginObject().Field("type", "subscriptions");
  if (op.id >= 0) w.Field("id", op.id);
  w.Key("streams").BeginArray();
  for (const auto& p : PatternTexts()) w.String(p);
  w.EndArray().EndObject();
  EnqueueControl("subscriptions", std::move(reply));
}

void WsSession::OpPing(const Op& op) {
  std::string reply;
  JsonWriter w(&reply);
  w.BeginObject().Field("type", "pong");
  if (op.id >= 0) w.Field("id", op.id);
  w.EndObject();
  EnqueueControl("pong", std::move(reply));
}

void WsSession::OpRefresh(const Op& op) {
  std::string_view token;
  if (op.doc["token"].get(token))
    return BadRequest(op.id, "op 'refresh' needs a string field \"token\"");
  Refresh(op.id, token);
}

void WsSession::OpPublish(const Op& op) {
  std::string_view name;
  if (!StreamField(op, &name)) return;
  simdjson::dom::element data;
  if (op.doc["data"].get(data)) return BadRequest(op.id, "op 'publish' needs a field \"data\"");
  const std::vector<std::string> one{simdjson::minify(data)};
  // A `sync` stream answers after the commit, from the store's thread;
  // EnqueueControl is thread-safe and the capture keeps the session alive.
  auto reply = [self = self(), id = op.id](const Result<PublishAck>& ack) {
    if (!ack.ok()) return self->SendRefusal(id, ack.status());
    std::string json;
    JsonWriter w(&json);
    w.BeginObject().Field("type", "published");
    if (id >= 0) w.Field("id", id);
    WritePublishAckMembers(w, *ack);
    w.EndObject();
    self->EnqueueControl("published", std::move(json));
  };
  PublishInput in;
  in.stream = name;
  in.events = &one;
  auto ack = ctx_->publisher->Publish(*access(), ticket_.get(), in, reply);
  if (ack) reply(*ack);
}

// Finds a readable stream for `status` and `history`, or refuses.
Stream* WsSession::ReadableStream(const Op& op) {
  std::string_view name;
  if (!StreamField(op, &name)) return nullptr;
  // Checked before the lookup: a refusal must not reveal whether it exists.
  if (auto acc = access(); !acc->CanRead(name)) {
    SendRefusal(op.id,
                ctx_->admission->Refuse(*acc, "not allowed to read '" + std::string(name) + "'"));
    return nullptr;
  }
  Stream* s = ctx_->hub->Find(name);
  if (!s) SendRefusal(op.id, Status::NotFound("no stream named '" + std::string(name) + "'"));
  return s;
}

void WsSession::OpStatus(const Op& op) {
  Stream* s = ReadableStream(op);
  if (!s) return;
  std::string reply;
  JsonWriter w(&reply);
  w.BeginObject().Field("type", "status");
  if (op.id >= 0) w.Field("id", op.id);
  const HubOptions& ho = ctx_->hub->options();
  WriteStreamStatusMembers(w, s->GetStats(), ho.warn_after_ms, ho.stale_after_ms);
  w.EndObject();
  EnqueueControl("status", std::move(reply));
}

void WsSession::OpHistory(const Op& op) {
  Stream* s = ReadableStream(op);
  if (!s) return;
  uint64_t from_seq = 1, limit = kDefaultHistoryLimit;
  if (simdjson::dom::element v; !op.doc["from_seq"].get(v) && v.get(from_seq)) {
    return BadRequest(op.id, "\"from_seq\" must be a non-negative integer");
  }
  if (simdjson::dom::element v; !op.doc["limit"].get(v) && (v.get(limit) || limit == 0)) {
    return BadRequest(op.id, "\"limit\" must be a positive integer");
  }
  limit = std::min(limit, kMaxHistoryLimit);
  std::vector<EventPtr> events;
  bool has_more = false;
  uint64_t next = 0;
  if (Status st = s->Read(from_seq, limit, &events, &has_more, &next); !st.ok()) {
    return SendRefusal(op.id, st);  // evicted: carries oldest_seq
  }
  std::string reply;
  JsonWriter w(&reply);
  w.BeginObject().Field("type", "history");
  if (op.id >= 0) w.Field("id", op.id);
  WriteHistoryMembers(w, *s, events, has_more, next);
  w.EndObject();
  EnqueueControl("history", std::move(reply));
}

// ---------------------------------------------------------------------------
// Writing, keep-alive, close
// ---------------------------------------------------------------------------

void WsSession::EncodeBatch(std::vector<OutItem>& items, std::string* scratch,
                            std::vector<asio::const_buffer>* bufs) {
  // Small frames (up to kInlineWireBytes: a copy costs less than an iovec of
  // its own) are copied into scratch, merged into contiguous runs; larger
  // shared event frames are written from the event as they are. Pieces
  // record scratch offsets until scratch stops growing.
  struct Piece {
    const char* ext;  // null: scratch[off, off + len)
    size_t off;
    size_t len;
  };
  if (items.size() == 1 && items[0].kind == ItemKind::kEvent) {
    // One event (a quiet stream, the latency floor): its shared frame as it
    // is, no copy. inflight_ holds the event until the write completes.
    const std::string_view f = items[0].event->ws_frame();
    bufs->push_back(asio::buffer(f.data(), f.size()));
    return;
  }
  thread_local std::vector<Piece> pieces;
  pieces.clear();
  auto copied = [&](size_t off) {  // scratch grew from `off` to its end
    const size_t n = scratch->size() - off;
    if (!pieces.empty() && !pieces.back().ext && pieces.back().off + pieces.back().len == off) {
      pieces.back().len += n;
    } else {
      pieces.push_back({nullptr, off, n});
    }
  };
  auto wire = [&](std::string_view s) {
    if (s.size() > kInlineWireBytes) return pieces.push_back({s.data(), 0, s.size()});
    const size_t off = scratch->size();
    scratch->append(s);
    copied(off);
  };
  for (const OutItem& it : items) {
    switch (it.kind) {
      case ItemKind::kEvent:
        wire(it.event->ws_frame());
        break;
      case ItemKind::kControl: {
        const size_t off = scratch->size();
        ws::AppendFrameHeader(scratch, ws::Opcode::kText, it.ctl->text.size());
        copied(off);
        wire(it.ctl->text);
        break;
      }
      case ItemKind::kRaw:
        wire(it.ctl->text);
        break;
    }
  }
  for (const Piece& p : pieces) {
    bufs->push_back(asio::buffer(p.ext ? p.ext : scratch->data() + p.off, p.len));
  }
}

void WsSession::OnTick(int64_t now_ns) {
  const auto& o = ctx_->options;
  const int64_t idle = now_ns - last_read_ns();
  if (ping_outstanding_ && now_ns - ping_sent_ns_ > o.ws_pong_timeout_ms * 1'000'000) {
    return CloseNow("no pong within " + std::to_string(o.ws_pong_timeout_ms) + " ms");
  }
  if (!ping_outstanding_ && idle > o.ws_ping_interval_ms * 1'000'000) {
    ping_outstanding_ = true;
    ping_sent_ns_ = now_ns;
    EnqueueRaw(ws::EncodeFrame(ws::Opcode::kPing, "livehub"));
  }
}

void WsSession::SendClose(uint16_t code, std::string_view reason) {
  EnqueueRaw(ws::EncodeClose(code, reason));
}

}  // namespace livehub
