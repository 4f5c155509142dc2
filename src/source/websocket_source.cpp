// The `websocket` source: a WebSocket client (ws:// or wss://) on the
// sources' io_context. After each (re)connect it sends `send_on_open`
// (subscribe requests), then every text or binary frame is one Ingest.
//   - protocol pings every ping_interval_s of silence (Beast's keep-alive:
//     no answer within another interval closes the connection);
//   - heartbeat_timeout_s: no message at all for that long -> reconnect
//     (stall detection only reports; this acts);
//   - frames over max_message_bytes are refused from their header
//     (read_message_max), counted as `oversize`, and the connection is
//     dropped and made again, since the frame cannot be skipped.
// Threading: sources thread only. Each connection lives in a shared Conn
// that every pending handler holds; a handler whose Conn is no longer the
// current one (or that runs after Stop) does nothing.
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "core/clock.h"
#include "source/net_client.h"
#include "source/source.h"
#include "source/source_manager.h"

namespace livehub {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

struct WebSocketOptions {
  std::string url;
  NetUrl parsed;
  std::vector<std::string> send_on_open;
  int64_t ping_interval_ms = 20'000;
  int64_t heartbeat_timeout_ms = 0;  // 0: off
  std::string subprotocol;
};

int64_t Now() { return SystemClock::Get()->NowMs(); }

// One connection attempt and, if it succeeds, the connection.
struct WsConn : ClientStream<websocket::stream<beast::tcp_stream>,
                             websocket::stream<beast::ssl_stream<beast::tcp_stream>>> {
  using ClientStream::ClientStream;

  beast::flat_buffer buffer;
  websocket::response_type handshake_response;  // for a declined upgrade's status
};

class WebSocketSource : public Source {
 public:
  WebSocketSource(SourceContext* ctx, SourceOptions options)
      : Source(ctx, std::move(options)),
        ws_(std::any_cast<WebSocketOptions>(options_.settings)),
        retry_timer_(ioc()),
        heartbeat_timer_(ioc()) {}

 protected:
  void DoStart() override {
    if (ws_.parsed.tls) {
      auto ctx = MakeTlsClientContext(options_.tls);
      if (!ctx.ok()) {
        SetError(ctx.status().message());
        SetState(SourceState::kDisconnected);
        return;
      }
      tls_ = *ctx;
    }
    Connect();
  }

  void DoStop() override {
    stopped_ = true;
    retry_timer_.cancel();
    heartbeat_timer_.cancel();
    if (conn_) {
      conn_->resolver.cancel();
      conn_->tcp().close();
      conn_.reset();
    }
  }

  void OnResume() override {
    if (conn_ && open_ && !reading_) DoRead(conn_);
  }

  void Describe(JsonWriter* w) const override {
    w->Field("url", RedactUrl(ws_.url));
    w->Field("send_on_open", static_cast<uint64_t>(ws_.send_on_open.size()));
    w->Field("ping_interval_ms", ws_.ping_interval_ms);
    w->Field("heartbeat_timeout_ms", ws_.heartbeat_timeout_ms);
    if (!ws_.subprotocol.empty()) w->Field("subprotocol", ws_.subprotocol);
    w->Field("tls_verify", options_.tls.verify);
  }

 private:
  using ConnPtr = std::shared_ptr<WsConn>;

  bool Stale(const ConnPtr& c) const { return stopped_ || c != conn_; }

  void Connect() {
    if (stopped_) return;
    SetState(SourceState::kConnecting);
    open_ = false;
    reading_ = false;
    conn_ = std::make_shared<WsConn>(ioc(), tls_.get());
    ConnPtr c = conn_;
    ResolveAndConnect(
        c, ws_.parsed, options_.connect_timeout_ms, [this, c] { return Stale(c); },
        [this, c](beast::error_code ec, const std::string& what) {
          if (ec) return Fail(c, ec, what);
          OnConnect(c);
        });
  }

