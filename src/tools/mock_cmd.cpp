// `livehub mock`: runs MockGenerator (source/mock_generator.h) outside the
// hub, as the dev harness and the peer the integration tests ingest from.
//   --publish URL      POSTs each tick's messages to URL/v1/publish/<prefix>/<key>
//                      (a blocking client: this process does nothing else)
//   --serve HOST:PORT  serves the feed:
//        /ws            WebSocket; every client gets each message as one text frame
//        /sse           SSE; `event:` = the key (m1..mN), `id:` = the message
//                       number (one counter over all keys), `data:` = the message;
//                       Last-Event-ID resumes from a bounded in-memory backlog
//        /seen-headers  per feed path (/ws, /sse), the last request's header
//                       NAMES, its Last-Event-ID and the SHA-256 of its
//                       Authorization value (never the value)
//        /stats         messages made, clients connected
//        /drop-clients  (POST) closes every feed connection (a network blip)
//      --state-file keeps the backlog and counters across restarts of the mock.
// Threading (serve): one thread, one io_context; every session owns itself
// through shared_from_this. Bounded: clients (kMaxClients), each client's
// write queue (drops the client), the backlog (--backlog messages).
#include <openssl/evp.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "core/json_writer.h"
#include "source/mock_generator.h"
#include "source/net_client.h"
#include "tools/tools.h"

