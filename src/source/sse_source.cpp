// The `sse` source: a Server-Sent Events client (http:// or https://) on the
// sources' io_context. Each dispatched event is one Ingest with
// {event} = its type ("message" by default) and {topic} = the URL path, or
// goes to the stream named for its type in `event_stream_map`.
//   - resume: the last `id:` is sent as Last-Event-ID on every reconnect and
//     saved as the cursor "last_event_id" after each event (in order with
//     the events), so a hub restart resumes from it too;
//   - `retry:` from the server sets the minimum reconnect delay, clamped to
//     [retry_floor_s, backoff.max_s];
//   - a non-200 status or a content type other than text/event-stream is an
//     error (shown with the status) and the source backs off.
// The body is streamed through Beast's response parser (chunked or not)
// into a fixed buffer; while throttled no read is issued.
// Threading: sources thread only. Each connection lives in a shared Conn
// that every pending handler holds; a handler whose Conn is no longer the
// current one (or that runs after Stop) does nothing.
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/optional.hpp>

#include "core/clock.h"
#include "core/json_writer.h"
#include "core/strings.h"
#include "source/net_client.h"
#include "source/source.h"
#include "source/source_manager.h"
#include "source/sse_parser.h"

namespace livehub {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

constexpr size_t kReadChunk = 64 * 1024;
constexpr const char* kCursorKey = "last_event_id";

struct SseOptions {
  std::string url;
  NetUrl parsed;
  std::string last_event_id;
  std::vector<std::pair<std::string, std::string>> event_stream_map;  // type -> template
  int64_t retry_floor_ms = 500;
};

struct SseConn : ClientStream<beast::tcp_stream, beast::ssl_stream<beast::tcp_stream>> {
  SseConn(asio::io_context& ioc, ssl::context* tls) : ClientStream(ioc, tls) {
    parser.body_limit(boost::none);  // an event stream never ends by itself
  }

  beast::flat_buffer buffer;
  http::request<http::empty_body> request;
  http::response_parser<http::buffer_body> parser;
  char chunk[kReadChunk];
};

class SseSource : public Source {
 public:
  SseSource(SourceContext* ctx, SourceOptions options)
      : Source(ctx, std::move(options)),
        sse_(std::any_cast<SseOptions>(options_.settings)),
        parser_(options_.max_message_bytes),
        retry_timer_(ioc()) {
    for (const auto& [type, text] : sse_.event_stream_map) {
      auto t = StreamTemplate::Parse(text);  // validated at config load
      if (t.ok()) mapped_.emplace(type, std::move(*t));
    }
  }