  void OnConnect(const ConnPtr& c) {
    if (!c->secure) return Handshake(c);
    auto& tls_stream = c->secure->next_layer();
    if (beast::error_code ec = SetTlsClientHost(tls_stream, ws_.parsed.host, options_.tls.verify)) {
      return Fail(c, ec, "TLS SNI");
    }
    tls_stream.async_handshake(ssl::stream_base::client, [this, c](beast::error_code ec) {
      if (Stale(c)) return;
      if (ec) return Fail(c, ec, "TLS handshake with " + ws_.parsed.HostHeader());
      Handshake(c);
    });
  }

  void Handshake(const ConnPtr& c) {
    c->tcp().expires_never();
    auto headers = HeadersFor(ws_.parsed.host);
    std::string subprotocol = ws_.subprotocol;
    int64_t connect_ms = options_.connect_timeout_ms;
    int64_t ping_ms = ws_.ping_interval_ms;
    size_t max_bytes = options_.max_message_bytes;
    c->With([&](auto& ws) {
      websocket::stream_base::timeout t;
      t.handshake_timeout = std::chrono::milliseconds(connect_ms);
      if (ping_ms > 0) {
        // Beast pings after half the idle time without input and closes
        // after the whole of it: a ping every ping_interval of silence.
        t.idle_timeout = std::chrono::milliseconds(2 * ping_ms);
        t.keep_alive_pings = true;
      } else {
        t.idle_timeout = websocket::stream_base::none();
        t.keep_alive_pings = false;
      }
      ws.set_option(t);
      ws.set_option(
          websocket::stream_base::decorator([headers, subprotocol](websocket::request_type& req) {
            req.set(beast::http::field::user_agent, "livehub");
            if (!subprotocol.empty())
              req.set(beast::http::field::sec_websocket_protocol, subprotocol);
            for (const auto& [k, v] : headers) req.set(k, v);
          }));
      ws.read_message_max(max_bytes);
      ws.async_handshake(c->handshake_response, ws_.parsed.HostHeader(), ws_.parsed.target,
                         [this, c](beast::error_code ec) {
                           if (Stale(c)) return;
                           if (ec == websocket::error::upgrade_declined) {
                             return Fail(c, ec,
                                         "WebSocket upgrade declined with HTTP " +
                                             std::to_string(c->handshake_response.result_int()));
                           }
                           if (ec) return Fail(c, ec, "WebSocket handshake");
                           SendOnOpen(c, 0);
                         });
    });
  }

  void SendOnOpen(const ConnPtr& c, size_t i) {
    if (i == ws_.send_on_open.size()) {
      open_ = true;
      SetState(SourceState::kSubscribed);
      last_frame_ms_ = Now();
      ArmHeartbeat(c);
      return DoRead(c);
    }
    c->With([&](auto& ws) {
      ws.text(true);
      ws.async_write(asio::buffer(ws_.send_on_open[i]), [this, c, i](beast::error_code ec, size_t) {
        if (Stale(c)) return;
        if (ec) return Fail(c, ec, "sending send_on_open[" + std::to_string(i) + "]");
        SendOnOpen(c, i + 1);
      });
    });
  }

  void DoRead(const ConnPtr& c) {
    if (reading_ || throttled()) return;  // OnResume reads again
    reading_ = true;
    c->With([&](auto& ws) {
      ws.async_read(c->buffer, [this, c](beast::error_code ec, size_t) { OnRead(c, ec); });
    });
  }

  void OnRead(const ConnPtr& c, beast::error_code ec) {
    if (Stale(c)) return;
    if (ec) return Fail(c, ec, "reading");
    last_frame_ms_ = Now();
    auto data = c->buffer.cdata();
    std::string_view payload(static_cast<const char*>(data.data()), data.size());
    TemplateVars vars;
    vars.topic = ws_.parsed.path;
    // reading_ stays set until the buffer is free again, so an OnResume
    // during Ingest cannot start a second read.
    Ingest(payload, vars);
    c->buffer.consume(c->buffer.size());
    reading_ = false;
    DoRead(c);  // unless throttled: then OnResume reads again
  }

