// HttpFetch: see http_fetch.h. The flow follows Beast's async client
// examples: resolve -> connect -> [handshake] -> write -> read -> close.
// One deadline (tcp_stream::expires_after) covers connect, another the
// handshake, write and read together.
#include "source/http_fetch.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <optional>

namespace livehub {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr uint32_t kMaxHeaderBytes = 64 * 1024;

}  // namespace

// ---------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------

Result<HttpUrl> ParseHttpUrl(std::string_view url) {
  // Credentials belong in headers (secrets), not in a URL that is shown.
  size_t sep = url.find("://");
  std::string_view authority =
      sep == std::string_view::npos
          ? url
          : url.substr(sep + 3, url.find_first_of("/?#", sep + 3) - sep - 3);
  if (authority.find('@') != std::string_view::npos) {
    return Status::InvalidArgument("bad_config",
                                   "url must not carry credentials (user:password@); use "
                                   "headers with ${ENV} secrets");
  }
  return ParseNetUrl(url, "http", "https");
}

// ---------------------------------------------------------------------------
// The fetch
// ---------------------------------------------------------------------------

struct HttpFetch::Impl {
  Impl(asio::io_context& ioc, HttpUrl u, FetchOptions o, std::shared_ptr<ssl::context> c,
       bool verify, Callback cb)
      : resolver(ioc),
        url(std::move(u)),
        options(std::move(o)),
        tls_ctx(std::move(c)),
        verify_host(verify),
        done(std::move(cb)) {
    if (url.tls) {
      tls.emplace(ioc, *tls_ctx);
    } else {
      plain.emplace(ioc);
    }
  }
  beast::tcp_stream& Tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  tcp::resolver resolver;
  HttpUrl url;
  FetchOptions options;
  std::shared_ptr<ssl::context> tls_ctx;
  bool verify_host;
  Callback done;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  http::request<http::empty_body> req;
  std::optional<http::response_parser<http::string_body>> parser;
  beast::flat_buffer buffer;
  bool finished = false;
};

