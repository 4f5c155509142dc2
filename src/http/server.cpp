#include "http/server.h"

#include <sched.h>

#include <array>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <optional>
#include <stdexcept>

#include "core/clock.h"
#include "core/json_writer.h"
#include "core/log.h"
#include "fanout/access.h"
#include "fanout/session.h"
#include "fanout/sse_session.h"
#include "fanout/write_pacer.h"
#include "fanout/ws_codec.h"
#include "fanout/ws_session.h"
#include "http/rest_api.h"

namespace livehub {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Read buffer room for a request body (see OnHeader), and what an idle
// connection keeps of it.
constexpr uint64_t kBodyReadBytes = 64u << 10;
constexpr size_t kIdleBufferBytes = 8u << 10;

std::vector<std::string> SplitList(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    size_t c = s.find(',');
    std::string_view part = s.substr(0, c);
    if (!part.empty()) out.emplace_back(part);
    if (c == std::string_view::npos) break;
    s.remove_prefix(c + 1);
  }
  return out;
}

// One plain HTTP connection: reads requests (keep-alive), answers REST calls,
// and hands the socket over to a WsSession or SseSession on /v1/ws, /v1/sse.
// Thread safety: runs on one io thread.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
  static constexpr auto kLinger = std::chrono::seconds(1);
  static constexpr size_t kMaxLingerBytes = 256 << 10;

 public:
  // `peer_ip` is the client's address (for a TLS connection, the socket is
  // the pump's socketpair and has none of its own).
  HttpSession(Server* server, asio::io_context& ioc, tcp::socket socket, std::string peer_ip)
      : server_(server), ioc_(ioc), stream_(std::move(socket)), peer_ip_(std::move(peer_ip)) {
    server_->http_connections().fetch_add(1);
  }
  ~HttpSession() { server_->http_connections().fetch_sub(1); }

  void Run() {
    if (server_->http_connections().load() >
        static_cast<int64_t>(server_->options().max_http_connections)) {
      CountRefused("too_many_connections");
      HttpResponse r = ErrorResponse(Status::Unavailable(
          "too_many_connections", "too many HTTP connections (limits.max_http_connections is " +
                                      std::to_string(server_->options().max_http_connections) +
                                      ")"));
      r.headers.emplace_back("Retry-After", "5");
      return Write(std::move(r), false);
    }
    if (PeerLimiter* limiter = server_->fanout()->limiter) {
      auto ticket = limiter->Admit(peer_ip_);
      if (!ticket.ok()) {
        Count("too_many_connections_per_ip");
        HttpResponse r =
            ErrorResponse(Status::Unavailable(ticket.status().reason(), ticket.status().message()));
        r.headers.emplace_back("Retry-After", "5");
        return Write(std::move(r), false);
      }
      ticket_ = std::move(*ticket);
    }
    DoRead();
  }

 private:
  void DoRead() {
    // Errors before the Origin is checked carry the hub-wide default.
    const Authenticator& auth = server_->auth();
    cors_origin_ = auth.open() && auth.options().allowed_origins.empty() ? "*" : "";
    // A connection that read a large body keeps no more than a small buffer
    // while it waits for the next request.
    if (buffer_.capacity() > kIdleBufferBytes && buffer_.size() == 0) buffer_.shrink_to_fit();
    parser_.emplace();
    parser_->body_limit(server_->options().max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(server_->options().max_header_bytes));
    // Waiting for a request: the idle timeout (first request: the header
    // timeout); once headers are in, the body gets the rest of the request
    // timeout.
    const auto& o = server_->options();
    reading_headers_ = true;
    stream_.expires_after(
        std::chrono::milliseconds(requests_ == 0 ? o.header_timeout_ms : o.idle_timeout_ms));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnRead(ec);
    reading_headers_ = false;
    ++requests_;
    const auto& o = server_->options();
    if (parser_->get().target().size() > o.max_url_bytes) return RefuseUrl();
    if (parser_->is_done()) return OnRead(ec);
    // Beast reads at most the buffer's free capacity per read, and the parser
    // moves what it reads into the body, so the buffer never fills: a
    // 130 KB NDJSON batch took ~100 reads of ~1.5 KB, each a recvmsg and an
    // asio operation with its timer. Room for 64 KiB reads it in a few.
    if (const auto cl = parser_->content_length();
        cl && *cl > buffer_.capacity() - buffer_.size()) {
      buffer_.reserve(buffer_.size() +
                      static_cast<size_t>(std::min<uint64_t>(*cl, kBodyReadBytes)));
    }
    stream_.expires_after(std::chrono::milliseconds(o.request_timeout_ms));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void CountRefused(const char* reason) { CountRefusal(server_->hub()->metrics(), reason); }

  void RefuseUrl() {
    Count("url_too_long");
    CountRefused("url_too_long");
    HttpResponse r = ErrorResponse(Status::TooLarge(
        "url_too_long", "request target exceeds limits.max_url_bytes (" +
                            std::to_string(server_->options().max_url_bytes) + " bytes)"));
    r.status = 414;
    Write(std::move(r), false);
  }

  // A request whose headers are incomplete when the header limit bites: if
  // the request line itself is what is too long, it is a 414.
  // Beast consumes the request line once it is complete, so a target set
  // means the line was short enough and the fields are what is too big.
  bool RequestLineTooLong() const {
    if (!parser_->get().target().empty()) {
      return parser_->get().target().size() > server_->options().max_url_bytes;
    }
    return buffer_.size() > server_->options().max_url_bytes;
  }

  void Count(const std::string& reason) {
    server_->hub()
        ->metrics()
        ->GetCounter("http_errors_total", "HTTP requests rejected, by reason.",
                     "reason=\"" + reason + "\"")
        ->Add();
  }

  void OnRead(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      // Slowloris: a request started but not finished in time. An idle
      // keep-alive connection timing out is normal and not counted.
      if (!reading_headers_ || buffer_.size() > 0 || requests_ == 0) {
        const char* reason = reading_headers_ ? "header_timeout" : "request_timeout";
        Count(reason);
        CountRefused(reason);
      }
      return Close();
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
      return Close();
    }
    if (ec == http::error::header_limit && RequestLineTooLong()) return RefuseUrl();
    if (ec == http::error::body_limit) {
      CountRefused("body_too_large");
      Count("body_too_large");
      return WriteError(
          Status::TooLarge("body_too_large", "request body exceeds limits.max_body_bytes (" +
                                                 std::to_string(server_->options().max_body_bytes) +
                                                 " bytes)"),
          false);
    }
    if (ec == http::error::header_limit) {
      CountRefused("headers_too_large");
      Count("headers_too_large");
      HttpResponse r = ErrorResponse(Status::TooLarge(
          "headers_too_large", "request headers exceed " +
                                   std::to_string(server_->options().max_header_bytes) + " bytes"));
      r.status = 431;
      return Write(std::move(r), false);
    }
    if (ec) {
      Count("bad_http");
      return WriteError(
          Status::InvalidArgument("bad_http", "malformed HTTP request: " + ec.message()), false);
    }
    auto& req = parser_->get();
    HttpRequestView view;
    view.method = req.method_string();
    if (Status st = ParseTarget(req.target(), &view.path, &view.query); !st.ok()) {
      Count("bad_request");
      return WriteError(st, req.keep_alive());
    }
    // Browser origin: CORS for the API, the same list for WebSocket / SSE.
    const Authenticator& auth = server_->auth();
    std::string_view origin = req[http::field::origin];
    const OriginVerdict verdict = auth.CheckOrigin(origin, req[http::field::host]);
    cors_origin_.clear();
    if (verdict == OriginVerdict::kAnyOrigin ||
        (auth.open() && auth.options().allowed_origins.empty())) {
      cors_origin_ = "*";
    } else if (verdict == OriginVerdict::kAllowed) {
      cors_origin_ = std::string(origin);
    }
    if (verdict == OriginVerdict::kRefused) {
      return Refuse(
          AuthFailure("origin_not_allowed", "origin '" + std::string(origin.substr(0, 200)) +
                                                "' is not in auth.allowed_origins"),
          false);
    }
    if (req.method() == http::verb::options) {
      HttpResponse r;
      r.status = 204;
      r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      r.headers.emplace_back("Access-Control-Allow-Headers",
                             "Authorization, Content-Type, Last-Event-ID, X-API-Key");
      r.headers.emplace_back("Access-Control-Max-Age", "600");
      return Write(std::move(r), req.keep_alive());
    }
    std::shared_ptr<const Access> access;
    if (view.path != "/healthz" && view.path != "/readyz" && view.path != "/" &&
        view.path != "/index.html") {
      auto a = Authorize(view);
      if (!a.ok()) return Refuse(a.status(), req.keep_alive());
      access = std::move(*a);
    }
    if (view.path == "/v1/ws") return UpgradeWebSocket(view, std::move(access));
    if (view.path == "/v1/sse") return StartSse(view, std::move(access));
    if (req.method() == http::verb::post && view.path.starts_with("/v1/publish/") &&
        server_->fanout()->limiter) {
      Status st =
          server_->fanout()->limiter->TakePublish(ticket_.get(), SystemClock::Get()->MonoNs());
      if (!st.ok()) {
        Count("rate_limited");
        HttpResponse r = ErrorResponse(st);
        r.status = 429;
        for (auto& [k, v] : r.headers) {
          if (k == "Retry-After") v = std::to_string((*st.detail() + 999) / 1000);
        }
        return Write(std::move(r), req.keep_alive());
      }
    }
    view.content_type = req[http::field::content_type];
    view.body = req.body();
    view.if_none_match = req[http::field::if_none_match];
    const bool keep_alive = req.keep_alive();
    // Designated initialisers: a field added to RestContext cannot shift these.
    RestContext ctx{
        .hub = server_->hub(),
        .decode = server_->options().decode,
        .reply_later =
            [self = shared_from_this(), keep_alive](HttpResponse r) {
              asio::post(self->ioc_, [self, r = std::move(r), keep_alive]() mutable {
                self->Reply(std::move(r), keep_alive);
              });
            },
        .sources = server_->sources(),
        .alert_recent = server_->alert_recent(),
        .schemas = server_->schemas(),
        .access = std::move(access),
    };
    std::optional<HttpResponse> r = HandleRest(ctx, view);
    if (r) Reply(std::move(*r), keep_alive);
  }

  // The request's credential (Authorization: Bearer, X-API-Key, ?token=,
  // cookie) as compiled access; an AuthFailure if it does not verify.
  Result<std::shared_ptr<const Access>> Authorize(const HttpRequestView& view) {
    auto& req = parser_->get();
    const Authenticator& auth = server_->auth();
    CredentialSources src;
    src.authorization = req[http::field::authorization];
    src.api_key = req["X-API-Key"];
    if (auto q = view.query.find("token"); q != view.query.end()) src.query_token = q->second;
    src.cookie = req[http::field::cookie];
    auto credential = auth.ExtractCredential(src);
    if (!credential.ok()) return credential.status();
    auto principal = auth.Authenticate(*credential, SystemClock::Get()->NowMs());
    if (!principal.ok()) return principal.status();
    return Access::Compile(std::move(*principal));
  }

  void Refuse(const Status& st, bool keep_alive) {
    CountAuthRefusal(server_->hub()->metrics(), st.reason());
    Count(st.reason());
    WriteError(st, keep_alive);
  }

  // Subscriber endpoints need some right to read: an anonymous connection
  // to a hub with auth and no anonymous grant is refused at connect.
  bool RefusedAtConnect(const Access& access) {
    if (!access.anonymous() || access.everything() || !access.principal().subscribe.empty()) {
      return false;
    }
    Refuse(access.Refuse("this endpoint needs a credential"), false);
    return true;
  }

  void Reply(HttpResponse r, bool keep_alive) {
    if (r.status >= 400) Count("status_" + std::to_string(r.status));
    Write(std::move(r), keep_alive);
  }

  bool AtConnectionLimit() {
    FanoutContext* f = server_->fanout();
    if (f->connections.load() < static_cast<int64_t>(f->options.max_connections)) return false;
    Count("too_many_connections");
    CountRefused("too_many_connections");
    HttpResponse r =
        ErrorResponse(Status::Unavailable("the hub has " + std::to_string(f->connections.load()) +
                                          " subscriber connections; limits.max_connections is " +
                                          std::to_string(f->options.max_connections)));
    r.body.replace(r.body.find("unavailable"), 11, "too_many_connections");
    r.headers.emplace_back("Retry-After", "5");
    Write(std::move(r), false);
    return true;
  }

  void UpgradeWebSocket(const HttpRequestView& view, std::shared_ptr<const Access> access) {
    auto& req = parser_->get();
    if (!beast::websocket::is_upgrade(req)) {
      Count("not_websocket");
      HttpResponse r =
          ErrorResponse(Status::InvalidArgument("upgrade_required",
                                                "/v1/ws is a WebSocket endpoint: send a GET with "
                                                "'Connection: Upgrade' and 'Upgrade: websocket'"));
      r.status = 426;
      r.headers.emplace_back("Upgrade", "websocket");
      return Write(std::move(r), false);
    }
    std::string_view key = req[http::field::sec_websocket_key];
    if (key.empty() || req[http::field::sec_websocket_version] != "13") {
      Count("bad_websocket_handshake");
      HttpResponse r = ErrorResponse(Status::InvalidArgument(
          "bad_websocket_handshake",
          "WebSocket handshake needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13"));
      r.headers.emplace_back("Sec-WebSocket-Version", "13");
      return Write(std::move(r), false);
    }
    if (RefusedAtConnect(*access)) return;
    if (AtConnectionLimit()) return;
    std::vector<std::string> patterns;
    if (auto it = view.query.find("streams"); it != view.query.end()) {
      patterns = SplitList(it->second);
    }
    std::string response =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " +
        ws::AcceptKey(key) + "\r\n\r\n";
    auto data = buffer_.data();
    std::string leftover(static_cast<const char*>(data.data()), data.size());
    stream_.expires_never();
    auto session = std::make_shared<WsSession>(server_->fanout(), ioc_, stream_.release_socket());
    session->SetAccess(std::move(access));
    session->AdoptPeer(std::move(ticket_), peer_ip_);
    session->Run(std::move(response), std::move(leftover), std::move(patterns));
  }

  void StartSse(const HttpRequestView& view, std::shared_ptr<const Access> access) {
    auto& req = parser_->get();
    auto it = view.query.find("streams");
    std::vector<std::string> patterns;
    if (it != view.query.end()) patterns = SplitList(it->second);
    if (patterns.empty()) {
      Count("bad_request");
      return WriteError(
          Status::InvalidArgument("bad_request", "/v1/sse needs ?streams=pattern[,pattern...]"),
          false);
    }
    if (RefusedAtConnect(*access)) return;
    for (const auto& p : patterns) {
      auto parsed = ParseSubscriptionPattern(p, server_->fanout()->options);
      if (!parsed.ok()) {
        if (parsed.status().reason() == "pattern_too_complex") CountRefused("pattern_too_complex");
        Count(parsed.status().reason());
        return WriteError(parsed.status(), false);
      }
      if (!access->MayReadSome(*parsed)) {
        return Refuse(access->Refuse(parsed->exact() ? "not allowed to subscribe to '" + p + "'"
                                                     : "no stream matching '" + p +
                                                           "' may be read with this credential"),
                      false);
      }
    }
    if (patterns.size() > server_->fanout()->options.max_subscriptions) {
      Count("too_many_subscriptions");
      CountRefused("too_many_subscriptions");
      return WriteError(
          Status::InvalidArgument("too_many_subscriptions",
                                  std::to_string(patterns.size()) +
                                      " patterns; limits.max_subscriptions_per_connection is " +
                                      std::to_string(server_->fanout()->options.max_subscriptions)),
          false);
    }
    std::string cursor_text(req["Last-Event-ID"]);
    if (auto q = view.query.find("last_event_id"); q != view.query.end() && cursor_text.empty()) {
      cursor_text = q->second;
    }
    auto cursor = ParseSseCursor(cursor_text);
    if (!cursor.ok()) {
      Count("bad_cursor");
      return WriteError(cursor.status(), false);
    }
    double max_hz = 0;
    if (auto q = view.query.find("max_hz"); q != view.query.end()) {
      auto hz = ParseMaxHz(q->second);
      if (!hz.ok()) {
        Count("bad_request");
        return WriteError(hz.status(), false);
      }
      max_hz = *hz;
    }
    if (AtConnectionLimit()) return;
    stream_.expires_never();
    auto session = std::make_shared<SseSession>(server_->fanout(), ioc_, stream_.release_socket());
    session->SetAccess(std::move(access));
    session->SetCorsHeaders(CorsHeaderLines());
    session->AdoptPeer(std::move(ticket_), peer_ip_);
    session->Run(std::move(patterns), std::move(*cursor), !cursor_text.empty(), max_hz);
  }

  void WriteError(const Status& st, bool keep_alive) { Write(ErrorResponse(st), keep_alive); }

  void Write(HttpResponse r, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), 11);
    res->set(http::field::server, "livehub");
    res->set(http::field::content_type, r.content_type);
    if (!cors_origin_.empty()) {
      res->set(http::field::access_control_allow_origin, cors_origin_);
      if (cors_origin_ != "*") {
        res->set(http::field::access_control_allow_credentials, "true");
        res->set(http::field::vary, "Origin");
      }
    }
    for (auto& [k, v] : r.headers) res->set(k, v);
    res->keep_alive(keep_alive);
    res->body() = std::move(r.body);
    res->prepare_payload();
    // A deferred reply (sync publish) may come long after the read timer
    // was armed: give the write its own deadline.
    stream_.expires_after(std::chrono::milliseconds(server_->options().request_timeout_ms));
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                        if (ec) return self->Close();
                        if (!keep_alive) return self->LingerClose();
                        self->DoRead();
                      });
  }

  std::string CorsHeaderLines() const {
    if (cors_origin_.empty()) return "";
    std::string out = "Access-Control-Allow-Origin: " + cors_origin_ + "\r\n";
    if (cors_origin_ != "*") out += "Access-Control-Allow-Credentials: true\r\nVary: Origin\r\n";
    return out;
  }

  // After a final reply (often a refusal sent before the request was read):
  // stop sending, then read and drop what the client still sends for a
  // moment. Closing with unread bytes makes the kernel send a reset, which
  // can destroy the reply before the client reads it.
  void LingerClose() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(kLinger);
    DrainThenClose(0);
  }

  void DrainThenClose(size_t drained) {
    if (drained > kMaxLingerBytes) return Close();
    thread_local std::array<char, 4096> sink;
    stream_.async_read_some(asio::buffer(sink),
                            [self = shared_from_this(), drained](beast::error_code ec, size_t n) {
                              if (ec) return self->Close();
                              self->DrainThenClose(drained + n);
                            });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  Server* server_;
  asio::io_context& ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string cors_origin_;  // Access-Control-Allow-Origin of this request's reply
  std::string peer_ip_;
  std::shared_ptr<PeerTicket> ticket_;  // moves to the WS/SSE session on upgrade
  uint64_t requests_ = 0;
  bool reading_headers_ = false;
};