 protected:
  void DoStart() override {
    if (auto saved = LoadCursor(kCursorKey)) {
      parser_.set_last_event_id(*saved);
    } else {
      parser_.set_last_event_id(sse_.last_event_id);
    }
    if (sse_.parsed.tls) {
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
    w->Field("url", RedactUrl(sse_.url));
    w->Field("last_event_id", parser_.last_event_id());
    if (auto r = parser_.retry_ms()) w->Field("server_retry_ms", *r);
    w->Field("retry_floor_ms", sse_.retry_floor_ms);
    if (!sse_.event_stream_map.empty()) {
      w->Key("event_stream_map").BeginObject();
      for (const auto& [type, text] : sse_.event_stream_map) w->Field(type, text);
      w->EndObject();
    }
    w->Field("tls_verify", options_.tls.verify);
  }

 private:
  using ConnPtr = std::shared_ptr<SseConn>;

  bool Stale(const ConnPtr& c) const { return stopped_ || c != conn_; }

  void Connect() {
    if (stopped_) return;
    SetState(SourceState::kConnecting);
    open_ = false;
    reading_ = false;
    parser_.Reset();
    conn_ = std::make_shared<SseConn>(ioc(), tls_.get());
    ConnPtr c = conn_;
    ResolveAndConnect(
        c, sse_.parsed, options_.connect_timeout_ms, [this, c] { return Stale(c); },
        [this, c](beast::error_code ec, const std::string& what) {
          if (ec) return Fail(c, what + ": " + ec.message());
          OnConnect(c);
        });
  }

  void OnConnect(const ConnPtr& c) {
    if (!c->secure) return SendRequest(c);
    if (SetTlsClientHost(*c->secure, sse_.parsed.host, options_.tls.verify)) {
      return Fail(c, "TLS SNI for " + sse_.parsed.host + " failed");
    }
    c->secure->async_handshake(ssl::stream_base::client, [this, c](beast::error_code ec) {
      if (Stale(c)) return;
      if (ec)
        return Fail(c, "TLS handshake with " + sse_.parsed.HostHeader() + ": " + ec.message());
      SendRequest(c);
    });
  }

  void SendRequest(const ConnPtr& c) {
    auto& req = c->request;
    req.version(11);
    req.method(http::verb::get);
    req.target(sse_.parsed.target);
    req.set(http::field::host, sse_.parsed.HostHeader());
    req.set(http::field::user_agent, "livehub");
    req.set(http::field::accept, "text/event-stream");
    req.set(http::field::cache_control, "no-cache");
    for (const auto& [k, v] : HeadersFor(sse_.parsed.host)) req.set(k, v);
    if (!parser_.last_event_id().empty()) req.set("Last-Event-ID", parser_.last_event_id());
    c->With([&](auto& s) {
      http::async_write(s, c->request, [this, c](beast::error_code ec, size_t) {
        if (Stale(c)) return;
        if (ec) return Fail(c, "sending the request: " + ec.message());
        c->With([&](auto& s2) {
          http::async_read_header(s2, c->buffer, c->parser,
                                  [this, c](beast::error_code ec, size_t) { OnHeader(c, ec); });
        });
      });
    });
  }

  void OnHeader(const ConnPtr& c, beast::error_code ec) {
    if (Stale(c)) return;
    if (ec) return Fail(c, "reading the response header: " + ec.message());
    const auto& res = c->parser.get();
    if (res.result() != http::status::ok) {
      return Fail(c, "HTTP " + std::to_string(res.result_int()) + " " + std::string(res.reason()) +
                         " from " + RedactUrl(sse_.url));
    }
    std::string_view type = res[http::field::content_type];
    std::string lower = AsciiLower(type.substr(0, type.find(';')));
    while (!lower.empty() && lower.back() == ' ') lower.pop_back();
    if (lower != "text/event-stream") {
      return Fail(c, "content type '" + std::string(type.substr(0, 100)) +
                         "' is not text/event-stream (HTTP 200 from " + RedactUrl(sse_.url) + ")");
    }
    open_ = true;
    SetState(SourceState::kSubscribed);
    DoRead(c);
  }

  void DoRead(const ConnPtr& c) {
    if (reading_ || throttled()) return;  // OnResume reads again
    reading_ = true;
    c->parser.get().body().data = c->chunk;
    c->parser.get().body().size = sizeof(c->chunk);
    if (options_.read_timeout_ms > 0) {
      c->tcp().expires_after(std::chrono::milliseconds(options_.read_timeout_ms));
    } else {
      c->tcp().expires_never();
    }
    c->With([&](auto& s) {
      http::async_read_some(s, c->buffer, c->parser,
                            [this, c](beast::error_code ec, size_t) { OnRead(c, ec); });
    });
  }

  void OnRead(const ConnPtr& c, beast::error_code ec) {
    if (Stale(c)) return;
    size_t n = sizeof(c->chunk) - c->parser.get().body().size;
    if (ec == http::error::need_buffer) ec = {};
    // Every event already read is ingested, even past the throttle point;
    // reading_ stays set until the chunk buffer is free again.
    if (n > 0) parser_.Feed(std::string_view(c->chunk, n), [this](SseEvent& ev) { OnEvent(ev); });
    reading_ = false;
    if (ec == beast::error::timeout) {
      return Fail(c, "no data for read_timeout_s=" +
                         std::to_string(options_.read_timeout_ms / 1000.0) + " s");
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof) {
      return Fail(c, "upstream " + RedactUrl(sse_.url) + " ended the stream");
    }
    if (ec) return Fail(c, "reading the stream: " + ec.message());
    if (c->parser.is_done())
      return Fail(c, "upstream " + RedactUrl(sse_.url) + " ended the stream");
    DoRead(c);  // unless throttled: then OnResume reads again
  }

  void OnEvent(SseEvent& ev) {
    if (ev.oversize) {
      CountDrop("oversize", 1,
                "SSE event over max_message_bytes=" + std::to_string(options_.max_message_bytes));
    } else {
      // An event type in event_stream_map has its own stream template.
      auto it = mapped_.find(ev.type);
      TemplateVars vars;
      vars.topic = sse_.parsed.path;
      vars.event = ev.type;
      Ingest(ev.data, vars, it == mapped_.end() ? nullptr : &it->second);
    }
    if (!ev.id.empty() && ev.id != saved_id_) {
      SaveCursor(kCursorKey, ev.id);
      saved_id_ = ev.id;
    }
  }

  void Fail(const ConnPtr& c, const std::string& message) {
    if (Stale(c)) return;
    SetError(message);
    c->resolver.cancel();
    c->tcp().close();
    conn_.reset();
    open_ = false;
    reading_ = false;
    SetState(SourceState::kDisconnected);
    int64_t delay = backoff_.Next();
    if (auto r = parser_.retry_ms()) {
      int64_t asked = std::clamp<int64_t>(*r, sse_.retry_floor_ms,
                                          std::max(sse_.retry_floor_ms, options_.backoff.max_ms));
      delay = std::max(delay, asked);
    }
    retry_timer_.expires_after(std::chrono::milliseconds(delay));
    retry_timer_.async_wait([this](beast::error_code ec) {
      if (ec || stopped_) return;
      NoteReconnect();
      Connect();
    });
  }

  const SseOptions sse_;
  std::map<std::string, StreamTemplate> mapped_;
  SseParser parser_;
  std::shared_ptr<ssl::context> tls_;
  ConnPtr conn_;
  asio::steady_timer retry_timer_;
  std::string saved_id_;
  bool stopped_ = false;
  bool open_ = false;
  bool reading_ = false;
};

std::any ParseSse(ConfigWalker& w, const YAML::Node& n, const std::string& path, SourceOptions*) {
  SseOptions o;
  if (n.IsNull()) {
    w.Fail(path, "is required (at least url)");
    return o;
  }
  w.Map(n, path,
        {{"url", w.Scalar<std::string>(&o.url)},
         {"last_event_id", w.Scalar<std::string>(&o.last_event_id)},
         {"event_stream_map", w.StringMap(&o.event_stream_map)},
         {"retry_floor_s", w.Seconds(&o.retry_floor_ms)}});
  if (!w.status().ok()) return o;
  if (o.url.empty()) {
    w.Fail(path + ".url", "is required");
    return o;
  }
  auto u = ParseNetUrl(o.url, "http", "https");
  if (!u.ok()) {
    w.Fail(path + ".url", u.status().message());
    return o;
  }
  o.parsed = *u;
  for (const auto& [type, text] : o.event_stream_map) {
    if (auto t = StreamTemplate::Parse(text); !t.ok()) {
      w.Fail(path + ".event_stream_map." + type, t.status().message());
      return o;
    }
  }
  if (o.last_event_id.find('\0') != std::string::npos ||
      o.last_event_id.find_first_of("\r\n") != std::string::npos) {
    w.Fail(path + ".last_event_id", "must not contain NUL, CR or LF");
  }
  return o;
}

}  // namespace

SourceType SseSourceType() {
  return {"sse", ParseSse, [](SourceContext* ctx, SourceOptions o) -> std::unique_ptr<Source> {
            return std::make_unique<SseSource>(ctx, std::move(o));
          }};
}

}  // namespace livehub