namespace livehub {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

constexpr size_t kMaxClients = 256;
constexpr size_t kMaxQueuedFrames = 4096;  // beyond the backlog replay
constexpr size_t kMaxQueuedBytes = 64u << 20;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

MockOptions GeneratorOptions(const MockFlags& f) {
  MockOptions o;
  o.streams = f.streams;
  o.interval_ms = std::max<int64_t>(1, static_cast<int64_t>(f.interval_s * 1000));
  o.batch_size = f.batch_size;
  o.shape = f.shape;
  o.payload_bytes = f.payload_bytes;
  if (f.frame_bytes > 0) o.payload_bytes = std::max(o.payload_bytes, f.frame_bytes / f.batch_size);
  o.drop_pct = f.drop_pct;
  o.jitter_ms = static_cast<int64_t>(f.jitter_ms);
  o.seed = f.seed;
  return o;
}

std::string Sha256Hex(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

// The largest "mock_seq": value in a message (to continue after a restart).
uint64_t LastMockSeq(std::string_view payload) {
  size_t at = payload.rfind("\"mock_seq\":");
  if (at == std::string_view::npos) return 0;
  uint64_t v = 0;
  for (size_t i = at + 11; i < payload.size() && payload[i] >= '0' && payload[i] <= '9'; ++i) {
    v = v * 10 + static_cast<uint64_t>(payload[i] - '0');
  }
  return v;
}

// ===========================================================================
// --serve
// ===========================================================================

struct Message {
  uint64_t n = 0;
  std::string key;
  std::shared_ptr<const std::string> payload;  // the WebSocket frame
  std::shared_ptr<const std::string> sse;      // the SSE event, chunk-encoded
};

class MockServer;

// One feed client. Write side: a bounded queue, one write in flight. Read
// side: reads (and discards) only to notice the peer going away.
class Peer : public std::enable_shared_from_this<Peer> {
 public:
  virtual ~Peer() = default;
  virtual void Send(std::shared_ptr<const std::string> frame) = 0;
  virtual void Close() = 0;
};

class MockServer {
 public:
  MockServer(asio::io_context& ioc, const MockFlags& f)
      : flags_(f), gen_(GeneratorOptions(f)), acceptor_(ioc), tick_(ioc) {}

  bool Listen(const std::string& hostport, std::string* err);
  void Start();
  void Stop();

  // For sessions.
  void NoteRequest(const http::request<http::string_body>& req);
  std::string SeenHeadersJson() const;
  std::string StatsJson() const;
  void DropClients();
  bool Add(std::shared_ptr<Peer> p, bool ws);
  void Remove(const std::shared_ptr<Peer>& p);
  // Backlog messages after `last_id` (all when it is not a number).
  std::vector<const Message*> Since(std::string_view last_id) const;

 private:
  void DoAccept();
  void Tick();
  void Append(Message m);
  void LoadState();
  void SaveLine(const Message& m);
  static Message MakeMessage(uint64_t n, std::string key, std::string payload);

  MockFlags flags_;
  MockGenerator gen_;
  tcp::acceptor acceptor_;
  asio::steady_timer tick_;
  std::deque<Message> backlog_;
  uint64_t next_n_ = 1;
  uint64_t ticks_ = 0;
  std::set<std::shared_ptr<Peer>> ws_peers_, sse_peers_;
  std::map<std::string, std::string> seen_;  // feed path -> JSON of its last request
  uint64_t feed_requests_ = 0;
  std::ofstream state_;
  uint64_t state_lines_ = 0;
  bool stopped_ = false;
};

class WsPeer : public Peer {
 public:
  WsPeer(tcp::socket s, MockServer* server) : ws_(std::move(s)), server_(server) {}

  void Start(http::request<http::string_body> req) {
    auto self = std::static_pointer_cast<WsPeer>(shared_from_this());
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.async_accept(req, [self](beast::error_code ec) {
      if (ec) return self->Gone();
      self->open_ = true;
      self->DoRead();
      if (!self->queue_.empty()) self->DoWrite();
    });
  }
  void Send(std::shared_ptr<const std::string> frame) override {
    if (gone_) return;
    if (queue_.size() >= kMaxQueuedFrames || queued_bytes_ > kMaxQueuedBytes) return Close();
    queued_bytes_ += frame->size();
    queue_.push_back(std::move(frame));
    if (open_ && queue_.size() == 1) DoWrite();
  }
  void Close() override {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
    Gone();
  }

 private:
  void DoRead() {
    auto self = std::static_pointer_cast<WsPeer>(shared_from_this());
    ws_.async_read(in_, [self](beast::error_code ec, size_t) {
      if (ec) return self->Gone();
      self->in_.consume(self->in_.size());
      self->DoRead();
    });
  }
  void DoWrite() {
    auto self = std::static_pointer_cast<WsPeer>(shared_from_this());
    ws_.text(true);
    ws_.async_write(asio::buffer(*queue_.front()), [self](beast::error_code ec, size_t) {
      if (ec) return self->Gone();
      self->queued_bytes_ -= self->queue_.front()->size();
      self->queue_.pop_front();
      if (!self->queue_.empty()) self->DoWrite();
    });
  }
  void Gone() {
    if (gone_) return;
    gone_ = true;
    queue_.clear();
    server_->Remove(shared_from_this());
  }

  websocket::stream<beast::tcp_stream> ws_;
  MockServer* server_;
  beast::flat_buffer in_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  size_t queued_bytes_ = 0;
  bool open_ = false;
  bool gone_ = false;
};

class SsePeer : public Peer {
 public:
  SsePeer(tcp::socket s, MockServer* server) : socket_(std::move(s)), server_(server) {}

  void Start(std::string_view last_event_id) {
    auto head = std::make_shared<const std::string>(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        "Transfer-Encoding: chunked\r\n\r\n");
    Send(head);
    Send(std::make_shared<const std::string>("10\r\n: livehub mock\n\n\r\n"));  // 16 bytes
    for (const Message* m : server_->Since(last_event_id)) Send(m->sse);
    DoRead();
  }
  void Send(std::shared_ptr<const std::string> frame) override {
    if (gone_) return;
    if (queue_.size() >= kMaxQueuedFrames + 100'000 || queued_bytes_ > kMaxQueuedBytes) {
      return Close();
    }
    queued_bytes_ += frame->size();
    queue_.push_back(std::move(frame));
    if (queue_.size() == 1) DoWrite();
  }
  void Close() override {
    beast::error_code ec;
    socket_.close(ec);
    Gone();
  }

 private:
  void DoRead() {
    auto self = std::static_pointer_cast<SsePeer>(shared_from_this());
    socket_.async_read_some(asio::buffer(in_), [self](beast::error_code ec, size_t) {
      if (ec) return self->Gone();
      self->DoRead();
    });
  }
  void DoWrite() {
    auto self = std::static_pointer_cast<SsePeer>(shared_from_this());
    asio::async_write(socket_, asio::buffer(*queue_.front()), [self](beast::error_code ec, size_t) {
      if (ec) return self->Gone();
      self->queued_bytes_ -= self->queue_.front()->size();
      self->queue_.pop_front();
      if (!self->queue_.empty()) self->DoWrite();
    });
  }
  void Gone() {
    if (gone_) return;
    gone_ = true;
    queue_.clear();
    server_->Remove(shared_from_this());
  }

  tcp::socket socket_;
  MockServer* server_;
  char in_[512];
  std::deque<std::shared_ptr<const std::string>> queue_;
  size_t queued_bytes_ = 0;
  bool gone_ = false;
};

// Reads one request and routes it.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket s, MockServer* server) : stream_(std::move(s)), server_(server) {}

  void Start() {
    stream_.expires_after(std::chrono::seconds(10));
    parser_.header_limit(16 * 1024);
    parser_.body_limit(64 * 1024);
    auto self = shared_from_this();
    http::async_read(stream_, buffer_, parser_, [self](beast::error_code ec, size_t) {
      if (ec) return;
      self->Route(self->parser_.release());
    });
  }

 private:
  void Route(http::request<http::string_body> req) {
    stream_.expires_never();
    std::string_view target = req.target();
    std::string_view path = target.substr(0, target.find('?'));
    if (path == "/ws" && websocket::is_upgrade(req)) {
      server_->NoteRequest(req);
      auto peer = std::make_shared<WsPeer>(stream_.release_socket(), server_);
      if (!server_->Add(peer, true)) return;
      peer->Start(std::move(req));
      return;
    }
    if (path == "/sse" && req.method() == http::verb::get) {
      server_->NoteRequest(req);
      auto peer = std::make_shared<SsePeer>(stream_.release_socket(), server_);
      if (!server_->Add(peer, false)) return;
      peer->Start(req["Last-Event-ID"]);
      return;
    }
    if (path == "/seen-headers") return Reply(http::status::ok, server_->SeenHeadersJson());
    if (path == "/stats") return Reply(http::status::ok, server_->StatsJson());
    if (path == "/drop-clients" && req.method() == http::verb::post) {
      server_->DropClients();
      return Reply(http::status::ok, "{\"ok\":true}");
    }
    Reply(http::status::not_found, "{\"error\":\"not found: try /ws, /sse, /stats\"}");
  }

  void Reply(http::status status, std::string body) {
    auto res = std::make_shared<http::response<http::string_body>>(status, 11);
    res->set(http::field::content_type, "application/json");
    res->set(http::field::connection, "close");
    res->body() = std::move(body);
    res->prepare_payload();
    auto self = shared_from_this();
    http::async_write(stream_, *res, [self, res](beast::error_code, size_t) {
      beast::error_code ec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    });
  }

  beast::tcp_stream stream_;
  MockServer* server_;
  beast::flat_buffer buffer_;
  http::request_parser<http::string_body> parser_;
};

bool MockServer::Listen(const std::string& hostport, std::string* err) {
  size_t colon = hostport.rfind(':');
  if (colon == std::string::npos) {
    *err = "--serve must be HOST:PORT, got '" + hostport + "'";
    return false;
  }
  std::string host = hostport.substr(0, colon);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) {
    *err = "--serve host '" + host + "' must be an IP address";
    return false;
  }
  int port = 0;
  try {
    port = std::stoi(hostport.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    *err = "--serve port must be 0..65535";
    return false;
  }
  tcp::endpoint ep(addr, static_cast<uint16_t>(port));
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    *err = "cannot listen on " + hostport + ": " + ec.message();
    return false;
  }
  return true;
}

