// Helpers shared by the network client sources (websocket, sse): URL
// parsing for ws/wss/http/https, redaction of URLs for display, and the TLS
// client context built from a source's `tls` options.
// Thread safety: free functions, no shared state.
#pragma once

#include <boost/asio/ssl.hpp>
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
Result<NetUrl> ParseNetUrl(std::string_view text, std::string_view plain,
                           std::string_view secure);

// The URL without userinfo and with the values of credential-like query
// parameters (token, key, secret, password, auth, sig...) replaced by "***".
std::string RedactUrl(std::string_view url);

// A TLS client context per `tls` (verify on: system CAs plus ca_file).
Result<std::shared_ptr<boost::asio::ssl::context>> MakeTlsClientContext(const TlsOptions& tls);

}  // namespace livehub
