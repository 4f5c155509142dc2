// HttpFetch: one asynchronous HTTP(S) GET (Boost.Beast), used by the polling
// connectors (http_poll, gtfs_rt). A fetch resolves, connects (connect
// timeout), does the TLS handshake (peer + host name verification and SNI
// unless disabled), writes the request, reads the response (one deadline for
// write + read) with the body capped at max_body_bytes, closes the
// connection and calls its callback exactly once — unless Cancel() was
// called first, then never.
//
// Errors (FetchResult::error) name the host, port and path and never contain
// header values or the URL's query / userinfo: they are shown to users.
//
//
// Threading: a fetch runs on the io_context it was started on (the sources
// thread); Start/Cancel must be called there. Ownership: the fetch owns
// itself through its pending handlers (shared_from_this); the caller keeps a
// shared_ptr only to cancel it.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "source/net_client.h"  // RedactUrl, MakeTlsClientContext, ParseNetUrl

namespace livehub {

// An http:// or https:// URL, split (scheme "http" or "https").
using HttpUrl = NetUrl;

// ParseNetUrl for http/https that also refuses userinfo (credentials belong
// in headers). Errors (bad_config) say what is wrong without echoing userinfo.
Result<HttpUrl> ParseHttpUrl(std::string_view url);

struct FetchOptions {
  int64_t connect_timeout_ms = 10'000;
  int64_t timeout_ms = 10'000;  // write request + read response
  size_t max_body_bytes = 1u << 20;
  std::vector<std::pair<std::string, std::string>> headers;  // secrets: never logged
};

struct FetchResult {
  // Transport failure (resolve, connect, TLS, timeout, malformed HTTP):
  // non-empty message, status 0.
  std::string error;
  // The body was over max_body_bytes (error says so, status may be set).
  bool oversize = false;
  int status = 0;
  std::string reason;  // the status line's reason phrase
  std::string body;
  std::string etag, last_modified, content_type;
  bool ok() const { return error.empty(); }
};

class HttpFetch : public std::enable_shared_from_this<HttpFetch> {
 public:
  using Callback = std::function<void(FetchResult)>;

  // Starts a GET of `url`. `tls_ctx` is required for https URLs.
  static std::shared_ptr<HttpFetch> Start(boost::asio::io_context& ioc, const HttpUrl& url,
                                          FetchOptions options,
                                          std::shared_ptr<boost::asio::ssl::context> tls_ctx,
                                          bool verify_host, Callback done);

  // Stops the fetch; the callback will not be called.
  void Cancel();

  ~HttpFetch();

 private:
  struct Impl;
  explicit HttpFetch(std::unique_ptr<Impl> impl);
  void Run();
  void OnResolve(boost::system::error_code ec, boost::asio::ip::tcp::resolver::results_type r);
  void OnConnect(boost::system::error_code ec);
  void OnHandshake(boost::system::error_code ec);
  void DoWrite();
  void OnWrite(boost::system::error_code ec);
  void OnRead(boost::system::error_code ec);
  void Fail(std::string_view what, boost::system::error_code ec);
  void Finish(FetchResult r);

  std::unique_ptr<Impl> impl_;
};

}  // namespace livehub