void MockServer::Start() {
  LoadState();
  std::string line;
  JsonWriter w(&line);
  w.BeginObject()
      .Field("msg", "listening")
      .Field("port", static_cast<int>(acceptor_.local_endpoint().port()));
  w.Field("next_id", next_n_).EndObject();
  std::cerr << line << std::endl;
  DoAccept();
  tick_.expires_after(std::chrono::milliseconds(gen_.NextDelayMs()));
  tick_.async_wait([this](beast::error_code ec) {
    if (!ec) Tick();
  });
}

void MockServer::Stop() {
  stopped_ = true;
  beast::error_code ec;
  acceptor_.close(ec);
  tick_.cancel();
  DropClients();
}

void MockServer::DoAccept() {
  acceptor_.async_accept([this](beast::error_code ec, tcp::socket s) {
    if (stopped_) return;
    if (!ec) {
      // Frames are written as they are made: no Nagle delay (with the peer's
      // delayed ACK it adds ~40 ms to a large frame's tail).
      beast::error_code nd;
      s.set_option(tcp::no_delay(true), nd);
      std::make_shared<HttpSession>(std::move(s), this)->Start();
    }
    DoAccept();
  });
}

void MockServer::Tick() {
  if (stopped_) return;
  ++ticks_;
  for (auto& [key, payload] : gen_.Tick(NowMs())) {
    Append(MakeMessage(next_n_++, std::move(key), std::move(payload)));
  }
  if (flags_.count > 0 && ticks_ >= flags_.count) return;  // made all it was asked to
  tick_.expires_after(std::chrono::milliseconds(gen_.NextDelayMs()));
  tick_.async_wait([this](beast::error_code ec) {
    if (!ec) Tick();
  });
}

