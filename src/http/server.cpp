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
#include "fanout/admission.h"
#include "fanout/session.h"
#include "fanout/sse_session.h"
#include "fanout/upgrade.h"
#include "fanout/write_pacer.h"
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
      return Refuse(
          CountedLimit(
              Status::Unavailable("too_many_connections",
                                  "too many HTTP connections (limits.max_http_connections is " +
                                      std::to_string(server_->options().max_http_connections) + ")")
                  .WithRetryAfterMs(kConnectionRetryAfterMs)),
          false);
    }
    auto ticket = admission().AdmitPeer(peer_ip_);
    if (!ticket.ok()) return Refuse(ticket.status(), false);
    ticket_ = std::move(*ticket);
    DoRead();
  }

 private:
  void DoRead() {
    // Errors before the Origin is checked carry the hub-wide default.
    cors_origin_ = admission().DefaultAllowOrigin();
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

  const Admission& admission() const { return *server_->fanout()->admission; }

  // Counts a refusal by a limit (livehub_refusals_total) and returns it.
  Status CountedLimit(Status st) {
    CountRefusal(server_->hub()->metrics(), st.reason());
    return st;
  }

  void RefuseUrl() {
    Refuse(CountedLimit(Status::UrlTooLong("request target exceeds limits.max_url_bytes (" +
                                           std::to_string(server_->options().max_url_bytes) +
                                           " bytes)")),
           false);
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
        CountRefusal(server_->hub()->metrics(), reason);
      }
      return Close();
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
      return Close();
    }
    if (ec == http::error::header_limit && RequestLineTooLong()) return RefuseUrl();
    if (ec == http::error::body_limit) {
      return Refuse(
          CountedLimit(Status::TooLarge(
              "body_too_large", "request body exceeds limits.max_body_bytes (" +
                                    std::to_string(server_->options().max_body_bytes) + " bytes)")),
          false);
    }
    if (ec == http::error::header_limit) {
      return Refuse(CountedLimit(Status::HeadersTooLarge(
                        "request headers exceed " +
                        std::to_string(server_->options().max_header_bytes) + " bytes")),
                    false);
    }
    if (ec) {
      return Refuse(Status::InvalidArgument("bad_http", "malformed HTTP request: " + ec.message()),
                    false);
    }
    auto& req = parser_->get();
    HttpRequestView view;
    view.method = req.method_string();
    if (Status st = ParseTarget(req.target(), &view.path, &view.query); !st.ok()) {
      return Refuse(st, req.keep_alive());
    }
    // Browser origin: CORS for the API, the same list for WebSocket / SSE.
    OriginDecision origin =
        admission().CheckOrigin(req[http::field::origin], req[http::field::host]);
    cors_origin_ = std::move(origin.allow_origin);
    if (!origin.refusal.ok()) return Refuse(origin.refusal, false);
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
    if (view.path == "/v1/ws") return Upgrade(view, std::move(access), AcceptWebSocket);
    if (view.path == "/v1/sse") return Upgrade(view, std::move(access), AcceptSse);
    view.content_type = req[http::field::content_type];
    view.body = req.body();
    view.if_none_match = req[http::field::if_none_match];
    const bool keep_alive = req.keep_alive();
    // Designated initialisers: a field added to RestContext cannot shift these.
    RestContext ctx{
        .hub = server_->hub(),
        .admission = &admission(),
        .publisher = server_->fanout()->publisher,
        .ticket = ticket_.get(),
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
  // cookie) as compiled access; the auth refusal if it does not verify.
  Result<std::shared_ptr<const Access>> Authorize(const HttpRequestView& view) {
    auto& req = parser_->get();
    CredentialSources src;
    src.authorization = req[http::field::authorization];
    src.api_key = req["X-API-Key"];
    if (auto q = view.query.find("token"); q != view.query.end()) src.query_token = q->second;
    src.cookie = req[http::field::cookie];
    return admission().Authorize(src);
  }

  // Answers a refusal (already counted by whoever made it, when it is an
  // auth or limit refusal) and counts it as an HTTP error.
  void Refuse(const Status& st, bool keep_alive,
              const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    Count(st.reason());
    HttpResponse r = ErrorResponse(st);
    for (const auto& h : headers) r.headers.push_back(h);
    Write(std::move(r), keep_alive);
  }

  void Reply(HttpResponse r, bool keep_alive) {
    if (r.status >= 400) Count("status_" + std::to_string(r.status));
    Write(std::move(r), keep_alive);
  }

  // Hands the request to a subscriber transport (AcceptWebSocket,
  // AcceptSse), which does its own handshake and takes the socket, or
  // returns a refusal to answer here.
  template <typename Accept>
  void Upgrade(const HttpRequestView& view, std::shared_ptr<const Access> access, Accept accept) {
    auto& req = parser_->get();
    UpgradeRequest up;
    up.method = view.method;
    up.header = [&req](std::string_view name) -> std::string_view { return req[name]; };
    up.query = &view.query;
    auto data = buffer_.data();
    up.leftover.assign(static_cast<const char*>(data.data()), data.size());
    up.access = std::move(access);
    up.ticket = ticket_;
    up.peer = peer_ip_;
    up.extra_header_lines = CorsHeaderLines();
    std::optional<HandshakeRefusal> refused =
        accept(server_->fanout(), ioc_, std::move(up), [this] {
          stream_.expires_never();
          ticket_.reset();  // the session holds the slot now
          return stream_.release_socket();
        });
    if (refused) Refuse(refused->status, false, refused->headers);
  }

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
          LogLine(LogLevel::kError, "handler threw", JsonFields().Add("what", e.what()));
        }
      }
    });
  }
  LogLine(LogLevel::kInfo, "listening",
          JsonFields()
              .Add("host", options_.listen_host)
              .Add("port", static_cast<int>(port_))
              .Add("tls", tls_ != nullptr)
              .Add("threads", contexts_.size()));
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
