// The `mqtt` source: subscribes to topic filters on an MQTT 3.1.1 broker
// with libmosquitto and ingests every message, its topic driving the stream
// template ({topic}, {1}..{9}).
//
// Threading: everything runs on the sources io_context; there is no second
// thread. libmosquitto is used in its "external loop" mode: we connect with
// mosquitto_connect_async, wrap mosquitto_socket() in an Asio
// stream_descriptor (which never owns the fd: it is release()d before
// libmosquitto closes it), and call
//   mosquitto_loop_read   when the socket is readable (not while throttled),
//   mosquitto_loop_write  when it is writable and mosquitto_want_write(),
//   mosquitto_loop_misc   from a 1 s timer (keepalive PINGREQ, dead peer).
// libmosquitto's callbacks (connect, subscribe, message, disconnect) thus run
// inside those calls, on the sources thread. We chose this over
// mosquitto_loop_start (its own thread) so that throttling is simply "do not
// wait for readability" and Stop() needs no cross-thread handshake.
//
// Lifecycle: Connect (resolve asynchronously, connect_async, CONNACK) ->
// SUBSCRIBE each filter -> all SUBACKs: subscribed. A refused CONNACK, a
// connect timeout, a lost connection or every filter refused: disconnected,
// backoff, reconnect (same client id; filters are subscribed again).
//
// Delivery: with qos 1 and clean_session false the broker keeps our session
// and queues QoS1 messages while livehub is away. libmosquitto sends the
// PUBACK when the message has been read, right before our message callback
// queues it in the ingest queue: a message acknowledged but not yet published
// is lost if the process dies in that window (a graceful stop publishes the
// queue first).
//
// Ownership: MqttSource owns the mosquitto handle (destroyed in DoStop or the
// destructor) and its timers; handlers check stopped_ before touching it.
#include "source/mqtt_source.h"

#include <mosquitto.h>
#include <openssl/x509.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "source/source.h"
#include "source/source_manager.h"

namespace livehub {

// ===========================================================================
// Pure helpers
// ===========================================================================

std::string MqttUrl::Redacted() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(tls ? "mqtts://" : "mqtt://") + h + ":" + std::to_string(port);
}

Result<MqttUrl> ParseMqttUrl(std::string_view url) {
  auto bad = [](std::string msg) -> Result<MqttUrl> {
    return Status::InvalidArgument("bad_config", std::move(msg));
  };
  MqttUrl u;
  std::string_view rest;
  if (url.starts_with("mqtt://")) {
    rest = url.substr(7);
  } else if (url.starts_with("mqtts://")) {
    rest = url.substr(8);
    u.tls = true;
    u.port = 8883;
  } else {
    return bad("url must start with mqtt:// or mqtts://");
  }
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view info = rest.substr(0, at);
    rest = rest.substr(at + 1);
    size_t colon = info.find(':');
    u.username = std::string(info.substr(0, colon));
    if (colon != std::string_view::npos) u.password = std::string(info.substr(colon + 1));
    if (u.username.empty()) return bad("url has an empty user name before '@'");
  }
  if (rest.find_first_of("/?#") != std::string_view::npos) {
    // A trailing '/' alone is harmless.
    if (rest.back() == '/' && rest.find_first_of("/?#") == rest.size() - 1) {
      rest.remove_suffix(1);
    } else {
      return bad("url must be scheme://host[:port] (no path, query or fragment)");
    }
  }
  std::string_view port;
  if (rest.starts_with("[")) {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("url has '[' without ']'");
    u.host = std::string(rest.substr(1, close - 1));
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("url: expected ':' after ']'");
      port = after.substr(1);
      if (port.empty()) return bad("url has an empty port");
    }
  } else {
    size_t colon = rest.find(':');
    u.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = rest.substr(colon + 1);
      if (port.empty()) return bad("url has an empty port");
    }
  }
  if (u.host.empty()) return bad("url has no host");
  if (!port.empty()) {
    int p = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || p > 65535) return bad("url port must be 1-65535");
      p = p * 10 + (c - '0');
    }
    if (p < 1 || p > 65535) return bad("url port must be 1-65535");
    u.port = p;
  }
  return u;
}