Message MockServer::MakeMessage(uint64_t n, std::string key, std::string payload) {
  Message m;
  m.n = n;
  m.key = std::move(key);
  std::string ev = "id: " + std::to_string(n) + "\nevent: " + m.key + "\ndata: " + payload + "\n\n";
  char hex[24];
  std::snprintf(hex, sizeof(hex), "%zx\r\n", ev.size());
  m.sse = std::make_shared<const std::string>(hex + ev + "\r\n");
  m.payload = std::make_shared<const std::string>(std::move(payload));
  return m;
}

void MockServer::Append(Message m) {
  SaveLine(m);
  for (const auto& p : std::vector<std::shared_ptr<Peer>>(ws_peers_.begin(), ws_peers_.end())) {
    p->Send(m.payload);
  }
  for (const auto& p : std::vector<std::shared_ptr<Peer>>(sse_peers_.begin(), sse_peers_.end())) {
    p->Send(m.sse);
  }
  backlog_.push_back(std::move(m));
  while (backlog_.size() > flags_.backlog) backlog_.pop_front();
}

std::vector<const Message*> MockServer::Since(std::string_view last_id) const {
  std::vector<const Message*> out;
  uint64_t after = 0;
  bool numeric = !last_id.empty() && last_id.size() < 19;
  for (char c : last_id) numeric = numeric && c >= '0' && c <= '9';
  if (!numeric) return out;  // no (usable) id: live only
  after = std::stoull(std::string(last_id));
  for (const Message& m : backlog_) {
    if (m.n > after) out.push_back(&m);
  }
  return out;
}

std::string MockServer::SeenHeadersJson() const {
  std::string j = "{";
  for (const auto& [path, entry] : seen_) {
    if (j.size() > 1) j.push_back(',');
    AppendJsonString(&j, path);
    j.push_back(':');
    j += entry;
  }
  return j + "}";
}