HttpFetch::HttpFetch(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpFetch::~HttpFetch() = default;

std::shared_ptr<HttpFetch> HttpFetch::Start(asio::io_context& ioc, const HttpUrl& url,
                                            FetchOptions options,
                                            std::shared_ptr<ssl::context> tls_ctx, bool verify_host,
                                            Callback done) {
  auto f = std::shared_ptr<HttpFetch>(new HttpFetch(std::make_unique<Impl>(
      ioc, url, std::move(options), std::move(tls_ctx), verify_host, std::move(done))));
  f->Run();
  return f;
}

void HttpFetch::Cancel() {
  if (impl_->finished) return;
  impl_->finished = true;
  impl_->done = nullptr;
  impl_->resolver.cancel();
  beast::error_code ec;
  impl_->Tcp().socket().close(ec);
}

void HttpFetch::Run() {
  Impl& m = *impl_;
  m.req.method(http::verb::get);
  m.req.target(m.url.target);
  m.req.version(11);
  m.req.set(http::field::host, m.url.HostHeader());
  m.req.set(http::field::user_agent, "livehub");
  m.req.set(http::field::connection, "close");
  for (const auto& [k, v] : m.options.headers) m.req.set(k, v);
  m.parser.emplace();
  m.parser->header_limit(kMaxHeaderBytes);
  m.parser->body_limit(m.options.max_body_bytes);
  m.resolver.async_resolve(
      m.url.host, m.url.port,
      [self = shared_from_this()](boost::system::error_code ec, tcp::resolver::results_type r) {
        self->OnResolve(ec, std::move(r));
      });
}

void HttpFetch::OnResolve(boost::system::error_code ec, tcp::resolver::results_type r) {
  if (impl_->finished) return;
  if (ec) return Fail("resolve", ec);
  impl_->Tcp().expires_after(std::chrono::milliseconds(impl_->options.connect_timeout_ms));
  impl_->Tcp().async_connect(
      r, [self = shared_from_this()](boost::system::error_code ec, const tcp::endpoint&) {
        self->OnConnect(ec);
      });
}

void HttpFetch::OnConnect(boost::system::error_code ec) {
  Impl& m = *impl_;
  if (!ec) {
    boost::system::error_code nd;  // the request goes out at once
    m.Tcp().socket().set_option(tcp::no_delay(true), nd);
  }
  if (m.finished) return;
  if (ec) return Fail("connect", ec);
  m.Tcp().expires_after(std::chrono::milliseconds(m.options.timeout_ms));
  if (!m.tls) return DoWrite();
  // SNI (names only, not IP literals) and host name verification.
  boost::system::error_code not_ip;
  asio::ip::make_address(m.url.host, not_ip);
  if (not_ip) SSL_set_tlsext_host_name(m.tls->native_handle(), m.url.host.c_str());
  if (m.verify_host) m.tls->set_verify_callback(ssl::host_name_verification(m.url.host));
  m.tls->async_handshake(
      ssl::stream_base::client,
      [self = shared_from_this()](boost::system::error_code ec) { self->OnHandshake(ec); });
}

void HttpFetch::OnHandshake(boost::system::error_code ec) {
  if (impl_->finished) return;
  if (ec) return Fail("TLS handshake", ec);
  DoWrite();
}

void HttpFetch::DoWrite() {
  Impl& m = *impl_;
  auto cb = [self = shared_from_this()](boost::system::error_code ec, size_t) {
    self->OnWrite(ec);
  };
  if (m.tls) {
    http::async_write(*m.tls, m.req, std::move(cb));
  } else {
    http::async_write(*m.plain, m.req, std::move(cb));
  }
}

void HttpFetch::OnWrite(boost::system::error_code ec) {
  Impl& m = *impl_;
  if (m.finished) return;
  if (ec) return Fail("write", ec);
  auto cb = [self = shared_from_this()](boost::system::error_code ec, size_t) { self->OnRead(ec); };
  if (m.tls) {
    http::async_read(*m.tls, m.buffer, *m.parser, std::move(cb));
  } else {
    http::async_read(*m.plain, m.buffer, *m.parser, std::move(cb));
  }
}

void HttpFetch::OnRead(boost::system::error_code ec) {
  Impl& m = *impl_;
  if (m.finished) return;
  FetchResult r;
  if (ec == http::error::body_limit) {
    r.oversize = true;
    if (m.parser->is_header_done()) r.status = static_cast<int>(m.parser->get().result_int());
    r.error = "response body from " + m.url.HostHeader() +
              " is over max_message_bytes=" + std::to_string(m.options.max_body_bytes);
    return Finish(std::move(r));
  }
  if (ec) return Fail("read", ec);
  auto& res = m.parser->get();
  r.status = static_cast<int>(res.result_int());
  r.reason = std::string(res.reason());
  r.etag = std::string(res[http::field::etag]);
  r.last_modified = std::string(res[http::field::last_modified]);
  r.content_type = std::string(res[http::field::content_type]);
  r.body = std::move(res.body());
  Finish(std::move(r));
}

void HttpFetch::Fail(std::string_view what, boost::system::error_code ec) {
  FetchResult r;
  const std::string& t = impl_->url.target;
  std::string path = t.substr(0, t.find('?'));  // the query may hold a token
  std::string cause = ec == beast::error::timeout ? "timed out" : ec.message();
  r.error = std::string(what) + " " + impl_->url.HostHeader() + path + ": " + cause;
  Finish(std::move(r));
}

void HttpFetch::Finish(FetchResult r) {
  Impl& m = *impl_;
  if (m.finished) return;
  m.finished = true;
  beast::error_code ignored;
  m.Tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
  m.Tcp().socket().close(ignored);
  Callback done = std::move(m.done);
  m.done = nullptr;
  if (done) done(std::move(r));
}

}  // namespace livehub
