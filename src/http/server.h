// Server: the io_context threads, the listening socket and the HTTP
// sessions that route requests to the REST API or upgrade them to WebSocket
// and SSE subscriber sessions.
// Threading: one io_context per thread (default: one per core); accepted
// connections are spread round-robin and stay on their thread for life.
// Thread safety: Start/Stop from the owning thread; everything else runs on
// the io threads.
#pragma once

#include <boost/asio.hpp>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "codec/body_decoder.h"
#include "fanout/fanout_options.h"
#include "http/tls.h"
#include "schema/schema.h"
#include "source/source_manager.h"
#include "stream/hub.h"

namespace livehub {

struct HttpOptions {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8080;
  size_t threads = 0;                // 0: one per core
  size_t max_body_bytes = 8u << 20;  // publish bodies
  size_t max_header_bytes = 16u << 10;
  int64_t request_timeout_ms = 30'000;   // a request (headers + body) must arrive within this
  int64_t header_timeout_ms = 10'000;    // ...and its headers within this (slowloris)
  int64_t idle_timeout_ms = 60'000;      // keep-alive: close after this long without a request
  size_t max_url_bytes = 8192;           // request target -> 414
  size_t max_http_connections = 10'000;  // plain HTTP (non-streaming) connections
  DecodeLimits decode;
  ServerTlsOptions tls;  // cert + key: https/wss on the listener
};

class Server {
 public:
  Server(Hub* hub, FanoutContext* fanout, HttpOptions options);
  ~Server();

  // Binds and starts the io threads. Throws std::runtime_error with a
  // message naming the address on bind failure (start-up only).
  void Start();
  // Re-reads the TLS cert and key (SIGHUP): new handshakes use the new
  // context, existing connections keep theirs. On error the old context
  // stays and the error is returned. No-op without TLS.
  Status ReloadTls();
  bool tls() const { return tls_ != nullptr; }
  // Stops accepting, closes everything, joins the threads.
  void Stop();
  uint16_t port() const { return port_; }

  // The io_context the hub's own timers (demo source, eviction) run on.
  boost::asio::io_context& main_context() { return *contexts_[0]; }

  // The sources behind /v1/sources (set before Start, or never).
  void SetSources(SourceManager* sources) { sources_ = sources; }
  SourceManager* sources() const { return sources_; }
  // Which streams are alert streams, for GET /v1/alerts/{stream}.
  void SetAlertRecent(std::function<std::optional<size_t>(std::string_view)> f) {
    alert_recent_ = std::move(f);
  }
  const std::function<std::optional<size_t>(std::string_view)>& alert_recent() const {
    return alert_recent_;
  }
  // The schema registry behind /v1/schema (set before Start, or never).
  void SetSchemas(SchemaRegistry* schemas) { schemas_ = schemas; }
  SchemaRegistry* schemas() const { return schemas_; }
  Hub* hub() const { return hub_; }
  FanoutContext* fanout() const { return fanout_; }
  const HttpOptions& options() const { return options_; }
  std::atomic<int64_t>& http_connections() { return http_connections_; }

 private:
  void DoAccept();

  Hub* hub_;
  FanoutContext* fanout_;
  HttpOptions options_;
  SourceManager* sources_ = nullptr;
  std::function<std::optional<size_t>(std::string_view)> alert_recent_;
  SchemaRegistry* schemas_ = nullptr;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  size_t next_context_ = 0;
  uint16_t port_ = 0;
  std::atomic<int64_t> http_connections_{0};
  std::unique_ptr<TlsContextHolder> tls_;  // null: plain HTTP
};

}  // namespace livehub
