// `livehub publish` and `livehub tail`: small clients of the hub's own API.
#include <simdjson.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "core/json_writer.h"
#include "tools/tools.h"

namespace livehub {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace asio = boost::asio;

// The credential for a hub with auth (docs/security.md): $LIVEHUB_TOKEN, a
// JWT or an API key, sent as Authorization: Bearer.
std::string AuthorizationValue() {
  const char* t = std::getenv("LIVEHUB_TOKEN");
  return t && *t ? std::string("Bearer ") + t : std::string();
}
using tcp = asio::ip::tcp;

struct Url {
  std::string scheme, host, port, path;
};

bool ParseUrl(const std::string& text, Url* out, std::string* err) {
  size_t s = text.find("://");
  if (s == std::string::npos) {
    *err = "URL '" + text + "' must look like http://HOST:PORT";
    return false;
  }
  out->scheme = text.substr(0, s);
  std::string rest = text.substr(s + 3);
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  out->path = slash == std::string::npos ? "" : rest.substr(slash);
  if (!out->path.empty() && out->path.back() == '/') out->path.pop_back();
  size_t colon = hostport.rfind(':');
  out->host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
  out->port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  if (out->host.empty()) {
    *err = "URL '" + text + "' has no host";
    return false;
  }
  return true;
}

std::string GuessContentType(const std::string& file, const std::string& body) {
  auto ends = [&](const char* ext) { return file.ends_with(ext); };
  if (ends(".csv")) return "text/csv";
  if (ends(".ndjson") || ends(".jsonl")) return "application/x-ndjson";
  if (ends(".json")) return "application/json";
  // Several top-level JSON values on separate lines -> NDJSON.
  size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "application/json";
  char c = body[first];
  if (c != '{' && c != '[' && c != '"' && !isdigit(static_cast<unsigned char>(c)) && c != '-' &&
      c != 't' && c != 'f' && c != 'n') {
    return "text/csv";
  }
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  if (!parser.parse(body).get(e)) return "application/json";
  return "application/x-ndjson";
}

// Percent-encodes a stream name for a URL path (keeps '/').
std::string PathEscape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace

int RunPublish(const PublishFlags& f) {
  std::string body;
  if (f.file == "-") {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    body = ss.str();
  } else {
    std::ifstream in(f.file, std::ios::binary);
    if (!in) {
      std::cerr << "livehub publish: cannot read '" << f.file << "'\n";
      return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    body = ss.str();
  }
  Url url;
  std::string err;
  if (!ParseUrl(f.url, &url, &err)) {
    std::cerr << "livehub publish: " << err << "\n";
    return 2;
  }
  try {
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.connect(resolver.resolve(url.host, url.port));
    http::request<http::string_body> req(http::verb::post,
                                         url.path + "/v1/publish/" + PathEscape(f.stream), 11);
    req.set(http::field::host, url.host);
    if (auto a = AuthorizationValue(); !a.empty()) req.set(http::field::authorization, a);
    req.set(http::field::content_type,
            f.content_type.empty() ? GuessContentType(f.file, body) : f.content_type);
    req.body() = std::move(body);
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    if (res.result_int() == 200) {
      std::cout << res.body() << "\n";
      return 0;
    }
    // The hub's JSON error names the line and the problem; keep it whole.
    std::cerr << "livehub publish: HTTP " << res.result_int() << ": " << res.body() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "livehub publish: " << f.url << ": " << e.what() << "\n";
    return 1;
  }
}

// ---------------------------------------------------------------------------
// sources: GET /v1/sources as a table (or the JSON itself).
// ---------------------------------------------------------------------------

int RunSources(const SourcesFlags& f) {
  Url url;
  std::string err;
  if (!ParseUrl(f.url, &url, &err)) {
    std::cerr << "livehub sources: " << err << "\n";
    return 2;
  }
  std::string body;
  try {
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(resolver.resolve(url.host, url.port));
    http::request<http::empty_body> req(http::verb::get, url.path + "/v1/sources", 11);
    req.set(http::field::host, url.host);
    if (auto a = AuthorizationValue(); !a.empty()) req.set(http::field::authorization, a);
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    if (res.result_int() != 200) {
      std::cerr << "livehub sources: HTTP " << res.result_int() << ": " << res.body() << "\n";
      return 1;
    }
    body = std::move(res.body());
  } catch (const std::exception& e) {
    std::cerr << "livehub sources: " << f.url << ": " << e.what() << "\n";
    return 1;
  }
  if (f.json) {
    std::cout << body << "\n";
    return 0;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::array list;
  if (parser.parse(body).get(root) || root["sources"].get(list)) {
    std::cerr << "livehub sources: unexpected reply: " << body.substr(0, 200) << "\n";
    return 1;
  }
  std::printf("%-20s %-10s %-12s %10s %10s %12s %10s  %s\n", "ID", "TYPE", "STATE", "AGE_S",
              "RECONNECTS", "PUBLISHED", "DROPPED", "LAST_ERROR");
  for (simdjson::dom::element s : list) {
    std::string_view id, type, state, last_error = "-";
    if (s["id"].get(id)) {
    }
    if (s["type"].get(type)) {
    }
    if (s["state"].get(state)) {
    }
    if (s["last_error"].get(last_error)) {
    }
    int64_t age_ms = -1;
    if (s["last_message_age_ms"].get(age_ms)) {
    }
    uint64_t reconnects = 0, published = 0, dropped = 0;
    if (s["reconnects"].get(reconnects)) {
    }
    if (s["events_published"].get(published)) {
    }
    simdjson::dom::object drops;
    if (!s["dropped"].get(drops)) {
      for (auto [k, v] : drops) dropped += uint64_t(v);
    }
    std::string age = age_ms < 0 ? "-" : std::to_string(age_ms / 1000.0).substr(0, 6);
    std::printf(
        "%-20.*s %-10.*s %-12.*s %10s %10llu %12llu %10llu  %.*s\n", int(id.size()), id.data(),
        int(type.size()), type.data(), int(state.size()), state.data(), age.c_str(),
        static_cast<unsigned long long>(reconnects), static_cast<unsigned long long>(published),
        static_cast<unsigned long long>(dropped), int(last_error.size()), last_error.data());
  }
  return 0;
}

// ---------------------------------------------------------------------------
// tail: subscribe, print NDJSON, keep a cursor, reconnect with backoff.
// ---------------------------------------------------------------------------

namespace {

using Cursor = std::map<std::string, std::pair<std::string, uint64_t>>;  // stream -> epoch, seq

// SIGINT/SIGTERM end `tail` between messages, never between printing an
// event and saving the cursor past it, so a restart repeats nothing.
std::atomic<bool> g_in_message{false};
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnTailSignal(int) {
  if (!g_in_message.load()) _exit(0);  // printed and saved: safe to go
  g_stop.store(true);                  // finish this message first
}

void LoadCursor(const std::string& path, Cursor* c) {
  std::ifstream in(path);
  if (!in) return;
  std::stringstream ss;
  ss << in.rdbuf();
  simdjson::dom::parser p;
  simdjson::dom::object o;
  if (p.parse(ss.str()).get(o)) {
    std::cerr << "livehub tail: ignoring unreadable cursor file '" << path << "'\n";
    return;
  }
  for (auto field : o) {
    std::string_view epoch;
    uint64_t seq;
    if (field.value["epoch"].get(epoch) || field.value["seq"].get(seq)) continue;
    (*c)[std::string(field.key)] = {std::string(epoch), seq};
  }
}

std::string CursorJson(const Cursor& c) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  for (const auto& [s, v] : c) {
    w.Key(s).BeginObject().Field("epoch", v.first).Field("seq", v.second).EndObject();
  }
  w.EndObject();
  return out;
}

void SaveCursor(const std::string& path, const Cursor& c) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << CursorJson(c) << "\n";
    if (!out) return;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);  // atomic replace
}

}  // namespace