  void ArmHeartbeat(const ConnPtr& c) {
    if (ws_.heartbeat_timeout_ms <= 0) return;
    heartbeat_timer_.expires_after(
        std::chrono::milliseconds(std::clamp<int64_t>(ws_.heartbeat_timeout_ms / 4, 50, 1000)));
    heartbeat_timer_.async_wait([this, c](beast::error_code ec) {
      if (ec || Stale(c)) return;
      // While throttled we do not read, so silence is ours, not upstream's.
      if (throttled()) last_frame_ms_ = Now();
      if (Now() - last_frame_ms_ > ws_.heartbeat_timeout_ms) {
        SetError("no message for " + std::to_string(ws_.heartbeat_timeout_ms) +
                 " ms (heartbeat_timeout_s): reconnecting");
        return Reconnect(c);
      }
      ArmHeartbeat(c);
    });
  }

  void Fail(const ConnPtr& c, beast::error_code ec, const std::string& what) {
    if (Stale(c)) return;
    if (ec == websocket::error::message_too_big) {
      CountDrop("oversize", 1,
                "frame over max_message_bytes=" + std::to_string(options_.max_message_bytes) +
                    " refused; reconnecting");
      SetError("frame over max_message_bytes=" + std::to_string(options_.max_message_bytes) +
               " from " + RedactUrl(ws_.url) + ": reconnecting");
    } else if (ec == websocket::error::closed) {
      SetError("upstream " + RedactUrl(ws_.url) + " closed the WebSocket");
    } else {
      SetError(what + " (" + RedactUrl(ws_.url) + "): " + ec.message());
    }
    Reconnect(c);
  }

  void Reconnect(const ConnPtr& c) {
    c->resolver.cancel();
    c->tcp().close();
    conn_.reset();
    open_ = false;
    reading_ = false;
    heartbeat_timer_.cancel();
    SetState(SourceState::kDisconnected);
    retry_timer_.expires_after(std::chrono::milliseconds(backoff_.Next()));
    retry_timer_.async_wait([this](beast::error_code ec) {
      if (ec || stopped_) return;
      NoteReconnect();
      Connect();
    });
  }

  const WebSocketOptions ws_;
  std::shared_ptr<ssl::context> tls_;
  ConnPtr conn_;
  asio::steady_timer retry_timer_;
  asio::steady_timer heartbeat_timer_;
  int64_t last_frame_ms_ = 0;
  bool stopped_ = false;
  bool open_ = false;     // handshake and send_on_open done
  bool reading_ = false;  // an async_read is pending
};

std::any ParseWebSocket(ConfigWalker& w, const YAML::Node& n, const std::string& path,
                        SourceOptions*) {
  WebSocketOptions o;
  if (n.IsNull()) {
    w.Fail(path, "is required (at least url)");
    return o;
  }
  w.Map(n, path,
        {{"url", w.Scalar<std::string>(&o.url)},
         {"send_on_open", w.StringList(&o.send_on_open)},
         {"ping_interval_s", w.Seconds(&o.ping_interval_ms)},
         {"heartbeat_timeout_s", w.Seconds(&o.heartbeat_timeout_ms)},
         {"subprotocol", w.Scalar<std::string>(&o.subprotocol)}});
  if (!w.status().ok()) return o;
  if (o.url.empty()) {
    w.Fail(path + ".url", "is required");
    return o;
  }
  auto u = ParseNetUrl(o.url, "ws", "wss");
  if (!u.ok()) {
    w.Fail(path + ".url", u.status().message());
    return o;
  }
  o.parsed = *u;
  if (o.ping_interval_ms > 0 && o.ping_interval_ms < 100) {
    w.Fail(path + ".ping_interval_s", "must be 0 (off) or at least 0.1");
  }
  for (size_t i = 0; i < o.send_on_open.size(); ++i) {
    auto r = ResolveSecret(o.send_on_open[i]);
    if (!r.ok()) {
      w.Fail(path + ".send_on_open[" + std::to_string(i) + "]", r.status().message());
      return o;
    }
    o.send_on_open[i] = std::move(*r);
  }
  return o;
}

}  // namespace

SourceType WebSocketSourceType() {
  return {"websocket", ParseWebSocket,
          [](SourceContext* ctx, SourceOptions o) -> std::unique_ptr<Source> {
            return std::make_unique<WebSocketSource>(ctx, std::move(o));
          }};
}

}  // namespace livehub
