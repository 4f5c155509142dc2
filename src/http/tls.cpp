#include "http/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <array>
#include <fstream>

namespace livehub {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

namespace {

// TLS 1.2 suites: ECDHE key exchange with an AEAD cipher only. TLS 1.3
// suites are OpenSSL's defaults (all AEAD).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Status FileError(const char* key, const std::string& file, const std::string& what) {
  return Status::InvalidArgument("bad_tls", "tls." + std::string(key) + " '" + file + "': " + what);
}

}  // namespace

Result<std::shared_ptr<ssl::context>> MakeTlsContext(const ServerTlsOptions& options) {
  for (auto [key, file] :
       {std::pair{"cert_file", &options.cert_file}, std::pair{"key_file", &options.key_file}}) {
    if (file->empty())
      return Status::InvalidArgument("bad_tls", std::string("tls.") + key + " is not set");
    std::ifstream in(*file);
    if (!in) return FileError(key, *file, "cannot open the file");
  }
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* c = ctx->native_handle();
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                             SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1) {
    return Status::Internal("TLS cipher list rejected: " + OpenSslError());
  }
  if (SSL_CTX_use_certificate_chain_file(c, options.cert_file.c_str()) != 1) {
    return FileError("cert_file", options.cert_file,
                     "not a usable PEM certificate (" + OpenSslError() + ")");
  }
  if (SSL_CTX_use_PrivateKey_file(c, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    const unsigned long e = ERR_peek_error();
    if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
      return FileError(
          "key_file", options.key_file,
          "does not match the certificate in '" + options.cert_file + "' (" + OpenSslError() + ")");
    }
    return FileError("key_file", options.key_file,
                     "not a usable PEM private key (" + OpenSslError() + ")");
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    return FileError(
        "key_file", options.key_file,
        "does not match the certificate in '" + options.cert_file + "' (" + OpenSslError() + ")");
  }
  return ctx;
}

Status TlsContextHolder::Load() {
  auto ctx = MakeTlsContext(options_);
  if (!ctx.ok()) return ctx.status();
  std::lock_guard lock(mu_);
  context_ = std::move(*ctx);
  return Status::Ok();
}

std::shared_ptr<ssl::context> TlsContextHolder::Get() const {
  std::lock_guard lock(mu_);
  return context_;
}

namespace {

// One TLS connection: handshake, then two one-chunk-at-a-time copy loops
// between the TLS stream and the socketpair end (`inner_`) whose peer is
// the plaintext session.
class TlsPump : public std::enable_shared_from_this<TlsPump> {
 public:
  TlsPump(asio::io_context& ioc, tcp::socket socket, std::shared_ptr<ssl::context> context)
      : context_(std::move(context)),
        tls_(std::move(socket), *context_),
        inner_(ioc),
        timer_(ioc),
        stall_timer_(ioc) {}

  void Start(int64_t handshake_timeout_ms, std::function<void(tcp::socket)> on_plain,
             std::function<void(const char*)> on_fail) {
    timer_.expires_after(std::chrono::milliseconds(handshake_timeout_ms));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->handshaken_) return;
      self->timed_out_ = true;
      self->CloseAll();
    });
    tls_.async_handshake(
        ssl::stream_base::server,
        [self = shared_from_this(), on_plain = std::move(on_plain), on_fail = std::move(on_fail)](
            boost::system::error_code ec) { self->OnHandshake(ec, on_plain, on_fail); });
  }

 private:
  static constexpr size_t kChunk = 16 << 10;  // one TLS record
  static constexpr int64_t kShutdownTimeoutMs = 2000;
  static constexpr auto kStallTimeout = std::chrono::seconds(60);

  void OnHandshake(boost::system::error_code ec, const std::function<void(tcp::socket)>& on_plain,
                   const std::function<void(const char*)>& on_fail) {
    handshaken_ = true;
    timer_.cancel();
    if (ec) {
      on_fail(timed_out_ ? "tls_handshake_timeout" : "tls_handshake");
      return CloseAll();
    }
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      on_fail("tls_socketpair");
      return CloseAll();
    }
    boost::system::error_code aec;
    inner_.assign(tcp::v4(), fds[0], aec);
    tcp::socket plain(inner_.get_executor());
    plain.assign(tcp::v4(), fds[1], aec);
    on_plain(std::move(plain));
    ReadTls();
    ReadInner();
    ArmStallCheck();
  }

  // A client that stops reading stalls the copy to it; the session behind
  // gives up after its write timeout, but the pump would wait forever.
  void ArmStallCheck() {
    stall_timer_.expires_after(std::chrono::seconds(5));
    stall_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->closed_) return;
      if (self->writing_ &&
          std::chrono::steady_clock::now() - self->write_started_ > kStallTimeout) {
        return self->CloseAll();
      }
      self->ArmStallCheck();
    });
  }

  // Client -> session.
  void ReadTls() {
    tls_.async_read_some(asio::buffer(up_),
                         [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                           if (ec) {
                             // Client closed (or broke) its side: the session sees EOF.
                             boost::system::error_code sec;
                             self->inner_.shutdown(tcp::socket::shutdown_send, sec);
                             return;
                           }
                           asio::async_write(self->inner_, asio::buffer(self->up_.data(), n),
                                             [self](boost::system::error_code ec, size_t) {
                                               if (ec) return self->CloseAll();
                                               self->ReadTls();
                                             });
                         });
  }

  // Session -> client.
  void ReadInner() {
    inner_.async_read_some(asio::buffer(down_),
                           [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                             if (ec) return self->ShutdownTls();  // the session closed
                             self->write_started_ = std::chrono::steady_clock::now();
                             self->writing_ = true;
                             asio::async_write(self->tls_, asio::buffer(self->down_.data(), n),
                                               [self](boost::system::error_code ec, size_t) {
                                                 self->writing_ = false;
                                                 if (ec) return self->CloseAll();
                                                 self->ReadInner();
                                               });
                           });
  }

  void ShutdownTls() {
    if (closed_) return;
    timer_.expires_after(std::chrono::milliseconds(kShutdownTimeoutMs));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->CloseAll();
    });
    tls_.async_shutdown(
        [self = shared_from_this()](boost::system::error_code) { self->CloseAll(); });
  }

  void CloseAll() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    timer_.cancel();
    stall_timer_.cancel();
    tls_.lowest_layer().close(ec);
    inner_.close(ec);
  }

  std::shared_ptr<ssl::context> context_;  // outlives tls_
  ssl::stream<tcp::socket> tls_;
  tcp::socket inner_;
  asio::steady_timer timer_;
  asio::steady_timer stall_timer_;
  std::array<char, kChunk> up_;
  std::array<char, kChunk> down_;
  std::chrono::steady_clock::time_point write_started_;
  bool writing_ = false;
  bool handshaken_ = false;
  bool timed_out_ = false;
  bool closed_ = false;
};

}  // namespace

void StartTlsPump(asio::io_context& ioc, tcp::socket socket, std::shared_ptr<ssl::context> context,
                  int64_t handshake_timeout_ms, std::function<void(tcp::socket)> on_plain,
                  std::function<void(const char* reason)> on_fail) {
  auto pump = std::make_shared<TlsPump>(ioc, std::move(socket), std::move(context));
  pump->Start(handshake_timeout_ms, std::move(on_plain), std::move(on_fail));
}

}  // namespace livehub
