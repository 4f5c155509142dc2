// TLS for the main listener (https and wss): the server context with modern
// defaults, loaded from PEM files and reloadable, and TlsPump, which
// terminates TLS for one accepted connection in front of the ordinary
// plaintext sessions.
//
// Design: an accepted TLS connection does its handshake in a TlsPump, which
// then creates a socketpair, hands one end to an HttpSession (as if it were
// the TCP socket) and copies bytes between the TLS stream and the other end.
// So HTTP, WebSocket and SSE code is the same with and without TLS, and the
// sessions' gathered writes stay zero-copy up to the socketpair. The cost is
// one extra copy per byte through the kernel and two more descriptors per
// connection. Backpressure holds end to end: the pump has one read in flight
// per direction and reads again only when the previous chunk is written.
//
// Reload: a TlsContextHolder keeps the current context; each pump holds the
// context it was created with, so SIGHUP swaps the context for new
// handshakes while existing connections keep theirs.
// Thread safety: TlsContextHolder is thread-safe; a TlsPump runs on its
// connection's io thread.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/status.h"

namespace livehub {

struct ServerTlsOptions {
  std::string cert_file;  // PEM: the certificate, then any intermediates
  std::string key_file;   // PEM private key (unencrypted)
  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// Builds a server context: TLS 1.2 and 1.3 only, forward-secret AEAD
// cipher suites for TLS 1.2, no compression, no renegotiation, no session
// tickets. Errors name the file and OpenSSL's reason.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeTlsContext(const ServerTlsOptions& options);

class TlsContextHolder {
 public:
  explicit TlsContextHolder(ServerTlsOptions options) : options_(std::move(options)) {}
  // Loads the files (start-up, and on reload). On failure the previous
  // context stays in use.
  Status Load();
  std::shared_ptr<boost::asio::ssl::context> Get() const;
  const ServerTlsOptions& options() const { return options_; }

 private:
  const ServerTlsOptions options_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> context_;  // guarded by mu_
};

// Runs the handshake on `socket` (bounded by `handshake_timeout_ms`), then
// calls `on_plain` with the session end of a socketpair and pumps bytes
// until either side closes. `on_fail` gets a reason ("tls_handshake",
// "tls_handshake_timeout") when the handshake does not complete.
void StartTlsPump(boost::asio::io_context& ioc, boost::asio::ip::tcp::socket socket,
                  std::shared_ptr<boost::asio::ssl::context> context, int64_t handshake_timeout_ms,
                  std::function<void(boost::asio::ip::tcp::socket)> on_plain,
                  std::function<void(const char* reason)> on_fail);

}  // namespace livehub
