#include "fanout/sse_session.h"

#include <charconv>

#include "core/json_writer.h"

namespace livehub {
namespace {

constexpr std::string_view kHead =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream; charset=utf-8\r\n"
    "Cache-Control: no-cache\r\n"
    "Connection: keep-alive\r\n"
    "X-Accel-Buffering: no\r\n"
    "Transfer-Encoding: chunked\r\n";
// No blank line after it: the field joins the `subscribed` block that
// follows. A lone blank line would make a client that (against the spec)
// keeps a half-received block across reconnects dispatch that stale block —
// npm eventsource 2.x does, and would see the last event before the cut twice.
constexpr std::string_view kRetry = "retry: 1000\n";

}  // namespace

Result<CursorMap> ParseSseCursor(std::string_view text) {
  CursorMap out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    std::string_view entry =
        text.substr(pos, comma == std::string_view::npos ? text.npos : comma - pos);
    pos = comma == std::string_view::npos ? text.size() : comma + 1;
    size_t at = entry.rfind('@');
    size_t colon = entry.rfind(':');
    uint64_t seq = 0;
    if (at == std::string_view::npos || colon == std::string_view::npos || colon < at || at == 0 ||
        colon == at + 1 ||
        [&] {
          auto [ptr, ec] =
              std::from_chars(entry.data() + colon + 1, entry.data() + entry.size(), seq);
          return ec != std::errc() || ptr != entry.data() + entry.size();
        }() ||
        colon + 1 == entry.size()) {
      return Status::InvalidArgument(
          "bad_cursor", "Last-Event-ID entry '" + std::string(entry.substr(0, 120)) +
                            "' is not stream@epoch:seq (use the id of a message this hub sent)");
    }
    out[std::string(entry.substr(0, at))] =
        StreamCursor{std::string(entry.substr(at + 1, colon - at - 1)), seq};
  }
  return out;
}

std::optional<HandshakeRefusal> AcceptSse(FanoutContext* ctx, asio::io_context& ioc,
                                          UpgradeRequest req, const SocketTaker& take) {
  std::vector<std::string> patterns = SplitCommaList(req.Query("streams"));
  if (patterns.empty()) {
    return HandshakeRefusal{
        Status::InvalidArgument("bad_request", "/v1/sse needs ?streams=pattern[,pattern...]"), {}};
  }
  const Admission& admission = *ctx->admission;
  if (Status st = admission.AdmitSubscriber(*req.access); !st.ok()) return HandshakeRefusal{st, {}};
  if (auto parsed = admission.AdmitPatterns(*req.access, patterns); !parsed.ok()) {
    return HandshakeRefusal{parsed.status(), {}};
  }
  if (Status st = admission.AdmitSubscriptionCount(patterns.size()); !st.ok()) {
    return HandshakeRefusal{st, {}};
  }
  std::string cursor_text(req.header("Last-Event-ID"));
  if (cursor_text.empty() && req.HasQuery("last_event_id")) {
    cursor_text = std::string(req.Query("last_event_id"));
  }
  auto cursor = ParseSseCursor(cursor_text);
  if (!cursor.ok()) return HandshakeRefusal{cursor.status(), {}};
  double max_hz = 0;
  if (req.HasQuery("max_hz")) {
    auto hz = ParseMaxHz(req.Query("max_hz"));
    if (!hz.ok()) return HandshakeRefusal{hz.status(), {}};
    max_hz = *hz;
  }
  auto session = std::make_shared<SseSession>(ctx, ioc, take());
  session->SetAccess(std::move(req.access));
  session->SetCorsHeaders(std::move(req.extra_header_lines));
  session->AdoptPeer(std::move(req.ticket), std::move(req.peer));
  session->Run(std::move(patterns), std::move(*cursor), !cursor_text.empty(), max_hz);
  return std::nullopt;
}

SseSession::SseSession(FanoutContext* ctx, asio::io_context& ioc, tcp::socket socket)
    : SubscriberSession(ctx, ioc, std::move(socket)) {
  ctx_->sse_connections->Add(1);
}

void SseSession::Run(std::vector<std::string> patterns, CursorMap resume, bool resuming,
                     double max_hz) {
  Start();
  EnqueueRaw(std::string(kRetry));
  Subscribe(-1, patterns, resume, resuming, max_hz);
}

Result<double> ParseMaxHz(std::string_view text) {
  double hz = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), hz);
  if (ec != std::errc() || ptr != text.data() + text.size() || !(hz > 0 && hz <= kMaxHz)) {
    return Status::InvalidArgument(
        "bad_request", "max_hz '" + std::string(text.substr(0, 40)) +
                           "' must be a number of deliveries per second per stream, greater "
                           "than 0 and at most " +
                           std::to_string(static_cast<int>(kMaxHz)));
  }
  return hz;
}