bool ValidMqttTopicFilter(std::string_view f, std::string* why) {
  auto no = [why](const char* m) {
    if (why) *why = m;
    return false;
  };
  if (f.empty()) return no("is empty");
  if (f.size() > 65535) return no("is longer than 65535 bytes");
  if (f.find('\0') != std::string_view::npos) return no("contains a NUL character");
  size_t start = 0;
  for (;;) {
    size_t end = f.find('/', start);
    std::string_view level = f.substr(start, end == std::string_view::npos ? f.npos : end - start);
    if (level.find('+') != std::string_view::npos && level != "+") {
      return no("'+' must be a whole level (as in a/+/b)");
    }
    if (level.find('#') != std::string_view::npos) {
      if (level != "#" || end != std::string_view::npos) {
        return no("'#' must be the whole last level (as in a/#)");
      }
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return true;
}

// ===========================================================================
// The connector
// ===========================================================================

namespace {

constexpr int64_t kMiscIntervalMs = 1000;  // mosquitto_loop_misc cadence

void InitMosquittoOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

bool IsIpLiteral(const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  return !ec;
}

class MqttSource : public Source {
 public:
  MqttSource(SourceContext* ctx, SourceOptions options)
      : Source(ctx, std::move(options)),
        s_(std::any_cast<MqttSettings>(options_.settings)),
        sock_(ioc()),
        resolver_(ioc()),
        retry_timer_(ioc()),
        connect_timer_(ioc()),
        misc_timer_(ioc()) {}

  ~MqttSource() override {
    if (mosq_) {
      ReleaseSocket();
      mosquitto_destroy(mosq_);
    }
  }

 protected:
  void DoStart() override {
    InitMosquittoOnce();
    mosq_ = mosquitto_new(s_.client_id.c_str(), s_.clean_session, this);
    if (!mosq_) {
      SetError("mqtt: cannot create the client (" + std::string(std::strerror(errno)) + ")");
      return;
    }
    mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    // PUBACKs and PINGREQs are tiny: without TCP_NODELAY, Nagle holds each
    // behind the peer's delayed ACK (~40 ms), capping QoS 1 at a few hundred
    // messages/s.
    mosquitto_int_option(mosq_, MOSQ_OPT_TCP_NODELAY, 1);
    if (!s_.url.username.empty()) {
      mosquitto_username_pw_set(mosq_, s_.url.username.c_str(),
                                s_.url.password.empty() ? nullptr : s_.url.password.c_str());
    }
    if (s_.url.tls) {
      int rc = MOSQ_ERR_SUCCESS;
      if (options_.tls.ca_file.empty()) {
        // The system's trust store (libmosquitto wants a CA file or dir).
        rc = mosquitto_tls_set(mosq_, nullptr, X509_get_default_cert_dir(), nullptr, nullptr,
                               nullptr);
        if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_int_option(mosq_, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
      } else {
        rc = mosquitto_tls_set(mosq_, options_.tls.ca_file.c_str(), nullptr, nullptr, nullptr,
                               nullptr);
      }
      if (rc == MOSQ_ERR_SUCCESS && !options_.tls.verify) {
        mosquitto_tls_insecure_set(mosq_, true);
        rc = mosquitto_tls_opts_set(mosq_, /*SSL_VERIFY_NONE*/ 0, nullptr, nullptr);
      }
      if (rc != MOSQ_ERR_SUCCESS) {
        SetError("mqtt: TLS setup failed (ca_file '" + options_.tls.ca_file +
                 "'): " + mosquitto_strerror(rc));
        return;
      }
    }
    mosquitto_connect_with_flags_callback_set(mosq_, &MqttSource::OnConnectCb);
    mosquitto_subscribe_callback_set(mosq_, &MqttSource::OnSubscribeCb);
    mosquitto_message_callback_set(mosq_, &MqttSource::OnMessageCb);
    mosquitto_disconnect_callback_set(mosq_, &MqttSource::OnDisconnectCb);
    mosquitto_log_callback_set(mosq_, &MqttSource::OnLogCb);
    Connect();
    ArmMisc();
  }

  void DoStop() override {
    stopped_ = true;
    resolver_.cancel();
    retry_timer_.cancel();
    connect_timer_.cancel();
    misc_timer_.cancel();
    if (!mosq_) return;
    // DISCONNECT keeps the broker's session (clean_session false) and tells
    // it we left on purpose; it is written at once if the socket takes it.
    bool was_connected = connected_;
    ReleaseSocket();  // before libmosquitto may close the fd
    if (was_connected) mosquitto_disconnect(mosq_);
    mosquitto_destroy(mosq_);  // closes the fd
    mosq_ = nullptr;
  }

  void OnResume() override {
    paused_ = false;
    ArmRead();
  }

  void Describe(JsonWriter* w) const override {
    w->Field("url", s_.url.Redacted());
    w->Key("topics").BeginArray();
    for (const std::string& t : s_.topics) w->String(t);
    w->EndArray();
    w->Field("qos", s_.qos).Field("client_id", s_.client_id);
    w->Field("clean_session", s_.clean_session).Field("keepalive_s", s_.keepalive_s);
    w->Field("auth", !s_.url.username.empty());
    w->Field("session_present", session_present_);
    w->Field("paused", paused_);
  }

 private:
  // --- libmosquitto callbacks (inside mosquitto_loop_*, sources thread) ---
  static void OnConnectCb(mosquitto*, void* obj, int rc, int flags) {
    static_cast<MqttSource*>(obj)->OnConnect(rc, flags);
  }
  static void OnSubscribeCb(mosquitto*, void* obj, int mid, int n, const int* granted) {
    static_cast<MqttSource*>(obj)->OnSubscribe(mid, n, granted);
  }
  static void OnMessageCb(mosquitto*, void* obj, const mosquitto_message* m) {
    static_cast<MqttSource*>(obj)->OnMessage(m);
  }
  static void OnDisconnectCb(mosquitto*, void* obj, int rc) {
    static_cast<MqttSource*>(obj)->OnDisconnect(rc);
  }

  // libmosquitto's error log lines (e.g. "OpenSSL Error[0]: ... certificate
  // verify failed") explain a failure better than its return codes; they
  // never hold credentials.
  static void OnLogCb(mosquitto*, void* obj, int level, const char* text) {
    if (level != MOSQ_LOG_ERR || !text) return;
    auto* self = static_cast<MqttSource*>(obj);
    if (self->stopped_) return;
    self->log_error_ = std::string(text).substr(0, 200);
  }

  std::string Where() const { return s_.url.Redacted(); }

  void Connect() {
    if (stopped_ || !mosq_) return;
    ++gen_;
    SetState(SourceState::kConnecting);
    failure_.clear();
    log_error_.clear();
    pending_subs_.clear();
    granted_ = 0;
    connect_timer_.expires_after(std::chrono::milliseconds(options_.connect_timeout_ms));
    connect_timer_.async_wait([this, g = gen_](boost::system::error_code ec) {
      if (ec || stopped_ || g != gen_) return;
      Lost("mqtt: no CONNACK/SUBACK from " + Where() + " within connect_timeout_s (" +
           std::to_string(options_.connect_timeout_ms) + " ms)");
    });
    // libmosquitto resolves with a blocking getaddrinfo: resolve here
    // (asynchronously) and hand it an address. TLS needs the name itself
    // for SNI and certificate checks, so mqtts:// passes the name (that
    // second lookup is normally answered from the resolver's cache).
    if (IsIpLiteral(s_.url.host)) return StartConnect(s_.url.host);
    resolver_.async_resolve(
        s_.url.host, std::to_string(s_.url.port),
        [this, g = gen_](boost::system::error_code ec,
                         boost::asio::ip::tcp::resolver::results_type results) {
          if (stopped_ || g != gen_) return;
          if (ec || results.empty()) {
            return Lost("mqtt: cannot resolve '" + s_.url.host + "': " + ec.message());
          }
          StartConnect(s_.url.tls ? s_.url.host
                                  : results.begin()->endpoint().address().to_string());
        });
  }

  void StartConnect(const std::string& address) {
    errno = 0;
    int rc = mosquitto_connect_async(mosq_, address.c_str(), s_.url.port, s_.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) return Lost("mqtt: connect to " + Where() + ": " + ErrText(rc));
    int fd = mosquitto_socket(mosq_);
    if (fd < 0) return Lost("mqtt: connect to " + Where() + ": no socket");
    boost::system::error_code ec;
    sock_.assign(fd, ec);
    if (ec) return Lost("mqtt: cannot watch the socket: " + ec.message());
    connected_ = true;
    ArmRead();
    ArmWrite();
  }

  static std::string ErrText(int rc) {
    if (rc == MOSQ_ERR_ERRNO) return std::strerror(errno);
    return mosquitto_strerror(rc);
  }

  // --- the socket, driven by Asio ---
  void ArmRead() {
    if (stopped_ || !connected_ || reading_ || paused_) return;
    reading_ = true;
    sock_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this, g = gen_](boost::system::error_code ec) {
                       if (stopped_ || g != gen_) return;
                       reading_ = false;
                       if (ec) return;
                       AfterLoop(mosquitto_loop_read(mosq_, 1));
                     });
  }

  void ArmWrite() {
    if (stopped_ || !connected_ || writing_ || !mosquitto_want_write(mosq_)) return;
    writing_ = true;
    sock_.async_wait(boost::asio::posix::stream_descriptor::wait_write,
                     [this, g = gen_](boost::system::error_code ec) {
                       if (stopped_ || g != gen_) return;
                       writing_ = false;
                       if (ec) return;
                       AfterLoop(mosquitto_loop_write(mosq_, 1));
                     });
  }

  void ArmMisc() {
    if (stopped_) return;
    misc_timer_.expires_after(std::chrono::milliseconds(kMiscIntervalMs));
    misc_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped_) return;
      if (connected_) AfterLoop(mosquitto_loop_misc(mosq_));
      ArmMisc();
    });
  }

  // After every mosquitto_loop_* call: a failure seen by a callback or a
  // closed socket becomes a reconnect; otherwise wait for more I/O.
  void AfterLoop(int rc) {
    if (stopped_) return;
    if (connected_ && (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(mosq_) < 0)) {
      if (failure_.empty()) failure_ = "mqtt: connection to " + Where() + " lost: " + ErrText(rc);
      ReleaseSocket();
    }
    if (!connected_ && !waiting_) {
      std::string why = failure_.empty() ? "mqtt: connection to " + Where() + " lost" : failure_;
      return Lost(why);
    }
    ArmRead();
    ArmWrite();
  }

  // Stops watching the fd without closing it (libmosquitto owns it);
  // pending waits complete with operation_aborted and are ignored.
  void ReleaseSocket() {
    if (sock_.is_open()) sock_.release();
    connected_ = false;
    reading_ = writing_ = false;
    ++gen_;
  }

  // The connection failed or ended: report, back off, reconnect.
  void Lost(const std::string& why) {
    if (stopped_ || waiting_) return;
    ReleaseSocket();
    connect_timer_.cancel();
    resolver_.cancel();
    pending_subs_.clear();
    SetError(log_error_.empty() ? why : why + " (" + log_error_ + ")");
    log_error_.clear();
    SetState(SourceState::kDisconnected);
    waiting_ = true;
    retry_timer_.expires_after(std::chrono::milliseconds(backoff_.Next()));
    retry_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped_) return;
      waiting_ = false;
      NoteReconnect();
      Connect();
    });
  }

  void OnConnect(int rc, int flags) {
    if (stopped_) return;
    if (rc != 0) {
      failure_ = "mqtt: " + Where() + " refused the connection: " + mosquitto_connack_string(rc);
      return;  // libmosquitto then closes the socket: AfterLoop reconnects
    }
    session_present_ = (flags & 1) != 0;
    for (const std::string& topic : s_.topics) {
      int mid = 0;
      int src = mosquitto_subscribe(mosq_, &mid, topic.c_str(), s_.qos);
      if (src != MOSQ_ERR_SUCCESS) {
        failure_ = "mqtt: cannot subscribe to '" + topic + "': " + ErrText(src);
        mosquitto_disconnect(mosq_);
        return;
      }
      pending_subs_[mid] = topic;
    }
  }

  void OnSubscribe(int mid, int n, const int* granted) {
    if (stopped_) return;
    auto it = pending_subs_.find(mid);
    if (it == pending_subs_.end()) return;
    if (n < 1 || granted[0] == 0x80 || granted[0] > 2) {
      SetError("mqtt: " + Where() + " refused the subscription to '" + it->second + "'");
    } else {
      ++granted_;
    }
    pending_subs_.erase(it);
    if (!pending_subs_.empty()) return;
    if (granted_ == 0) {
      failure_ = "mqtt: " + Where() + " refused every topic filter";
      mosquitto_disconnect(mosq_);
      return;
    }
    connect_timer_.cancel();
    // Queued messages of a persistent session may have arrived already.
    if (state() == SourceState::kConnecting) SetState(SourceState::kSubscribed);
  }

  void OnMessage(const mosquitto_message* m) {
    if (stopped_) return;
    TemplateVars vars;
    vars.topic = m->topic ? std::string_view(m->topic) : std::string_view();
    std::string_view payload(static_cast<const char*>(m->payload),
                             m->payloadlen > 0 ? static_cast<size_t>(m->payloadlen) : 0);
    if (!Ingest(payload, vars)) paused_ = true;  // OnResume reads again
  }

  void OnDisconnect(int rc) {
    if (stopped_) return;
    // Called before (read/write errors) or after (keepalive) libmosquitto
    // closes the fd: stop watching it now.
    if (failure_.empty()) {
      failure_ = rc == MOSQ_ERR_KEEPALIVE
                     ? "mqtt: " + Where() + " did not answer keepalive pings"
                     : "mqtt: connection to " + Where() + " lost: " + ErrText(rc);
    }
    ReleaseSocket();
  }

  const MqttSettings s_;
  mosquitto* mosq_ = nullptr;
  boost::asio::posix::stream_descriptor sock_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer retry_timer_;    // backoff before a reconnect
  boost::asio::steady_timer connect_timer_;  // CONNACK + SUBACKs deadline
  boost::asio::steady_timer misc_timer_;     // mosquitto_loop_misc
  uint64_t gen_ = 0;  // bumped per connection: stale handlers ignore themselves
  bool stopped_ = false;
  bool connected_ = false;  // sock_ watches libmosquitto's fd
  bool reading_ = false;    // a wait_read is pending
  bool writing_ = false;    // a wait_write is pending
  bool paused_ = false;     // throttled: not reading
  bool waiting_ = false;    // in backoff before a reconnect
  bool session_present_ = false;
  std::string failure_;                      // why the current connection is ending
  std::string log_error_;                    // libmosquitto's last error log line
  std::map<int, std::string> pending_subs_;  // SUBSCRIBE mid -> filter
  int granted_ = 0;
};