void MockServer::NoteRequest(const http::request<http::string_body>& req) {
  ++feed_requests_;
  std::string_view target = req.target();
  std::string path(target.substr(0, target.find('?')));
  std::string j;
  JsonWriter w(&j);
  w.BeginObject().Field("target", target.substr(0, 200));
  w.Key("header_names").BeginArray();
  for (const auto& h : req) w.String(std::string_view(h.name_string()));
  w.EndArray();
  auto auth = req.find(http::field::authorization);
  if (auth != req.end()) {
    w.Field("authorization_sha256", Sha256Hex(auth->value()));
  } else {
    w.Key("authorization_sha256").Null();
  }
  w.Field("last_event_id", std::string_view(req["Last-Event-ID"]).substr(0, 100));
  w.Field("requests", feed_requests_).EndObject();
  seen_[path] = std::move(j);  // only /ws and /sse get here
}

std::string MockServer::StatsJson() const {
  std::string j;
  JsonWriter w(&j);
  w.BeginObject().Field("messages", next_n_ - 1).Field("ticks", ticks_);
  w.Field("ws_clients", static_cast<uint64_t>(ws_peers_.size()));
  w.Field("sse_clients", static_cast<uint64_t>(sse_peers_.size()));
  w.Field("feed_requests", feed_requests_);
  w.Field("backlog", static_cast<uint64_t>(backlog_.size())).EndObject();
  return j;
}

void MockServer::DropClients() {
  std::vector<std::shared_ptr<Peer>> all(ws_peers_.begin(), ws_peers_.end());
  all.insert(all.end(), sse_peers_.begin(), sse_peers_.end());
  for (const auto& p : all) p->Close();
}

bool MockServer::Add(std::shared_ptr<Peer> p, bool ws) {
  if (stopped_ || ws_peers_.size() + sse_peers_.size() >= kMaxClients) return false;
  (ws ? ws_peers_ : sse_peers_).insert(std::move(p));
  return true;
}

void MockServer::Remove(const std::shared_ptr<Peer>& p) {
  ws_peers_.erase(p);
  sse_peers_.erase(p);
}

// The state file: one line per message, "<n> <key> <payload>". On start the
// last --backlog lines come back and numbering (and mock_seq, exactly for
// one stream) goes on from them; the file is then rewritten to just those.
void MockServer::LoadState() {
  if (flags_.state_file.empty()) return;
  std::deque<Message> loaded;
  uint64_t last_seq = 0;
  {
    std::ifstream in(flags_.state_file);
    std::string line;
    while (std::getline(in, line)) {
      size_t a = line.find(' ');
      size_t b = a == std::string::npos ? a : line.find(' ', a + 1);
      if (b == std::string::npos) continue;  // a torn last line
      uint64_t n = 0;
      try {
        n = std::stoull(line.substr(0, a));
      } catch (const std::exception&) {
        continue;
      }
      std::string payload = line.substr(b + 1);
      last_seq = std::max(last_seq, LastMockSeq(payload));
      loaded.push_back(MakeMessage(n, line.substr(a + 1, b - a - 1), std::move(payload)));
      if (loaded.size() > flags_.backlog) loaded.pop_front();
    }
  }
  if (!loaded.empty()) next_n_ = loaded.back().n + 1;
  if (last_seq > 0) gen_.Skip(last_seq);
  backlog_ = std::move(loaded);
  state_.open(flags_.state_file, std::ios::trunc);
  for (const Message& m : backlog_) state_ << m.n << ' ' << m.key << ' ' << *m.payload << '\n';
  state_.flush();
  state_lines_ = backlog_.size();
}

void MockServer::SaveLine(const Message& m) {
  if (!state_.is_open()) return;
  if (state_lines_ >= 2 * flags_.backlog + 1000) {  // keep the file bounded
    state_.close();
    state_.open(flags_.state_file, std::ios::trunc);
    for (const Message& b : backlog_) state_ << b.n << ' ' << b.key << ' ' << *b.payload << '\n';
    state_lines_ = backlog_.size();
  }
  state_ << m.n << ' ' << m.key << ' ' << *m.payload << '\n';
  state_.flush();  // a kill -9 keeps every message made so far
  ++state_lines_;
}

