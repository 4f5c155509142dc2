#include "source/net_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>

#include "core/strings.h"

namespace livehub {
namespace {

bool SensitiveParam(std::string_view name) {
  static constexpr std::string_view kWords[] = {"token", "key", "secret",     "password", "passwd",
                                                "auth",  "sig", "credential", "session",  "pwd"};
  std::string n = AsciiLower(name);
  return std::any_of(std::begin(kWords), std::end(kWords),
                     [&](std::string_view w) { return n.find(w) != std::string::npos; });
}

}  // namespace

std::string NetUrl::HostHeader() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  bool default_port = (port == "80" && (scheme == "ws" || scheme == "http")) ||
                      (port == "443" && (scheme == "wss" || scheme == "https"));
  return default_port ? h : h + ":" + port;
}

Result<NetUrl> ParseNetUrl(std::string_view text, std::string_view plain, std::string_view secure) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("bad_config", "URL '" + RedactUrl(text) + "' " + why);
  };
  size_t sep = text.find("://");
  if (sep == std::string_view::npos) {
    return bad("must look like " + std::string(plain) + "://HOST[:PORT]/PATH");
  }
  NetUrl u;
  u.scheme = AsciiLower(text.substr(0, sep));
  if (u.scheme == plain) {
    u.tls = false;
  } else if (u.scheme == secure) {
    u.tls = true;
  } else {
    return bad("must use " + std::string(plain) + ":// or " + std::string(secure) + "://");
  }
  std::string_view rest = text.substr(sep + 3);
  size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (size_t hash = u.target.find('#'); hash != std::string::npos) u.target.resize(hash);
  if (u.target.empty() || u.target[0] != '/') u.target = "/" + u.target;
  u.path = u.target.substr(0, u.target.find('?'));
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("has an unclosed IPv6 literal");
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("has junk after the IPv6 literal");
      port = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) return bad("has no host");
  if (port.empty()) {
    u.port = u.tls ? "443" : "80";
  } else {
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return bad("has a bad port '" + std::string(port) + "'");
    }
    int p = std::stoi(std::string(port));
    if (p < 1 || p > 65535) return bad("has a port out of range");
    u.port = std::string(port);
  }
  return u;
}

std::string RedactUrl(std::string_view url) {
  std::string out;
  size_t sep = url.find("://");
  size_t auth_start = sep == std::string_view::npos ? 0 : sep + 3;
  size_t auth_end = url.find_first_of("/?#", auth_start);
  if (auth_end == std::string_view::npos) auth_end = url.size();
  std::string_view authority = url.substr(auth_start, auth_end - auth_start);
  out.append(url.substr(0, auth_start));
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  out.append(authority);
  std::string_view rest = url.substr(auth_end);
  size_t q = rest.find('?');
  if (q == std::string_view::npos) {
    out.append(rest);
    return out;
  }
  out.append(rest.substr(0, q + 1));
  std::string_view query = rest.substr(q + 1);
  size_t hash = query.find('#');
  std::string_view fragment = hash == std::string_view::npos ? "" : query.substr(hash);
  query = query.substr(0, hash);
  bool first = true;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (!first) out.push_back('&');
    first = false;
    size_t eq = param.find('=');
    std::string_view name = param.substr(0, eq);
    if (eq != std::string_view::npos && SensitiveParam(name)) {
      out.append(name).append("=***");
    } else {
      out.append(param);
    }
  }
  out.append(fragment);
  return out;
}

Result<std::shared_ptr<boost::asio::ssl::context>> MakeTlsClientContext(const TlsOptions& tls) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  if (!tls.verify) {
    ctx->set_verify_mode(ssl::verify_none, ec);
    return ctx;
  }
  ctx->set_default_verify_paths(ec);
  if (ec) return Status::Internal("cannot load the system CA certificates: " + ec.message());
  if (!tls.ca_file.empty()) {
    ctx->load_verify_file(tls.ca_file, ec);
    if (ec) {
      return Status::InvalidArgument("bad_config",
                                     "tls.ca_file '" + tls.ca_file + "': " + ec.message());
    }
  }
  ctx->set_verify_mode(ssl::verify_peer, ec);
  return ctx;
}

boost::system::error_code SetTlsClientHost(boost::beast::ssl_stream<boost::beast::tcp_stream>& s,
                                           const std::string& host, bool verify) {
  namespace ssl = boost::asio::ssl;
  if (!SSL_set_tlsext_host_name(s.native_handle(), host.c_str())) {
    return boost::system::error_code(static_cast<int>(::ERR_get_error()),
                                     boost::asio::error::get_ssl_category());
  }
  if (verify) s.set_verify_callback(ssl::host_name_verification(host));
  return {};
}

}  // namespace livehub