// CPUs this process may run on (its affinity mask, e.g. under taskset),
// not every CPU of the machine: more io threads than that only switch.
size_t UsableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<size_t>(n);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

Server::Server(Hub* hub, FanoutContext* fanout, HttpOptions options)
    : hub_(hub), fanout_(fanout), options_(std::move(options)) {
  size_t n = options_.threads ? options_.threads : UsableCpus();
  for (size_t i = 0; i < n; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    guards_.push_back(asio::make_work_guard(*contexts_.back()));
  }
}

Server::~Server() { Stop(); }

const Authenticator& Server::auth() const {
  static const std::unique_ptr<Authenticator> kOpen = Authenticator::Open();
  return auth_ ? *auth_ : *kOpen;
}

Status Server::ReloadTls() {
  if (!tls_) return Status::Ok();
  Status st = tls_->Load();
  hub_->metrics()
      ->GetCounter("tls_reloads_total", "TLS certificate reloads (SIGHUP), by result.",
                   st.ok() ? "result=\"ok\"" : "result=\"error\"")
      ->Add();
  return st;
}

void Server::Start() {
  if (options_.tls.enabled()) {
    tls_ = std::make_unique<TlsContextHolder>(options_.tls);
    if (Status st = tls_->Load(); !st.ok()) throw std::runtime_error(st.message());
  }
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(options_.listen_host, ec);
  if (ec) {
    throw std::runtime_error("listen address '" + options_.listen_host +
                             "' is not an IP address: " + ec.message());
  }
  tcp::endpoint ep(addr, options_.listen_port);
  acceptor_ = std::make_unique<tcp::acceptor>(*contexts_[0]);
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + options_.listen_host + ":" +
                             std::to_string(options_.listen_port) + ": " + ec.message() +
                             " (is another livehub running? use --listen HOST:PORT)");
  }
  port_ = acceptor_->local_endpoint().port();
  DoAccept();
  for (auto& ctx : contexts_) {
    threads_.emplace_back([c = ctx.get()] {
      WritePacer pacer(*c);  // this thread's sessions space their writes with it
      WritePacer::Install(&pacer);
      for (;;) {
        try {
          c->run();
          return;
        } catch (const std::exception& e) {
          // A handler threw: a bug. Log it and keep serving.
          LogLine(LogLevel::kError, "handler threw", ",\"what\":\"" + std::string(e.what()) + "\"");
        }
      }
    });
  }
  LogLine(LogLevel::kInfo, "listening",
          ",\"host\":\"" + options_.listen_host + "\",\"port\":" + std::to_string(port_) +
              ",\"tls\":" + (tls_ ? "true" : "false") +
              ",\"threads\":" + std::to_string(contexts_.size()));
}