int RunTail(const TailFlags& f) {
  Url url;
  std::string err;
  if (!ParseUrl(f.url, &url, &err)) {
    std::cerr << "livehub tail: " << err << "\n";
    return 2;
  }
  Cursor cursor;
  if (!f.cursor_file.empty()) LoadCursor(f.cursor_file, &cursor);
  std::signal(SIGINT, OnTailSignal);
  std::signal(SIGTERM, OnTailSignal);
  uint64_t printed = 0;
  int backoff_ms = 1000;
  std::mt19937 rng(std::random_device{}());
  simdjson::dom::parser parser;
  for (;;) {
    auto started = std::chrono::steady_clock::now();
    try {
      asio::io_context ioc;
      tcp::resolver resolver(ioc);
      websocket::stream<tcp::socket> ws(ioc);
      asio::connect(ws.next_layer(), resolver.resolve(url.host, url.port));
      if (auto a = AuthorizationValue(); !a.empty()) {
        ws.set_option(websocket::stream_base::decorator(
            [a](websocket::request_type& r) { r.set(http::field::authorization, a); }));
      }
      ws.handshake(url.host, url.path + "/v1/ws");
      std::string sub;
      JsonWriter w(&sub);
      w.BeginObject().Field("op", "subscribe").Field("id", 1).Key("streams").BeginArray();
      for (const auto& p : f.patterns) w.String(p);
      w.EndArray().Key("from").Raw(CursorJson(cursor)).EndObject();
      ws.write(asio::buffer(sub));
      bool dirty = false;
      for (;;) {
        beast::flat_buffer buf;
        ws.read(buf);
        std::string msg = beast::buffers_to_string(buf.data());
        simdjson::dom::element doc;
        std::string_view type;
        if (parser.parse(msg).get(doc) || doc["type"].get(type)) continue;
        g_in_message.store(true);
        if (type == "event") {
          std::string_view stream, epoch;
          uint64_t seq = 0;
          if (!doc["stream"].get(stream) && !doc["epoch"].get(epoch) && !doc["seq"].get(seq)) {
            cursor[std::string(stream)] = {std::string(epoch), seq};
            dirty = true;
          }
          std::cout << msg << "\n";
          ++printed;
        } else if (type == "gap") {
          std::string_view stream, epoch;
          uint64_t to = 0;
          if (!doc["stream"].get(stream) && !doc["epoch"].get(epoch) && !doc["to_seq"].get(to)) {
            cursor[std::string(stream)] = {std::string(epoch), to};
            dirty = true;
          }
          (f.quiet_control ? std::cerr : std::cout) << msg << "\n";
        } else if (type == "error") {
          std::cerr << "livehub tail: hub says: " << msg << "\n";
          if (msg.find("\"id\":1") != std::string::npos) return 2;  // subscribe rejected
        } else if (!f.quiet_control) {
          std::cout << msg << "\n";
        }
        // Print (and flush) first, then move the cursor: a kill in between
        // repeats at most the one event, never loses it.
        std::cout.flush();
        if (dirty && !f.cursor_file.empty()) {
          SaveCursor(f.cursor_file, cursor);
          dirty = false;
        }
        g_in_message.store(false);
        if (g_stop.load()) return 0;
        if (f.count && printed >= f.count) return 0;
        if (std::chrono::steady_clock::now() - started > std::chrono::seconds(30)) {
          backoff_ms = 1000;  // healthy for a while: reset the backoff
        }
      }
    } catch (const std::exception& e) {
      if (!f.cursor_file.empty()) SaveCursor(f.cursor_file, cursor);
      std::uniform_int_distribution<int> jitter(0, backoff_ms / 2);
      int wait = backoff_ms + jitter(rng);
      std::cerr << "livehub tail: " << e.what() << "; reconnecting in " << wait << " ms\n";
      std::this_thread::sleep_for(std::chrono::milliseconds(wait));
      backoff_ms = std::min(backoff_ms * 2, 30'000);
    }
  }
}

}  // namespace livehub