std::any ParseMqtt(ConfigWalker& w, const YAML::Node& n, const std::string& path,
                   SourceOptions* common) {
  MqttSettings s;
  std::string url, username, password, client_id;
  bool has_client_id = false;
  w.Map(n, path,
        {{"url", w.Scalar<std::string>(&url)},
         {"topics", w.StringList(&s.topics)},
         {"qos", w.Scalar<int>(&s.qos, 0)},
         {"client_id",
          [&](const YAML::Node& v, const std::string& p) {
            has_client_id = true;
            ConfigWalker::Handler read = w.Scalar<std::string>(&client_id);
            read(v, p);
          }},
         {"clean_session", w.Scalar<bool>(&s.clean_session)},
         {"username", w.Scalar<std::string>(&username)},
         {"password", w.Scalar<std::string>(&password)},
         {"keepalive_s", w.Scalar<int>(&s.keepalive_s, 5)}});
  if (!w.status().ok()) return s;
  if (url.empty()) {
    w.Fail(path + ".url", "is required (mqtt://host:port or mqtts://host:port)");
    return s;
  }
  auto u = ParseMqttUrl(url);
  if (!u.ok()) {
    w.Fail(path + ".url", u.status().message());
    return s;
  }
  s.url = std::move(*u);
  if (s.topics.empty()) {
    w.Fail(path + ".topics", "needs at least one topic filter");
    return s;
  }
  for (size_t i = 0; i < s.topics.size(); ++i) {
    std::string why;
    if (!ValidMqttTopicFilter(s.topics[i], &why)) {
      w.Fail(path + ".topics[" + std::to_string(i) + "]", "'" + s.topics[i] + "' " + why);
      return s;
    }
  }
  if (s.qos > 1) {
    w.Fail(path + ".qos", "must be 0 or 1");
    return s;
  }
  if (s.keepalive_s > 65535) {
    w.Fail(path + ".keepalive_s", "must be 5-65535");
    return s;
  }
  s.client_id = has_client_id ? client_id : "livehub-" + common->id;
  if (s.client_id.empty() || s.client_id.size() > 23 * 10) {
    w.Fail(path + ".client_id", "must be 1-230 characters");
    return s;
  }
  if (!username.empty()) {
    auto r = ResolveSecret(username);
    if (!r.ok()) {
      w.Fail(path + ".username", r.status().message());
      return s;
    }
    s.url.username = std::move(*r);
  }
  if (!password.empty()) {
    auto r = ResolveSecret(password);
    if (!r.ok()) {
      w.Fail(path + ".password", r.status().message());
      return s;
    }
    s.url.password = std::move(*r);
  }
  if (!s.url.password.empty() && s.url.username.empty()) {
    w.Fail(path + ".password", "needs a username");
    return s;
  }
  return s;
}

}  // namespace

SourceType MqttSourceType() {
  return {"mqtt", ParseMqtt, [](SourceContext* ctx, SourceOptions o) -> std::unique_ptr<Source> {
            return std::make_unique<MqttSource>(ctx, std::move(o));
          }};
}

}  // namespace livehub