void Server::DoAccept() {
  asio::io_context& target = *contexts_[next_context_];
  next_context_ = (next_context_ + 1) % contexts_.size();
  acceptor_->async_accept(
      target, [this, &target](boost::system::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
          asio::post(target, [this, &target, s = std::move(socket)]() mutable {
            boost::system::error_code ec;
            auto ep = s.remote_endpoint(ec);
            std::string ip = ec ? std::string() : ep.address().to_string();
            if (!tls_) {
              std::make_shared<HttpSession>(this, target, std::move(s), std::move(ip))->Run();
              return;
            }
            StartTlsPump(
                target, std::move(s), tls_->Get(), options_.header_timeout_ms,
                [this, &target, ip](tcp::socket plain) {
                  std::make_shared<HttpSession>(this, target, std::move(plain), ip)->Run();
                },
                [this](const char* reason) { CountRefusal(hub_->metrics(), reason); });
          });
        } else {
          hub_->metrics()->GetCounter("accept_errors_total", "Failed accept() calls.")->Add();
        }
        DoAccept();
      });
}

void Server::Stop() {
  if (threads_.empty()) return;
  if (acceptor_) {
    asio::post(*contexts_[0], [this] {
      boost::system::error_code ec;
      acceptor_->close(ec);
    });
  }
  // Sessions are owned by their streams' attachments (the Hub outlives the
  // Server), so close them on their threads before those threads stop.
  CloseAllSessions(fanout_, std::chrono::seconds(3));
  for (auto& g : guards_) g.reset();
  for (auto& c : contexts_) c->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace livehub
