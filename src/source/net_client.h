// Helpers shared by the network client sources (websocket, sse): URL
// parsing for ws/wss/http/https, redaction of URLs for display, the TLS
// client context built from a source's `tls` options, and the plain-or-TLS
// connection scaffolding (ClientStream, ResolveAndConnect, SetTlsClientHost).
// Thread safety: free functions, no shared state; a ClientStream belongs to
// the thread of its io_context.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "source/source.h"

namespace livehub {

struct NetUrl {
  std::string scheme;  // lower case: ws, wss, http, https
  std::string host;    // without brackets for IPv6 literals
  std::string port;    // explicit or the scheme's default
  std::string target;  // path and query, at least "/"
  std::string path;    // target without the query
  bool tls = false;
  // The Host header value (host[:port] when the port is not the default).
  std::string HostHeader() const;
};

// Parses `text`; `plain` / `secure` are the accepted schemes (e.g. "ws",
// "wss"). Errors (bad_config) say what is wrong with the URL.
Result<NetUrl> ParseNetUrl(std::string_view text, std::string_view plain, std::string_view secure);

// The URL without userinfo and with the values of credential-like query
// parameters (token, key, secret, password, auth, sig...) replaced by "***".
std::string RedactUrl(std::string_view url);

// A TLS client context per `tls` (verify on: system CAs plus ca_file).
Result<std::shared_ptr<boost::asio::ssl::context>> MakeTlsClientContext(const TlsOptions& tls);

// The stream of one client connection and its resolver. `Plain` and `Secure`
// are the same protocol stream over a beast::tcp_stream and over TLS on one
// (e.g. websocket::stream<tcp_stream> and websocket::stream<ssl_stream<
// tcp_stream>>); which one exists is chosen at run time by `tls`.
template <typename Plain, typename Secure>
struct ClientStream {
  ClientStream(boost::asio::io_context& ioc, boost::asio::ssl::context* tls) : resolver(ioc) {
    if (tls) {
      secure = std::make_unique<Secure>(ioc, *tls);
    } else {
      plain = std::make_unique<Plain>(ioc);
    }
  }
  // Runs `f` (a generic lambda) on the stream in use.
  template <typename F>
  void With(F&& f) {
    if (secure)
      f(*secure);
    else
      f(*plain);
  }
  boost::beast::tcp_stream& tcp() {
    return secure ? boost::beast::get_lowest_layer(*secure)
                  : boost::beast::get_lowest_layer(*plain);
  }

  boost::asio::ip::tcp::resolver resolver;
  std::unique_ptr<Plain> plain;
  std::unique_ptr<Secure> secure;
};

// Resolves `url`'s host and connects `c->tcp()` within `connect_timeout_ms`,
// then turns Nagle off (small writes go at once) and calls `done(ec, what)`
// with no error; on a failure it calls `done(ec, what)` with `what` naming
// the step ("resolving HOST", "connecting to HOST[:PORT]"). After each step
// it first asks `stale()` and, if true, does nothing more (no `done`).
template <typename Conn, typename Stale, typename Done>
void ResolveAndConnect(std::shared_ptr<Conn> c, const NetUrl& url, int64_t connect_timeout_ms,
                       Stale stale, Done done) {
  using tcp = boost::asio::ip::tcp;
  c->resolver.async_resolve(
      url.host, url.port,
      [c, host = url.host, host_header = url.HostHeader(), connect_timeout_ms, stale, done](
          boost::system::error_code ec, tcp::resolver::results_type results) mutable {
        if (stale()) return;
        if (ec) return done(ec, "resolving " + host);
        c->tcp().expires_after(std::chrono::milliseconds(connect_timeout_ms));
        c->tcp().async_connect(results,
                               [c, host_header, stale, done](boost::system::error_code ec,
                                                             const tcp::endpoint&) mutable {
                                 if (stale()) return;
                                 if (ec) return done(ec, "connecting to " + host_header);
                                 boost::system::error_code nd;
                                 c->tcp().socket().set_option(tcp::no_delay(true), nd);
                                 done(ec, std::string());
                               });
      });
}

// Before a client TLS handshake: SNI for `host` and, if `verify`, host name
// verification of the peer's certificate. Returns OpenSSL's error if SNI
// cannot be set.
boost::system::error_code SetTlsClientHost(boost::beast::ssl_stream<boost::beast::tcp_stream>& s,
                                           const std::string& host, bool verify);

}  // namespace livehub