int RunServeMock(const MockFlags& f) {
  asio::io_context ioc;
  MockServer server(ioc, f);
  std::string err;
  if (!server.Listen(f.serve, &err)) {
    std::cerr << "livehub mock: " << err << "\n";
    return 2;
  }
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int) {
    server.Stop();
    ioc.stop();
  });
  server.Start();
  ioc.run();
  return 0;
}

// ===========================================================================
// --publish
// ===========================================================================

std::atomic<bool> g_mock_stop{false};
extern "C" void OnMockSignal(int) { g_mock_stop.store(true); }

int RunPublishMock(const MockFlags& f) {
  auto url = ParseNetUrl(f.publish, "http", "https");
  if (!url.ok()) {
    std::cerr << "livehub mock: --publish " << url.status().message() << "\n";
    return 2;
  }
  if (url->tls) {
    std::cerr << "livehub mock: --publish supports http:// only\n";
    return 2;
  }
  std::string base = url->path == "/" ? "" : url->path;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::signal(SIGINT, OnMockSignal);
  std::signal(SIGTERM, OnMockSignal);
  MockGenerator gen(GeneratorOptions(f));
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  std::unique_ptr<beast::tcp_stream> stream;
  uint64_t sent = 0, failed = 0;
  auto next = std::chrono::steady_clock::now();
  for (uint64_t tick = 0; !g_mock_stop.load() && (f.count == 0 || tick < f.count); ++tick) {
    for (auto& [key, payload] : gen.Tick(NowMs())) {
      beast::error_code ec;
      if (!stream) {
        stream = std::make_unique<beast::tcp_stream>(ioc);
        stream->expires_after(std::chrono::seconds(5));
        auto results = resolver.resolve(url->host, url->port, ec);
        if (!ec) stream->connect(results, ec);
      }
      http::response<http::string_body> res;
      if (!ec) {
        http::request<http::string_body> req(http::verb::post,
                                             base + "/v1/publish/" + f.prefix + "/" + key, 11);
        req.set(http::field::host, url->HostHeader());
        req.set(http::field::content_type, "application/json");
        req.body() = std::move(payload);
        req.prepare_payload();
        stream->expires_after(std::chrono::seconds(10));
        http::write(*stream, req, ec);
        beast::flat_buffer buf;
        if (!ec) http::read(*stream, buf, res, ec);
      }
      if (ec || res.result() != http::status::ok) {
        ++failed;
        std::cerr << "livehub mock: publish " << key << " failed: "
                  << (ec ? ec.message() : std::to_string(res.result_int()) + " " + res.body())
                  << "\n";
        stream.reset();
      } else {
        ++sent;
      }
    }
    next += std::chrono::milliseconds(gen.NextDelayMs());
    std::this_thread::sleep_until(next);
  }
  std::cerr << "{\"msg\":\"mock done\",\"published\":" << sent << ",\"failed\":" << failed << "}\n";
  return failed > 0 && sent == 0 ? 1 : 0;
}

}  // namespace

int RunMock(const MockFlags& f) {
  if (f.publish.empty() == f.serve.empty()) {
    std::cerr << "livehub mock: give exactly one of --publish URL or --serve HOST:PORT\n";
    return 2;
  }
  if (f.shape != "sensor" && f.shape != "ticker" && f.shape != "counter") {
    std::cerr << "livehub mock: --shape must be sensor, ticker or counter\n";
    return 2;
  }
  if (f.streams < 1 || f.batch_size < 1 || f.interval_s <= 0 || f.drop_pct < 0 ||
      f.drop_pct > 100 || f.jitter_ms < 0 || f.backlog < 1) {
    std::cerr << "livehub mock: --streams, --batch-size, --backlog must be >= 1, --interval > 0, "
                 "--drop-pct 0..100, --jitter-ms >= 0\n";
    return 2;
  }
  return f.serve.empty() ? RunPublishMock(f) : RunServeMock(f);
}

}  // namespace livehub