void SseSession::EncodeBatch(std::vector<OutItem>& items, std::string* scratch,
                             std::vector<asio::const_buffer>* bufs) {
  // Pieces point either into scratch (by offset, resolved once scratch stops
  // growing) or at memory the items own. The small per-subscriber glue
  // ("\nid: <cursor>\n\n" + the next "event: event\ndata: ") is copied into
  // scratch and merged into one piece; an event's shared JSON up to
  // kInlineWireBytes is copied there too (cheaper than an iovec of its own,
  // and a batch of small events becomes one contiguous buffer), a larger one
  // is written from the shared event as is.
  struct Piece {
    const char* ext;
    size_t off;
    size_t len;
    bool glue;
  };
  thread_local std::vector<Piece> pieces;  // capacity kept between batches
  pieces.clear();
  auto lit = [&](std::string_view s) { pieces.push_back({s.data(), 0, s.size(), false}); };
  auto glue = [&](std::string_view s) {
    if (!pieces.empty() && pieces.back().glue) {
      pieces.back().len += s.size();  // scratch grows contiguously
    } else {
      pieces.push_back({nullptr, scratch->size(), s.size(), true});
    }
    scratch->append(s);
  };
  if (!head_sent_) {
    head_ = std::string(kHead) + cors_headers_ + "\r\n";
    lit(head_);
    head_sent_ = true;
  }
  const size_t chunk_hdr = pieces.size();
  pieces.push_back({nullptr, 0, 0, false});  // chunk size line, filled below
  size_t body = 0;
  for (OutItem& it : items) {
    const size_t before = scratch->size();
    size_t ext_bytes = 0;
    auto shared = [&](std::string_view s) {
      if (s.size() <= kInlineWireBytes) return glue(s);  // a copy beats an iovec
      lit(s);
      ext_bytes += s.size();
    };
    switch (it.kind) {
      case ItemKind::kEvent:
        glue("event: event\ndata: ");
        shared(it.event->json());
        glue("\nid: ");
        CursorAdvance(it.event->stream, it.event->seq);
        glue(CursorText());
        glue("\n\n");
        break;
      case ItemKind::kControl: {
        const OutItem::Control& c = *it.ctl;
        glue("event: ");
        glue(c.type);
        glue("\ndata: ");
        shared(c.text);
        if (c.stream) CursorAdvance(c.stream, c.seq);
        if (c.stream || std::string_view(c.type) == "subscribed") {  // gap, batch
          glue("\nid: ");
          glue(CursorText());
        }
        glue("\n\n");
        break;
      }
      case ItemKind::kRaw:
        shared(it.ctl->text);
        break;
    }
    body += scratch->size() - before + ext_bytes;
  }
  char line[24];
  int n = snprintf(line, sizeof line, "%zx\r\n", body);
  size_t off = scratch->size();
  scratch->append(line, static_cast<size_t>(n));
  pieces[chunk_hdr] = {nullptr, off, static_cast<size_t>(n), false};
  lit("\r\n");
  for (const Piece& p : pieces) {
    if (p.len == 0) continue;
    bufs->push_back(asio::buffer(p.ext ? p.ext : scratch->data() + p.off, p.len));
  }
}

void SseSession::StartReading() {
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  WaitReadable();
}

void SseSession::WaitReadable() {
  if (closed_local()) return;
  // An SSE client sends nothing after its request: readability means it
  // closed (or sent junk, which we discard).
  socket_.async_wait(tcp::socket::wait_read, [self = self()](boost::system::error_code ec) {
    if (self->closed_local()) return;
    if (ec) return self->CloseNow("read failed: " + ec.message());
    char buf[512];
    size_t n = self->socket_.read_some(asio::buffer(buf), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      return self->WaitReadable();
    }
    if (ec || n == 0) return self->CloseNow("peer closed the connection");
    self->WaitReadable();
  });
}

void SseSession::OnTick(int64_t now_ns) {
  if (now_ns - last_write_ns() > ctx_->options.sse_keepalive_ms * 1'000'000) {
    EnqueueRaw(": keepalive\n\n");
  }
}

void SseSession::SendClose(uint16_t code, std::string_view reason) {
  // SSE has no close frame: say why as an error event, then end the stream
  // (the zero-length chunk).
  std::string json;
  JsonWriter w(&json);
  const char* reason_code = code == 1008                 ? "slow_client"
                            : code == kCloseTokenExpired ? "token_expired"
                                                         : "closing";
  w.BeginObject().Field("type", "error").Field("code", reason_code);
  w.Field("message", reason).EndObject();
  EnqueueRaw("event: error\ndata: " + json + "\n\n");
}

}  // namespace livehub
