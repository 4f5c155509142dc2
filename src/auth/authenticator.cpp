#include "auth/authenticator.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/strings.h"

namespace livehub {
namespace {

// "https://App.example.com/" -> "https://app.example.com"
std::string NormalizeOrigin(std::string_view origin) {
  std::string o = AsciiLower(origin);
  while (!o.empty() && o.back() == '/') o.pop_back();
  return o;
}

Result<std::string> ReadFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("bad_config", "cannot read " + what + " '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool IsHex64(std::string_view s) {
  if (s.size() != 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

}  // namespace

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

void ParseAuthSection(ConfigWalker& w, const YAML::Node& node, const std::string& path,
                      const SecretResolver& resolve_secret, AuthOptions* out) {
  std::string secret_ref;
  w.Map(node, path,
        {{"jwt",
          [&](const YAML::Node& n, const std::string& p) {
            w.Map(n, p,
                  {{"hs256_secret", w.Scalar<std::string>(&secret_ref)},
                   {"jwks_file", w.Scalar<std::string>(&out->jwks_file)},
                   {"leeway_s", w.Scalar<int64_t>(&out->jwt.leeway_s, 0)},
                   {"require_exp", w.Scalar<bool>(&out->jwt.require_exp)},
                   {"issuer", w.Scalar<std::string>(&out->jwt.issuer)},
                   {"audience", w.Scalar<std::string>(&out->jwt.audience)},
                   {"public_keys", [&](const YAML::Node& kn, const std::string& kp) {
                      if (!kn.IsSequence()) return w.Fail(kp, "must be a list of {kid, file}");
                      for (size_t i = 0; i < kn.size(); ++i) {
                        std::string ip = kp + "[" + std::to_string(i) + "]";
                        PublicKeyOptions k;
                        w.Map(kn[i], ip,
                              {{"kid", w.Scalar<std::string>(&k.kid)},
                               {"file", w.Scalar<std::string>(&k.file)}});
                        if (!w.status().ok()) return;
                        if (k.file.empty()) return w.Fail(ip + ".file", "is required");
                        out->public_keys.push_back(std::move(k));
                      }
                    }}});
            if (w.status().ok() && out->jwt.leeway_s > 300) {
              w.Fail(p + ".leeway_s", "must be at most 300 (5 minutes)");
            }
          }},
         {"api_keys",
          [&](const YAML::Node& n, const std::string& p) {
            if (!n.IsSequence()) {
              return w.Fail(p, "must be a list of {name, sha256, subscribe, publish, scopes}");
            }
            for (size_t i = 0; i < n.size(); ++i) {
              std::string ip = p + "[" + std::to_string(i) + "]";
              ApiKeyOptions k;
              w.Map(n[i], ip,
                    {{"name", w.Scalar<std::string>(&k.name)},
                     {"sha256", w.Scalar<std::string>(&k.sha256_hex)},
                     {"subscribe", w.StringList(&k.subscribe)},
                     {"publish", w.StringList(&k.publish)},
                     {"scopes", w.StringList(&k.scopes)}});
              if (!w.status().ok()) return;
              if (k.name.empty()) return w.Fail(ip + ".name", "is required");
              if (!IsHex64(k.sha256_hex)) {
                return w.Fail(ip + ".sha256",
                              "must be the 64-hex-digit SHA-256 of the key (e.g. "
                              "`printf %s \"$KEY\" | sha256sum`), not the key itself");
              }
              k.sha256_hex = AsciiLower(k.sha256_hex);
              for (const auto& other : out->api_keys) {
                if (other.name == k.name) return w.Fail(ip + ".name", "duplicate key name");
                if (other.sha256_hex == k.sha256_hex) {
                  return w.Fail(ip + ".sha256", "same key as '" + other.name + "'");
                }
              }
              out->api_keys.push_back(std::move(k));
            }
          }},
         {"anonymous",
          [&](const YAML::Node& n, const std::string& p) {
            w.Map(n, p, {{"subscribe", w.StringList(&out->anonymous_subscribe)}});
          }},
         {"cookie", w.Scalar<std::string>(&out->cookie_name)},
         {"query_token", w.Scalar<bool>(&out->query_token)},
         {"allowed_origins", w.StringList(&out->allowed_origins)}});
  if (!w.status().ok()) return;
  if (!secret_ref.empty()) {
    auto s = resolve_secret(secret_ref);
    if (!s.ok()) return w.Fail(path + ".jwt.hs256_secret", s.status().message());
    if (s->empty()) return w.Fail(path + ".jwt.hs256_secret", "resolves to an empty secret");
    out->hs256_secret = std::move(*s);
  }
  for (auto& o : out->allowed_origins) {
    if (o != "*" && !o.starts_with("http://") && !o.starts_with("https://")) {
      return w.Fail(path + ".allowed_origins",
                    "'" + o + "' must be scheme://host[:port] (or \"*\")");
    }
    o = NormalizeOrigin(o);
  }
  if (out->cookie_name.empty()) return w.Fail(path + ".cookie", "must not be empty");
}

// ---------------------------------------------------------------------------
// Principal, hashing, loopback
// ---------------------------------------------------------------------------

bool Principal::HasScope(std::string_view scope) const {
  if (everything) return true;
  return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

bool IsLoopbackHost(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

// ---------------------------------------------------------------------------
// Authenticator
// ---------------------------------------------------------------------------

Result<std::unique_ptr<Authenticator>> Authenticator::Create(const AuthOptions& options, bool open,
                                                             bool loopback) {
  std::unique_ptr<Authenticator> a(new Authenticator());
  a->options_ = options;
  a->open_ = open;
  a->loopback_ = loopback;
  if (!options.hs256_secret.empty()) {
    if (Status st = a->jwt_.AddHmacSecret(options.hs256_secret); !st.ok()) {
      return Status::InvalidArgument("bad_config", "auth.jwt.hs256_secret: " + st.message());
    }
  }
  for (const auto& k : options.public_keys) {
    auto pem = ReadFile(k.file, "auth.jwt.public_keys file");
    if (!pem.ok()) return pem.status();
    if (Status st = a->jwt_.AddPublicKeyPem(*pem, k.kid, k.file); !st.ok()) return st;
  }
  if (!options.jwks_file.empty()) {
    auto json = ReadFile(options.jwks_file, "auth.jwt.jwks_file");
    if (!json.ok()) return json.status();
    if (Status st = a->jwt_.AddJwks(*json, options.jwks_file); !st.ok()) return st;
  }
  a->jwt_.set_options(options.jwt);
  return a;
}

std::unique_ptr<Authenticator> Authenticator::Open() {
  std::unique_ptr<Authenticator> a(new Authenticator());
  a->open_ = true;
  return a;
}

Result<std::string> Authenticator::ExtractCredential(const CredentialSources& src) const {
  if (!src.authorization.empty()) {
    std::string_view v = src.authorization;
    if (v.size() < 7 || AsciiLower(v.substr(0, 7)) != "bearer ") {
      return AuthFailure("unauthorized",
                         "the Authorization header must be 'Bearer <token or API key>'");
    }
    v.remove_prefix(7);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    if (v.empty()) return AuthFailure("unauthorized", "empty bearer credential");
    return std::string(v);
  }
  if (!src.api_key.empty()) return std::string(src.api_key);
  if (options_.query_token && !src.query_token.empty()) return std::string(src.query_token);
  // Cookie: name=value pairs separated by "; ".
  std::string_view c = src.cookie;
  while (!c.empty()) {
    size_t semi = c.find(';');
    std::string_view pair = c.substr(0, semi);
    c = semi == std::string_view::npos ? std::string_view() : c.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (pair.substr(0, eq) == options_.cookie_name) {
      std::string_view v = pair.substr(eq + 1);
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      if (!v.empty()) return std::string(v);
    }
  }
  return std::string();
}

Result<Principal> Authenticator::Authenticate(std::string_view credential, int64_t now_ms) const {
  Principal p;
  if (open_) {
    // An open hub has no keys: credentials are not checked (see docs/security.md).
    p.everything = true;
    return p;
  }
  if (credential.empty()) {
    p.subscribe = options_.anonymous_subscribe;
    return p;
  }
  if (std::count(credential.begin(), credential.end(), '.') == 2) {
    auto claims = jwt_.Verify(credential, now_ms / 1000);
    if (!claims.ok()) return claims.status();
    p.kind = Principal::Kind::kToken;
    p.subject = claims->sub;
    if (claims->exp) p.expires_at_ms = (*claims->exp + options_.jwt.leeway_s) * 1000;
    p.subscribe = std::move(claims->subscribe);
    p.publish = std::move(claims->publish);
    p.scopes = std::move(claims->scopes);
    return p;
  }
  if (credential.size() > kMaxTokenBytes) {
    return AuthFailure("unknown_api_key", "credential is too long");
  }
  const std::string hash = Sha256Hex(credential);
  const ApiKeyOptions* found = nullptr;
  for (const auto& k : options_.api_keys) {
    // Compare every key in constant time: the timing says nothing about which.
    if (CRYPTO_memcmp(k.sha256_hex.data(), hash.data(), hash.size()) == 0) found = &k;
  }
  if (!found) {
    return AuthFailure("unknown_api_key",
                       "the credential is neither a valid JWT nor a configured API key");
  }
  p.kind = Principal::Kind::kApiKey;
  p.subject = "key:" + found->name;
  p.subscribe = found->subscribe;
  p.publish = found->publish;
  p.scopes = found->scopes;
  return p;
}

OriginVerdict Authenticator::CheckOrigin(std::string_view origin, std::string_view host) const {
  if (origin.empty()) return OriginVerdict::kNoOrigin;
  const std::string o = NormalizeOrigin(origin);
  const auto& list = options_.allowed_origins;
  if (list.empty()) {
    if (open_ || loopback_) return OriginVerdict::kAnyOrigin;
    // Same origin only: the page was served by this hub.
    size_t scheme = o.find("://");
    if (scheme != std::string::npos && !host.empty() && o.substr(scheme + 3) == AsciiLower(host)) {
      return OriginVerdict::kAllowed;
    }
    return OriginVerdict::kRefused;
  }
  for (const auto& allowed : list) {
    if (allowed == "*" || allowed == o) return OriginVerdict::kAllowed;
  }
  return OriginVerdict::kRefused;
}

}  // namespace livehub
